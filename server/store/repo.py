"""The Store: every database read and write the API and the job worker make, as small transactions.

Methods are synchronous (SQLAlchemy sessions are not async here); the API calls them through a
thread pool and the worker calls them from its job threads. Each method is one short transaction.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.store.db import make_engine, migrate
from server.store.models import MessageRow, SessionRow, ThreadRow, UserRow
from server.store.records import (
    MessageRecord,
    NewSession,
    SessionRecord,
    ThreadRecord,
    UserRecord,
    as_utc,
    utcnow,
)

PROFILE_FIELDS = frozenset({"display_name", "age", "weight_kg", "height_cm", "plan", "units"})


class Store:
    """Database access for users, sessions (also the job queue), threads and messages."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to `url` and apply the shipped migrations."""
        engine = make_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as db:
            yield db

    # users -----------------------------------------------------------------------------------

    def ensure_user(self, user_id: str) -> UserRecord:
        """The user's record, created with an empty profile the first time the id is seen."""
        with self._tx() as db:
            row = db.get(UserRow, user_id)
            if row is None:
                now = utcnow()
                row = UserRow(id=user_id, units="metric", created_at=now, updated_at=now)
                db.add(row)
                db.flush()
            return _user(row)

    def get_user(self, user_id: str) -> UserRecord | None:
        with self._tx() as db:
            row = db.get(UserRow, user_id)
            return None if row is None else _user(row)

    def update_profile(self, user_id: str, changes: dict[str, Any]) -> UserRecord:
        """Set the given profile fields (a subset of PROFILE_FIELDS) and return the record."""
        unknown = set(changes) - PROFILE_FIELDS
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        self.ensure_user(user_id)
        with self._tx() as db:
            row = db.get_one(UserRow, user_id)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            db.flush()
            return _user(row)

    # sessions --------------------------------------------------------------------------------

    def create_session(self, new: NewSession) -> SessionRecord:
        """Insert a queued session; the worker picks it up in creation order."""
        self.ensure_user(new.user_id)
        with self._tx() as db:
            row = SessionRow(
                id=new.session_id or uuid.uuid4().hex,
                user_id=new.user_id,
                activity=new.activity,
                kind=new.kind,
                title=new.title,
                exercise=new.exercise,
                options=dict(new.options),
                status="queued",
                progress=0.0,
                attempts=0,
                created_at=utcnow(),
                original_key=new.original_key,
                media={},
                comments={},
            )
            db.add(row)
            db.flush()
            return _session(row)

    def get_session(self, session_id: str) -> SessionRecord | None:
        with self._tx() as db:
            row = db.get(SessionRow, session_id)
            return None if row is None else _session(row)

    def list_sessions(self, user_id: str, limit: int, offset: int) -> list[SessionRecord]:
        """A user's sessions, newest first."""
        with self._tx() as db:
            rows = db.scalars(
                select(SessionRow)
                .where(SessionRow.user_id == user_id)
                .order_by(SessionRow.created_at.desc(), SessionRow.id)
                .limit(limit)
                .offset(offset)
            )
            return [_session(r) for r in rows]

    def count_sessions_since(self, user_id: str, since: datetime) -> int:
        with self._tx() as db:
            count = db.scalar(
                select(func.count())
                .select_from(SessionRow)
                .where(SessionRow.user_id == user_id, SessionRow.created_at >= since)
            )
            return int(count or 0)

    def set_original(self, session_id: str, key: str) -> None:
        with self._tx() as db:
            db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(original_key=key)
            )

    def set_comments(self, session_id: str, comments: dict[str, str]) -> None:
        with self._tx() as db:
            db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(comments=comments)
            )

    def requeue(self, session_id: str) -> None:
        """Put a failed session back in the queue (used to retry the demo session)."""
        with self._tx() as db:
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(status="queued", progress=0.0, failure_reason=None, attempts=0)
            )

    # jobs ------------------------------------------------------------------------------------

    def claim_next_job(self) -> SessionRecord | None:
        """Atomically move the oldest queued session to processing and return it (None if idle).

        The conditional UPDATE makes the claim safe if two workers race for the same row.
        """
        with self._tx() as db:
            while True:
                candidate = db.scalar(
                    select(SessionRow.id)
                    .where(SessionRow.status == "queued")
                    .order_by(SessionRow.created_at, SessionRow.id)
                    .limit(1)
                )
                if candidate is None:
                    return None
                claimed = db.execute(
                    update(SessionRow)
                    .where(SessionRow.id == candidate, SessionRow.status == "queued")
                    .values(
                        status="processing",
                        progress=0.0,
                        started_at=utcnow(),
                        attempts=SessionRow.attempts + 1,
                    )
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    db.flush()
                    return _session(db.get_one(SessionRow, candidate, populate_existing=True))

    def release_job(self, session_id: str) -> None:
        """Put a job stopped by a graceful shutdown back in the queue (not counted as an attempt)."""
        with self._tx() as db:
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.status == "processing")
                .values(status="queued", progress=0.0, attempts=SessionRow.attempts - 1)
            )

    def set_source(self, session_id: str, original_key: str, options: dict[str, Any]) -> None:
        """Record a generated original video (the demo session) and the options that fit it."""
        with self._tx() as db:
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(original_key=original_key, options=options)
            )

    def set_progress(self, session_id: str, progress: float) -> None:
        with self._tx() as db:
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.status == "processing")
                .values(progress=min(max(progress, 0.0), 1.0))
            )

    def finish_job(self, session_id: str, document: dict[str, Any], media: dict[str, str]) -> None:
        with self._tx() as db:
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(
                    status="ready",
                    progress=1.0,
                    document=document,
                    media=media,
                    failure_reason=None,
                    finished_at=utcnow(),
                )
            )

    def fail_job(self, session_id: str, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(status="failed", failure_reason=reason, finished_at=utcnow())
            )

    def recover_interrupted(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a crash: re-queue sessions left processing, or fail those tried too often.

        Returns (requeued ids, failed ids). Assumes one server per database (see jobs.py).
        """
        requeued: list[str] = []
        failed: list[str] = []
        with self._tx() as db:
            rows = db.scalars(select(SessionRow).where(SessionRow.status == "processing"))
            for row in rows:
                if row.attempts >= max_attempts:
                    row.status = "failed"
                    row.failure_reason = (
                        f"the server stopped during processing {row.attempts} times; "
                        "the original video is kept"
                    )
                    row.finished_at = utcnow()
                    failed.append(row.id)
                else:
                    row.status = "queued"
                    row.progress = 0.0
                    requeued.append(row.id)
        return requeued, failed

    def has_queued(self) -> bool:
        with self._tx() as db:
            return (
                db.scalar(select(SessionRow.id).where(SessionRow.status == "queued").limit(1))
                is not None
            )

    # threads ---------------------------------------------------------------------------------

    def create_threads(
        self, session_id: str, kind: str, units: str, first_messages: dict[str, str], author: str
    ) -> dict[str, str]:
        """One thread per topic, each opened by its generated message; returns topic -> id."""
        now = utcnow()
        ids: dict[str, str] = {}
        with self._tx() as db:
            for topic in first_messages:
                ids[topic] = f"thread_{secrets.token_hex(8)}"
                db.add(
                    ThreadRow(
                        id=ids[topic],
                        session_id=session_id,
                        kind=kind,
                        topic=topic,
                        units=units,
                        created_at=now,
                    )
                )
            db.flush()  # threads first: no ORM relationship tells the unit of work the order
            for topic, text in first_messages.items():
                db.add(
                    MessageRow(
                        thread_id=ids[topic], author=author, role="coach", text=text, created_at=now
                    )
                )
        return ids

    def get_thread(self, thread_id: str) -> ThreadRecord | None:
        with self._tx() as db:
            row = db.get(ThreadRow, thread_id)
            if row is None:
                return None
            messages = db.scalars(
                select(MessageRow).where(MessageRow.thread_id == thread_id).order_by(MessageRow.id)
            )
            return ThreadRecord(
                id=row.id,
                session_id=row.session_id,
                kind=row.kind,
                topic=row.topic,
                units=row.units,
                created_at=as_utc(row.created_at),
                messages=tuple(_message(m) for m in messages),
            )

    def add_message(self, thread_id: str, author: str, role: str, text: str) -> MessageRecord:
        with self._tx() as db:
            row = MessageRow(
                thread_id=thread_id, author=author, role=role, text=text, created_at=utcnow()
            )
            db.add(row)
            db.flush()
            return _message(row)


def _user(row: UserRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        display_name=row.display_name,
        age=row.age,
        weight_kg=row.weight_kg,
        height_cm=row.height_cm,
        plan=row.plan,
        units=row.units,
        created_at=as_utc(row.created_at),
    )


def _session(row: SessionRow) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        activity=row.activity,
        kind=row.kind,
        title=row.title,
        exercise=row.exercise,
        options=dict(row.options),
        status=row.status,  # type: ignore[arg-type]
        progress=row.progress,
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        created_at=as_utc(row.created_at),
        started_at=None if row.started_at is None else as_utc(row.started_at),
        finished_at=None if row.finished_at is None else as_utc(row.finished_at),
        original_key=row.original_key,
        media=dict(row.media),
        document=row.document,
        comments=dict(row.comments),
    )


def _message(row: MessageRow) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        thread_id=row.thread_id,
        author=row.author,
        role=row.role,
        text=row.text,
        created_at=as_utc(row.created_at),
    )
