"""Local mode: HS256 bearer tokens minted by `liftstream token create`, secret in the data folder.

Claims: sub (user id), iss "liftstream-local", iat, exp, and optionally admin (true) and plan.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import jwt

from server.auth.keys import read_or_create_secret
from server.auth.plans import PLANS
from server.auth.principal import Principal, TokenError, valid_user_id
from server.errors import InvalidInputError
from server.settings import Settings

ISSUER = "liftstream-local"
ALGORITHM = "HS256"
SECRET_FILE = "auth-secret"
MAX_DAYS = 3660.0


def secret_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


class LocalTokens:
    """Mints and verifies local tokens with one shared secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise InvalidInputError(f"token secret of {len(secret)} bytes is too short (need 32)")
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalTokens:
        return cls(read_or_create_secret(secret_path(settings)))

    def mint(
        self,
        user_id: str,
        *,
        admin: bool = False,
        plan: str | None = None,
        days: float = 30.0,
        now: float | None = None,
    ) -> str:
        """A token for `user_id` valid for `days` days from `now` (Unix seconds)."""
        if not valid_user_id(user_id):
            raise InvalidInputError(
                f"user id {user_id!r}: use 1-128 letters, digits or . _ @ : + -"
            )
        if plan is not None and plan not in PLANS:
            raise InvalidInputError(f"plan {plan!r} is not one of {sorted(PLANS)}")
        if not 0 < days <= MAX_DAYS:
            raise InvalidInputError(f"--days {days} must be > 0 and <= {MAX_DAYS:.0f}")
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "sub": user_id,
            "iss": ISSUER,
            "iat": issued,
            "exp": issued + int(days * 86400),
        }
        if admin:
            claims["admin"] = True
        if plan is not None:
            claims["plan"] = plan
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        """The token's principal, or TokenError saying exactly what is wrong with it."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "iss", "iat", "exp"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("expired", "the token has expired; mint a new one") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("bad_signature", "the token signature does not verify") from exc
        except jwt.DecodeError as exc:
            raise TokenError("malformed", "the bearer token is not a well-formed JWT") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("invalid", f"the token was rejected: {exc}") from exc
        plan = claims.get("plan")
        return Principal(
            user_id=str(claims["sub"]),
            admin=claims.get("admin") is True,
            plan=plan if isinstance(plan, str) else None,
            source="local",
        )


class LocalVerifier:
    """The Verifier for local mode (verification is pure CPU and fast: no thread needed)."""

    def __init__(self, tokens: LocalTokens) -> None:
        self.tokens = tokens

    async def verify(self, token: str) -> Principal:
        return self.tokens.verify(token)

    def close(self) -> None:
        return None


def cli_token(settings: Settings, args: argparse.Namespace) -> int:
    """`liftstream token create --user U [--admin] [--plan P] [--days N]`: print a token."""
    if args.token_command != "create":
        raise InvalidInputError(f"unknown token command {args.token_command!r}")
    tokens = LocalTokens.from_settings(settings)
    print(tokens.mint(args.user, admin=args.admin, plan=args.plan, days=args.days))
    return 0
