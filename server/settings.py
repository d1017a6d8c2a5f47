"""One settings object, built from the environment and CLI flags and passed in (never global)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

AuthMode = Literal["local", "firebase"]


def default_data_dir() -> Path:
    return Path(os.environ.get("LIFTSTREAM_DATA_DIR", "data")).resolve()


def default_model_dir() -> Path:
    if "LIFTSTREAM_MODEL_DIR" in os.environ:
        return Path(os.environ["LIFTSTREAM_MODEL_DIR"]).resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (cache / "liftstream" / "models").resolve()


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start. Paths are absolute once built by from_env()."""

    data_dir: Path = field(default_factory=default_data_dir)
    model_dir: Path = field(default_factory=default_model_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    # Database URL; None means SQLite at data_dir / "liftstream.db".
    database_url: str | None = None
    # Media: "local" (data_dir / "media", served by the app) or "gcs".
    media_backend: Literal["local", "gcs"] = "local"
    gcs_bucket: str | None = None
    # Signed media URLs expire after this many seconds; 0 = unsigned unguessable URLs.
    media_url_ttl_s: int = 0
    public_base_url: str | None = None
    auth_mode: AuthMode = "local"
    firebase_project_id: str | None = None
    # Only with this set may firebase mode run with FIREBASE_AUTH_EMULATOR_HOST in the environment.
    firebase_emulator: bool = False
    # The Firebase project's web API key, handed to the web client so it can sign in (firebase mode).
    # It identifies the project to Firebase Auth; it is not a secret.
    firebase_web_api_key: str | None = None
    # "auto": heavy with a CUDA device, full on a CPU of 2+ cores, lite on one (pose.runtime).
    landmark_variant: Literal["auto", "lite", "full", "heavy"] = "auto"
    max_upload_bytes: int = 2 * 1024**3
    max_video_seconds: float = 600.0
    max_video_pixels: int = 3840 * 2160
    worker_concurrency: int = 1
    ice_servers: tuple[str, ...] = ()

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "liftstream.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if environ is None else environ)
        base = cls()
        values: dict[str, object] = {}
        if "LIFTSTREAM_DATA_DIR" in env:
            values["data_dir"] = Path(env["LIFTSTREAM_DATA_DIR"]).resolve()
        if "LIFTSTREAM_MODEL_DIR" in env:
            values["model_dir"] = Path(env["LIFTSTREAM_MODEL_DIR"]).resolve()
        if "LIFTSTREAM_HOST" in env:
            values["host"] = env["LIFTSTREAM_HOST"]
        if "LIFTSTREAM_PORT" in env:
            values["port"] = int(env["LIFTSTREAM_PORT"])
        if "LIFTSTREAM_DATABASE_URL" in env:
            values["database_url"] = env["LIFTSTREAM_DATABASE_URL"]
        if "LIFTSTREAM_MEDIA_BACKEND" in env:
            values["media_backend"] = env["LIFTSTREAM_MEDIA_BACKEND"]
        if "LIFTSTREAM_GCS_BUCKET" in env:
            values["gcs_bucket"] = env["LIFTSTREAM_GCS_BUCKET"]
        if "LIFTSTREAM_MEDIA_URL_TTL" in env:
            values["media_url_ttl_s"] = int(env["LIFTSTREAM_MEDIA_URL_TTL"])
        if "LIFTSTREAM_PUBLIC_URL" in env:
            values["public_base_url"] = env["LIFTSTREAM_PUBLIC_URL"]
        if "LIFTSTREAM_AUTH" in env:
            values["auth_mode"] = env["LIFTSTREAM_AUTH"]
        if "LIFTSTREAM_FIREBASE_PROJECT" in env:
            values["firebase_project_id"] = env["LIFTSTREAM_FIREBASE_PROJECT"]
        if env.get("LIFTSTREAM_FIREBASE_EMULATOR", "") in ("1", "true", "yes"):
            values["firebase_emulator"] = True
        if "LIFTSTREAM_FIREBASE_WEB_API_KEY" in env:
            values["firebase_web_api_key"] = env["LIFTSTREAM_FIREBASE_WEB_API_KEY"] or None
        if "LIFTSTREAM_LANDMARK_VARIANT" in env:
            values["landmark_variant"] = env["LIFTSTREAM_LANDMARK_VARIANT"]
        if "LIFTSTREAM_MAX_UPLOAD_MB" in env:
            values["max_upload_bytes"] = int(float(env["LIFTSTREAM_MAX_UPLOAD_MB"]) * 1024**2)
        if "LIFTSTREAM_WORKERS" in env:
            values["worker_concurrency"] = int(env["LIFTSTREAM_WORKERS"])
        if "LIFTSTREAM_ICE_SERVERS" in env:
            values["ice_servers"] = tuple(
                s.strip() for s in env["LIFTSTREAM_ICE_SERVERS"].split(",") if s.strip()
            )
        values.update(overrides)
        return replace(base, **values)  # type: ignore[arg-type]
