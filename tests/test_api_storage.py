"""Where things are kept: the migrations build exactly the schema the models declare (SQLite and
PostgreSQL), local media URLs are unguessable and, with a TTL, signed and expiring, and the GCS
media backend stores and serves every file from a bucket (the real google-cloud-storage client
against gcp-storage-emulator, started here). Also /healthz and the /docs page's own answer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.app import MEDIA_SECRET, create_app
from server.auth.keys import read_or_create_secret
from server.auth.local import LocalTokens
from server.store.db import alembic_config, make_engine, migrate
from server.store.media import UrlSigner
from server.store.models import Base
from tests import api_support
from tests.api_support import Api, FakeAnalyzer, FakeCoach, fake_render_demo, make_settings
from tests.pg_server import free_port
from tests.serve_support import stop_process, wait_until_answering

api = api_support.api
database_url = api_support.database_url
postgres_server = api_support.postgres_server

S = "/api/v1/sessions"
TABLES = {"users", "sessions", "threads", "messages"}


# migrations --------------------------------------------------------------------------------------


def _schema_diff(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models."""
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def test_migrations_build_the_models_schema_and_go_down_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        assert _schema_diff(engine) == []
        assert set(inspect(engine).get_table_names()) >= TABLES
        migrate(engine)  # a second upgrade is a no-op
        cfg = alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate(engine)
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


# local media -------------------------------------------------------------------------------------


def _media_urls(api: Api, sid: str, user: str = "ana") -> list[str]:
    h = api.headers(user)
    details = api.client.get(f"{S}/{sid}", headers=h).json()
    data = api.client.get(f"{S}/{sid}/data", headers=h).json()
    images = [p["image_url"] for p in data["phase_data"].values()]
    return [details["original_video_url"], details["analyzed_video_url"], *images]


def test_media_urls_are_unguessable_and_need_no_token(api: Api) -> None:
    first, second = api.ready_session("ana"), api.ready_session("ana")
    urls = _media_urls(api, first) + _media_urls(api, second)
    prefixes = set()
    for url in urls:
        path = urlparse(url).path
        prefix = path.removeprefix("/media/").split("/")[0]
        # 18 random bytes, URL-safe base64: 24 characters, 144 bits.
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", prefix), url
        prefixes.add(prefix)
        r = api.client.get(path)  # no Authorization header: the URL is the credential
        assert r.status_code == 200 and r.content, url
    # The original and the outputs of each session, four prefixes in all, none shared.
    assert len(prefixes) == 4
    # A made-up key, a traversal and a key of the right shape that was never issued are 404.
    for path in (
        "/media/x/original.mp4",
        "/media/../liftstream.db",
        "/media/" + "A" * 24 + "/a.mp4",
    ):
        r = api.client.get(path)
        assert r.status_code == 404 and r.json()["error"] in ("media_not_found", "not_found"), path


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(tmp_path, media_url_ttl_s=60)
    analyzer = FakeAnalyzer()
    app = create_app(settings, analyze=analyzer, coach=FakeCoach(), render_demo=fake_render_demo)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, settings, LocalTokens.from_settings(settings), analyzer)


def test_signed_media_urls_expire_and_cannot_be_altered(signed: Api) -> None:
    api = signed
    sid = api.ready_session("ana")
    url = urlparse(
        api.client.get(f"{S}/{sid}", headers=api.headers("ana")).json()["analyzed_video_url"]
    )
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert set(query) == {"expires", "sig"}
    assert 50 <= int(query["expires"]) - time.time() <= 60
    assert api.client.get(f"{url.path}?{url.query}").content.startswith(b"analyzed:")

    key = url.path.removeprefix("/media/")
    secret = read_or_create_secret(api.settings.data_dir / MEDIA_SECRET)
    lapsed = UrlSigner(secret, 60).query(key, now=time.time() - 61)  # signed 61 s ago
    later = {"expires": str(int(query["expires"]) + 3600), "sig": query["sig"]}
    other = api.client.get(f"{S}/{sid}", headers=api.headers("ana")).json()["original_video_url"]
    cases = {
        "missing signature": url.path,
        "bad signature": f"{url.path}?{urlencode(later)}",  # the expiry pushed back
        "expired": f"{url.path}?{lapsed}",
        # This file's signature on another file.
        "bad signature ": f"{urlparse(other).path}?{url.query}",
    }
    for reason, path in cases.items():
        r = api.client.get(path)
        assert r.status_code == 403, (reason, r.text)
        assert r.json() == {
            "error": "invalid_media_url",
            "detail": f"media URL rejected: {reason.strip()}",
        }


