"""Sessions: create (multipart upload -> queued job), list a user's sessions, session details."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.api.context import (
    authenticate,
    context,
    db,
    load_session,
    require_self_or_admin,
)
from server.api.errors import bad_request, not_found
from server.api.params import query_bool, query_int
from server.api.present import KG_PER_LB, details, summary_item
from server.api.schemas import BLANK, JOINT_NAMES, NUMBER_PATTERN
from server.api.upload import UploadForm, read_upload_form
from server.auth.plans import LIMIT_WINDOW_DAYS, resolve_plan
from server.auth.principal import Principal, valid_user_id
from server.phases.types import Exercise
from server.store.media import new_prefix
from server.store.records import NewSession, UserRecord, utcnow

EXERCISES = tuple(e.value for e in Exercise)
JOINTS = JOINT_NAMES
DEFAULT_JOINTS = ("hip", "knee")
DEFAULT_MASS = {"metric": 100.0, "imperial": 220.0}
MASS_RANGE_KG = (1.0, 500.0)
PLATE_RANGE_MM = (100.0, 1000.0)
MAX_TITLE = 200
FORM_FIELDS = ("user_id", "title", "exercise", "barbell_mass", "joints", "plate_diameter_mm")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
# A blank value (which also matches) means the default; it is handled before the pattern.
_NUMBER = re.compile(NUMBER_PATTERN)
_TITLES = {"snatch": "Snatch", "clean": "Clean", "clean_and_jerk": "Clean and jerk"}


async def create_session(request: Request) -> JSONResponse:
    ctx = context(request)
    principal = await authenticate(request)
    if not principal.admin:
        # Refuse before reading a large body when the caller is already at their limit.
        await _check_limit(request, principal, principal.user_id)
    form = await read_upload_form(
        request,
        ctx.settings.data_dir / "uploads",
        ctx.settings.max_upload_bytes,
        known_fields=FORM_FIELDS,
    )
    try:
        new = await _validate(request, principal, form)
        assert form.file is not None
        await db(ctx.media.put_file, new.original_key, form.file.path, form.file.content_type)
    except BaseException:
        form.discard()
        raise
    session = await db(ctx.store.create_session, new)
    ctx.worker.wake()
    return JSONResponse(
        {"session_id": session.id, "title": session.title, "status": session.status}
    )


async def _check_limit(request: Request, principal: Principal, user_id: str) -> UserRecord:
    ctx = context(request)
    owner = await db(ctx.store.ensure_user, user_id)
    if principal.admin:
        return owner
    plan = resolve_plan(principal.plan, owner.plan, admin=False)
    since = utcnow() - timedelta(days=LIMIT_WINDOW_DAYS)
    used = await db(ctx.store.count_sessions_since, user_id, since)
    if used >= plan.sessions_per_window:
        raise not_found(
            "session_limit",
            f"user {user_id!r} has created {used} sessions in the last {LIMIT_WINDOW_DAYS} days, "
            f"the limit of plan {plan.name!r}",
        )
    return owner


async def _validate(request: Request, principal: Principal, form: UploadForm) -> NewSession:
    fields = form.fields
    user_id = fields.get("user_id", "").strip(BLANK)
    if not user_id:
        raise bad_request("missing_user_id", "the form field user_id is required")
    if not valid_user_id(user_id):
        raise bad_request("invalid_form", f"user_id {user_id[:140]!r} is not a valid user id")
    require_self_or_admin(principal, user_id)
    if form.file is None:
        raise bad_request("missing_video", "the form needs a file field named 'video'")
    if form.file.size == 0:
        raise bad_request("missing_video", "the uploaded video file is empty")
    exercise = fields.get("exercise", "")
    if exercise not in EXERCISES:
        raise bad_request(
            "invalid_exercise",
            f"exercise {exercise[:60]!r} must be one of {', '.join(EXERCISES)}",
        )
    owner = await _check_limit(request, principal, user_id)
    units = owner.units if owner.units in DEFAULT_MASS else "metric"
    options: dict[str, Any] = {
        "exercise": exercise,
        "barbell_mass_kg": _barbell_mass_kg(fields.get("barbell_mass"), units),
        "joints": _joints(fields.get("joints")),
        "plate_diameter_m": _plate_diameter_m(fields.get("plate_diameter_mm")),
        "units": units,
        "lifter_height_m": None if owner.height_cm is None else owner.height_cm / 100.0,
        "body_mass_kg": owner.weight_kg,
        "render": True,
    }
    raw_title = fields.get("title", "")
    if len(raw_title) > MAX_TITLE:
        raise bad_request(
            "invalid_form", f"title is {len(raw_title)} characters; at most {MAX_TITLE}"
        )
    title = raw_title.strip(BLANK)
    if not title:
        title = f"{_TITLES[exercise]} {utcnow():%d/%m/%Y}"
    assert form.file is not None
    suffix = Path(form.file.filename).suffix.lower()
    suffix = suffix if suffix in VIDEO_SUFFIXES else ".mp4"
    return NewSession(
        user_id=user_id,
        title=title,
        exercise=exercise,
        options=options,
        original_key=f"{new_prefix()}/original{suffix}",
    )


def _barbell_mass_kg(raw: str | None, units: str) -> float:
    """barbell_mass is a numeric string in the owner's units (kg or lb); default 100 kg / 220 lb."""
    if raw is None or not raw.strip(BLANK):
        value = DEFAULT_MASS[units]
    elif _NUMBER.fullmatch(raw):
        value = float(raw)
    else:
        raise bad_request(
            "invalid_barbell_mass", f"barbell_mass {raw[:40]!r} is not a numeric string like '100'"
        )
    kg = value * KG_PER_LB if units == "imperial" else value
    lo, hi = MASS_RANGE_KG
    if not lo <= kg <= hi:
        unit = "lb" if units == "imperial" else "kg"
        raise bad_request(
            "invalid_barbell_mass",
            f"barbell_mass {value:g} {unit} is outside {lo:g}-{hi:g} kg",
        )
    return round(kg, 3)


