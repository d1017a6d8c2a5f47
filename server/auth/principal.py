"""Who is calling: the verified identity every verifier returns, and the token errors they raise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from server.errors import LiftStreamError

USER_ID = re.compile(r"^[A-Za-z0-9_.@:+-]{1,128}$")

TokenProblem = Literal["missing", "malformed", "expired", "bad_signature", "invalid", "revoked"]


class TokenError(LiftStreamError):
    """A bearer token was missing or failed verification; the API answers 401."""

    def __init__(self, problem: TokenProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


@dataclass(frozen=True)
class Principal:
    """A verified caller. plan is the token's plan claim (None: use the profile's plan)."""

    user_id: str
    admin: bool
    plan: str | None
    source: Literal["local", "firebase"]

    def __post_init__(self) -> None:
        if not valid_user_id(self.user_id):
            raise TokenError(
                "invalid", f"token subject {self.user_id[:140]!r} is not a valid user id"
            )


class Verifier(Protocol):
    """Turns a bearer token into a Principal or raises TokenError."""

    async def verify(self, token: str) -> Principal: ...

    def close(self) -> None: ...


def valid_user_id(value: str) -> bool:
    # fullmatch: with match, "$" would also let a trailing newline through ("ana\n" != "ana").
    return USER_ID.fullmatch(value) is not None
