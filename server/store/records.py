"""Plain frozen records the store hands out, so no ORM object escapes a database session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SessionStatus = Literal["queued", "processing", "ready", "failed"]
STATUSES: tuple[SessionStatus, ...] = ("queued", "processing", "ready", "failed")
ACTIVITY = "Weightlifting"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything is stored as UTC, so label it so."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class UserRecord:
    """A user and their profile; weight in kg, height in cm, units 'metric' or 'imperial'."""

    id: str
    display_name: str | None
    age: int | None
    weight_kg: float | None
    height_cm: float | None
    plan: str | None
    units: str
    created_at: datetime


@dataclass(frozen=True)
class NewSession:
    """What creating a session stores; `options` are the analysis options (SI units)."""

    user_id: str
    title: str
    exercise: str
    options: dict[str, Any]
    original_key: str | None
    kind: str = "upload"
    activity: str = ACTIVITY
    session_id: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    """A session row. progress is 0..1; media maps output paths to media storage keys."""

    id: str
    user_id: str
    activity: str
    kind: str
    title: str
    exercise: str
    options: dict[str, Any]
    status: SessionStatus
    progress: float
    failure_reason: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    original_key: str | None
    media: dict[str, str]
    document: dict[str, Any] | None
    comments: dict[str, str]


@dataclass(frozen=True)
class MessageRecord:
    id: int
    thread_id: str
    author: str
    role: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class ThreadRecord:
    id: str
    session_id: str
    kind: str
    topic: str
    units: str
    created_at: datetime
    messages: tuple[MessageRecord, ...] = field(default=())
