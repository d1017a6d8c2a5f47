"""Firebase mode: verify Firebase ID tokens with firebase-admin (signature, expiry, revocation).

admin = custom claim `admin: true`; plan = custom claim `plan` (else the profile's plan).
With FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin accepts unsigned, hand-forged tokens, so
the verifier refuses to exist then unless emulator mode was asked for explicitly.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Mapping

import jwt

from server.auth.principal import Principal, TokenError, TokenProblem
from server.errors import LiftStreamError

log = logging.getLogger(__name__)

EMULATOR_ENV = "FIREBASE_AUTH_EMULATOR_HOST"
_app_names = itertools.count()


class FirebaseVerifier:
    """One firebase-admin app per verifier; verify_id_token runs in a thread (it may fetch keys)."""

    def __init__(
        self,
        project_id: str | None,
        *,
        emulator: bool,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        emulator_host = env.get(EMULATOR_ENV)
        if emulator_host and not emulator:
            raise LiftStreamError(
                f"refusing to start in firebase auth mode: {EMULATOR_ENV}={emulator_host} is set, "
                "and with it firebase-admin accepts forged, unsigned tokens. Unset it, or set "
                "LIFTSTREAM_FIREBASE_EMULATOR=1 if this really is a test against the emulator."
            )
        if emulator and emulator_host:
            log.warning(
                "FIREBASE EMULATOR MODE (%s=%s): tokens are NOT cryptographically verified; "
                "never use this mode in production",
                EMULATOR_ENV,
                emulator_host,
            )
        project = resolve_project(project_id, env)
        import firebase_admin

        self.project_id = project
        self._app = firebase_admin.initialize_app(
            options={"projectId": project}, name=f"liftstream-{os.getpid()}-{next(_app_names)}"
        )

    async def verify(self, token: str) -> Principal:
        _check_unverified(token)
        return await asyncio.to_thread(self._verify, token)

    def _verify(self, token: str) -> Principal:
        from firebase_admin import auth

        try:
            claims = auth.verify_id_token(token, app=self._app, check_revoked=True)
        except auth.ExpiredIdTokenError as exc:
            raise TokenError("expired", "the Firebase ID token has expired; refresh it") from exc
        except auth.RevokedIdTokenError as exc:
            raise TokenError("revoked", "the Firebase ID token has been revoked") from exc
        except auth.UserDisabledError as exc:
            raise TokenError("invalid", "the Firebase user is disabled") from exc
        except auth.UserNotFoundError as exc:
            raise TokenError("invalid", "the Firebase user no longer exists") from exc
        except auth.InvalidIdTokenError as exc:
            problem: TokenProblem = (
                "bad_signature" if "signature" in str(exc).lower() else "invalid"
            )
            raise TokenError(problem, f"the Firebase ID token was rejected: {exc}") from exc
        except ValueError as exc:
            raise TokenError("malformed", f"the Firebase ID token is malformed: {exc}") from exc
        plan = claims.get("plan")
        return Principal(
            user_id=str(claims["uid"]),
            admin=claims.get("admin") is True,
            plan=plan if isinstance(plan, str) else None,
            source="firebase",
        )

    def close(self) -> None:
        import firebase_admin

        firebase_admin.delete_app(self._app)


def resolve_project(project_id: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The Firebase project id: the setting, else GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT.

    Without one every verification fails, so firebase mode refuses to start rather than answer
    each request with a 401 that blames the caller's token. (firebase-admin could look further,
    in default credentials, but that may probe the network.)
    """
    env = os.environ if environ is None else environ
    project = project_id or env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCLOUD_PROJECT")
    if not project:
        raise LiftStreamError(
            "firebase auth mode needs the Firebase project id: set LIFTSTREAM_FIREBASE_PROJECT "
            "(or GOOGLE_CLOUD_PROJECT)"
        )
    return project


def _check_unverified(token: str) -> None:
    """Reject, before asking firebase-admin, what is not a JWT (401 'malformed') or has expired.

    The expiry check is ours because firebase-admin skips it against the emulator (it returns the
    emulator's unsigned payload as it is), and so that an expired token reads as expired rather
    than revoked. Rejecting on unverified claims is safe: nothing is accepted here.
    """
    try:
        jwt.get_unverified_header(token)
        jwt.decode(
            token,
            options={"verify_signature": False, "verify_exp": True, "require": ["exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("expired", "the Firebase ID token has expired; refresh it") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError("invalid", "the Firebase ID token has no expiry (exp) claim") from exc
    except jwt.DecodeError as exc:
        raise TokenError("malformed", "the bearer token is not a well-formed JWT") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid", f"the Firebase ID token was rejected: {exc}") from exc
