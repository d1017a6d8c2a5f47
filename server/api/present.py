"""Turn stored records into the response bodies: details, session data, user information.

The analysis document keeps relative media paths ("phases/catch.jpg"); they become public URLs
here, at read time, so signed URLs are fresh and follow the caller's origin.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request

from server.api.context import base_url, context
from server.store.records import SessionRecord, UserRecord

KG_PER_LB = 0.45359237
CM_PER_IN = 2.54
ORIGINAL = "original"
ANALYZED = "analyzed.mp4"


def session_date(session: SessionRecord) -> str:
    """The seed's date format, e.g. '18/05/2025' (UTC day of creation)."""
    return session.created_at.strftime("%d/%m/%Y")


def mass_in(units: str, kg: float) -> float:
    return round(kg / KG_PER_LB, 1) if units == "imperial" else round(kg, 1)


def user_information(user: UserRecord | None, units: str) -> dict[str, Any]:
    """display_name, age, weight (kg | lb), height (cm | in) from the profile; null when unset."""
    if user is None:
        return {"display_name": None, "age": None, "weight": None, "height": None}
    weight = None if user.weight_kg is None else mass_in(units, user.weight_kg)
    height = user.height_cm
    if height is not None:
        height = round(height / CM_PER_IN, 1) if units == "imperial" else round(height, 1)
    return {"display_name": user.display_name, "age": user.age, "weight": weight, "height": height}


def media_url(request: Request, session: SessionRecord, name: str) -> str | None:
    key = session.original_key if name == ORIGINAL else session.media.get(name)
    if key is None:
        return None
    return context(request).media.url(key, base_url(request))


def session_units(session: SessionRecord) -> str:
    units = session.options.get("units", "metric")
    return units if units in ("metric", "imperial") else "metric"


def details(request: Request, session: SessionRecord, user: UserRecord | None) -> dict[str, Any]:
    units = session_units(session)
    document = session.document or {}
    mass_kg = session.options.get("barbell_mass_kg")
    return {
        "session_id": session.id,
        "title": session.title,
        "exercise": session.exercise,
        "activity": session.activity,
        "user_id": session.user_id,
        "user_name": user.display_name if user else None,
        "status": session.status,
        "progress": round(session.progress, 4),
        "failure_reason": session.failure_reason,
        "created_at": session.created_at.isoformat(),
        "session_date": session_date(session),
        "measurement_system": units,
        "barbell_mass": None if mass_kg is None else mass_in(units, float(mass_kg)),
        "joints": list(session.options.get("joints", [])),
        "demo": session.kind == "demo",
        "original_video_url": media_url(request, session, ORIGINAL),
        "analyzed_video_url": media_url(request, session, ANALYZED),
        "timestamps": list(document.get("timestamps", [])),
    }


def summary_item(session: SessionRecord) -> dict[str, Any]:
    """One row of the session list."""
    return {
        "session_id": session.id,
        "title": session.title,
        "exercise": session.exercise,
        "activity": session.activity,
        "status": session.status,
        "progress": round(session.progress, 4),
        "created_at": session.created_at.isoformat(),
        "session_date": session_date(session),
    }


def session_data(
    request: Request, session: SessionRecord, document: dict[str, Any], user: UserRecord | None
) -> dict[str, Any]:
    """The seed's session-data document: the analysis plus user_information, date and comments."""
    data = copy.deepcopy(document)
    for event in (data.get("phase_data") or {}).values():
        if isinstance(event, dict) and isinstance(event.get("image_url"), str):
            event["image_url"] = media_url(request, session, event["image_url"])
    data.setdefault("exercise", session.exercise)
    data.setdefault("timestamps", [])
    data["session_id"] = session.id
    data["activity"] = session.activity
    data["user_information"] = user_information(user, session_units(session))
    data["session_date"] = session_date(session)
    data["comments"] = dict(session.comments)
    data["analyzed_video_url"] = media_url(request, session, ANALYZED)
    data["original_video_url"] = media_url(request, session, ORIGINAL)
    return data