# GCS media ---------------------------------------------------------------------------------------

BUCKET = "liftstream-test-media"


@pytest.fixture(scope="module")
def storage_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcp-storage-emulator on a free loopback port (in memory); its base URL."""
    exe = shutil.which("gcp-storage-emulator") or str(
        Path(sys.executable).parent / "gcp-storage-emulator"
    )
    if not Path(exe).is_file():
        pytest.skip("gcp-storage-emulator is not installed (it is in the test extra)")
    port = free_port()
    log = tmp_path_factory.mktemp("gcs") / "emulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, f"{url}/storage/v1/b", log, 30)
        yield url
    finally:
        stop_process(proc, 10)


@pytest.fixture
def gcs_api(
    tmp_path: Path, storage_emulator: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, Any]]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator)
    client = storage.Client(project="liftstream-test", credentials=AnonymousCredentials())
    bucket = client.bucket(BUCKET)
    if not bucket.exists():
        client.create_bucket(BUCKET)
    settings = make_settings(tmp_path, media_backend="gcs", gcs_bucket=BUCKET)
    analyzer = FakeAnalyzer()
    app = create_app(settings, analyze=analyzer, coach=FakeCoach(), render_demo=fake_render_demo)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield (
            Api(http, settings, LocalTokens.from_settings(settings), analyzer),
            client.bucket(BUCKET),
        )


def test_gcs_backend_keeps_every_file_in_the_bucket(gcs_api: tuple[Api, Any]) -> None:
    api, bucket = gcs_api
    video = b"gcs upload " + os.urandom(64)
    h = api.headers("ana")
    r = api.upload(h, video=video, user_id="ana")
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    assert api.wait(sid, h)["status"] == "ready"
    # The job read the original back from the bucket.
    assert api.analyzer.calls[-1]["head"] == video[:16]
    emulator = os.environ["STORAGE_EMULATOR_HOST"]
    urls = _media_urls(api, sid)
    assert len(urls) == 4
    for url in urls:
        assert url.startswith(f"{emulator}/{BUCKET}/"), url
        got = httpx.get(url)
        assert got.status_code == 200, url
        key = url.removeprefix(f"{emulator}/{BUCKET}/")
        assert got.content == bucket.blob(key).download_as_bytes()
        # This server does not serve bucket media itself.
        r = api.client.get(f"/media/{key}")
        assert r.status_code == 404 and r.json()["error"] == "media_not_found"
    assert httpx.get(urls[0]).content == video
    assert httpx.get(urls[1]).content == b"analyzed:" + video[:16]
    blobs = {b.name: b.content_type for b in bucket.list_blobs()}
    assert {name.split("/", 1)[1] for name in blobs} >= {"original.mp4", "analyzed.mp4"}
    assert blobs[urlparse(urls[1]).path.split(f"/{BUCKET}/", 1)[1]] == "video/mp4"
    # Nothing of it stayed on the server's disk: no media folder files, no job scratch.
    local = [
        p for p in api.settings.data_dir.rglob("*") if p.is_file() and p.suffix in (".mp4", ".jpg")
    ]
    assert local == []


def test_gcs_backend_needs_a_bucket(
    tmp_path: Path, storage_emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator)
    settings = make_settings(tmp_path, media_backend="gcs")
    with pytest.raises(Exception, match="LIFTSTREAM_GCS_BUCKET"), TestClient(create_app(settings)):
        pass


# health and docs ---------------------------------------------------------------------------------


def test_healthz_reports_the_database_and_the_queue(api: Api) -> None:
    body = api.client.get("/healthz").json()
    assert body == {"status": "ok", "database": "ok", "jobs_waiting": False, "auth_mode": "local"}
    store = api.client.app_state["liftstream"].store

    def down(*_args: Any) -> Any:
        raise OSError("database gone")

    store.has_queued = down
    r = api.client.get("/healthz")
    assert r.status_code == 503 and r.json()["database"] == "unavailable"


def test_docs_page_is_self_contained(api: Api) -> None:
    r = api.client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert 'fetch("/openapi.json")' in r.text
    # No resource from another host (the page must work offline).
    assert not re.search(r"""(src|href)=["']?https?://""", r.text)