def _joints(raw: str | None) -> list[str]:
    if raw is None or not raw.strip(BLANK):
        return list(DEFAULT_JOINTS)
    names = [j.strip(BLANK) for j in raw.split(",")]
    bad = [j for j in names if j not in JOINTS]
    if bad:
        raise bad_request(
            "invalid_joints",
            f"joints {', '.join(repr(b[:20]) for b in bad[:5])} not in {', '.join(JOINTS)}",
        )
    return list(dict.fromkeys(names))


def _plate_diameter_m(raw: str | None) -> float:
    if raw is None or not raw.strip(BLANK):
        return 0.45
    lo, hi = PLATE_RANGE_MM
    if not _NUMBER.fullmatch(raw) or not lo <= float(raw) <= hi:
        raise bad_request(
            "invalid_form", f"plate_diameter_mm {raw[:40]!r} must be a number from {lo:g} to {hi:g}"
        )
    return float(raw) / 1000.0


async def get_session(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    demo = query_bool(request, "demo")
    session = await load_session(request, principal, request.path_params["session_id"], demo=demo)
    user = await db(context(request).store.get_user, session.user_id)
    return JSONResponse(details(request, session, user))


async def list_sessions(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    user_id = request.query_params.get("user_id", principal.user_id)
    if not valid_user_id(user_id):
        raise bad_request("invalid_parameter", f"user_id {user_id[:140]!r} is not a valid user id")
    require_self_or_admin(principal, user_id)
    limit = query_int(request, "limit", 50, 1, 200)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    sessions = await db(context(request).store.list_sessions, user_id, limit, offset)
    return JSONResponse(
        {
            "user_id": user_id,
            "sessions": [summary_item(s) for s in sessions],
            "limit": limit,
            "offset": offset,
        }
    )
