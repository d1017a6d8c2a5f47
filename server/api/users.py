"""User profiles: display name, age, weight, height, unit system and plan (feeds user_information).

Users read and edit their own profile; admins any profile. Only admins may change `plan`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.api.context import authenticate, context, db, require_self_or_admin
from server.api.errors import bad_request, forbidden
from server.api.params import UNITS, json_body
from server.api.schemas import BLANK
from server.auth.plans import PLANS, resolve_plan
from server.auth.principal import Principal, valid_user_id
from server.store.records import UserRecord

# field -> (store column, lower bound, upper bound) for the numbers
_NUMBERS = {
    "age": ("age", 5, 120),
    "weight_kg": ("weight_kg", 20.0, 400.0),
    "height_cm": ("height_cm", 80.0, 260.0),
}
EDITABLE = ("display_name", "age", "weight_kg", "height_cm", "measurement_system", "plan")


def _profile(user: UserRecord, principal: Principal) -> dict[str, Any]:
    token_plan = principal.plan if principal.user_id == user.id else None
    effective = resolve_plan(
        token_plan, user.plan, admin=principal.admin and principal.user_id == user.id
    )
    return {
        "user_id": user.id,
        "display_name": user.display_name,
        "age": user.age,
        "weight_kg": user.weight_kg,
        "height_cm": user.height_cm,
        "measurement_system": user.units,
        "plan": user.plan,
        "effective_plan": effective.name,
    }


def _user_id(request: Request, principal: Principal) -> str:
    user_id = str(request.path_params["user_id"])
    if not valid_user_id(user_id):
        raise bad_request("invalid_parameter", f"user_id {user_id[:140]!r} is not a valid user id")
    require_self_or_admin(principal, user_id)
    return user_id


async def get_profile(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    user = await db(context(request).store.ensure_user, _user_id(request, principal))
    return JSONResponse(_profile(user, principal))


async def update_profile(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    user_id = _user_id(request, principal)
    body = await json_body(request, required=True)
    changes = _validate(body)
    if "plan" in changes and not principal.admin:
        raise forbidden("not_admin", "only an admin may change a user's plan")
    if "measurement_system" in changes:
        changes["units"] = changes.pop("measurement_system")
    user = await db(context(request).store.update_profile, user_id, changes)
    return JSONResponse(_profile(user, principal))


def _validate(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        raise bad_request(
            "invalid_body", f"unknown profile fields {unknown}; editable: {list(EDITABLE)}"
        )
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if value is None and name != "measurement_system":
            changes[name] = None
        elif name == "display_name":
            if not isinstance(value, str) or len(value) > 200 or not value.strip(BLANK):
                raise bad_request(
                    "invalid_body",
                    "display_name must be a string of 1-200 characters, not all blank",
                )
            changes[name] = value.strip(BLANK)
        elif name == "measurement_system":
            if value not in UNITS:
                raise bad_request(
                    "invalid_body", f"measurement_system {value!r}: 'metric' or 'imperial'"
                )
            changes[name] = value
        elif name == "plan":
            if not isinstance(value, str) or value not in PLANS:
                raise bad_request("invalid_body", f"plan {value!r} is not one of {sorted(PLANS)}")
            changes[name] = value
        else:
            column, lo, hi = _NUMBERS[name]
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            # JSON has one number type: 28.0 is an integer age (JSON Schema agrees), 28.5 is not.
            whole = is_number and (isinstance(value, int) or float(value).is_integer())
            if not is_number or not lo <= value <= hi or (name == "age" and not whole):
                raise bad_request(
                    "invalid_body", f"{name} {value!r} must be a number from {lo} to {hi}"
                )
            changes[column] = int(value) if name == "age" else value
    return changes
