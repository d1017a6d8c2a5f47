"""Create / list / details: every status the seed gives for 'create session', for its reason."""

from __future__ import annotations

import pytest

from server.api.present import KG_PER_LB
from tests import api_support
from tests.api_support import Api

api = api_support.api
database_url = api_support.database_url
postgres_server = api_support.postgres_server


def test_create_returns_id_at_once_and_the_job_finishes(api: Api) -> None:
    h = api.headers("ana")
    r = api.upload(
        h, user_id="ana", title="Heavy single", barbell_mass="120", joints="ankle,knee,hip"
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "Heavy single" and body["status"] == "queued"
    details = api.wait(body["session_id"], h)
    assert details["status"] == "ready" and details["progress"] == 1.0
    assert details["barbell_mass"] == 120.0
    assert details["joints"] == ["ankle", "knee", "hip"]
    assert details["activity"] == "Weightlifting" and details["exercise"] == "snatch"
    options = api.analyzer.calls[-1]["options"]
    assert options["barbell_mass_kg"] == 120.0 and options["joints"] == ["ankle", "knee", "hip"]


def test_defaults_title_mass_and_joints(api: Api) -> None:
    h = api.headers("ana")
    r = api.upload(h, user_id="ana", exercise="clean_and_jerk")
    assert r.status_code == 200
    assert r.json()["title"].startswith("Clean and jerk ")
    api.wait(r.json()["session_id"], h)
    options = api.analyzer.calls[-1]["options"]
    assert options["barbell_mass_kg"] == 100.0
    assert options["joints"] == ["hip", "knee"]
    assert options["exercise"] == "clean_and_jerk"


def test_imperial_user_mass_defaults_to_220_lb_and_is_read_in_lb(api: Api) -> None:
    h = api.headers("bob")
    assert (
        api.client.put(
            "/api/v1/users/bob/profile", headers=h, json={"measurement_system": "imperial"}
        ).status_code
        == 200
    )
    first = api.upload(h, user_id="bob").json()["session_id"]
    api.wait(first, h)
    assert api.analyzer.calls[-1]["options"]["barbell_mass_kg"] == pytest.approx(
        220 * KG_PER_LB, abs=1e-3
    )
    second = api.upload(h, user_id="bob", barbell_mass="135").json()["session_id"]
    details = api.wait(second, h)
    assert api.analyzer.calls[-1]["options"]["barbell_mass_kg"] == pytest.approx(
        135 * KG_PER_LB, abs=1e-3
    )
    assert details["barbell_mass"] == 135.0 and details["measurement_system"] == "imperial"


def test_400_missing_user_id(api: Api) -> None:
    r = api.upload(api.headers("ana"))
    assert r.status_code == 400 and r.json()["error"] == "missing_user_id"


@pytest.mark.parametrize("video", [None, b""], ids=["no-file", "empty-file"])
def test_400_missing_video(api: Api, video: bytes | None) -> None:
    r = api.upload(api.headers("ana"), video=video, user_id="ana")
    assert r.status_code == 400 and r.json()["error"] == "missing_video"


def test_400_invalid_form_not_multipart(api: Api) -> None:
    r = api.client.post(
        "/api/v1/sessions",
        headers=api.headers("ana"),
        data={"user_id": "ana", "exercise": "snatch"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_form"


def test_400_invalid_form_truncated_multipart(api: Api) -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="user_id"\r\n\r\nana\r\n--XyZ\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\n\r\nsome bytes'
    h = {**api.headers("ana"), "Content-Type": "multipart/form-data; boundary=XyZ"}
    r = api.client.post("/api/v1/sessions", headers=h, content=body)
    assert r.status_code == 400 and r.json()["error"] == "invalid_form"


def test_400_invalid_form_duplicate_field_and_long_title(api: Api) -> None:
    h = api.headers("ana")
    r = api.client.post(
        "/api/v1/sessions",
        headers=h,
        data={"user_id": ["ana", "bob"], "exercise": "snatch"},
        files={"video": ("a.mp4", b"v", "video/mp4")},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_form"
    r = api.upload(h, user_id="ana", title="t" * 201)
    assert (
        r.status_code == 400 and r.json()["error"] == "invalid_form" and "201" in r.json()["detail"]
    )


@pytest.mark.parametrize("exercise", ["deadlift", "", "Snatch"])
def test_400_bad_exercise(api: Api, exercise: str) -> None:
    r = api.upload(api.headers("ana"), user_id="ana", exercise=exercise)
    assert r.status_code == 400 and r.json()["error"] == "invalid_exercise"


@pytest.mark.parametrize("mass", ["heavy", "-5", "1e3", "0", "9999", "nan", "100kg"])
def test_400_bad_mass(api: Api, mass: str) -> None:
    r = api.upload(api.headers("ana"), user_id="ana", barbell_mass=mass)
    assert r.status_code == 400 and r.json()["error"] == "invalid_barbell_mass"
    assert "barbell_mass" in r.json()["detail"]


@pytest.mark.parametrize("joints", ["neck", "knee,,hip", "knee;hip"])
def test_400_bad_joints(api: Api, joints: str) -> None:
    r = api.upload(api.headers("ana"), user_id="ana", joints=joints)
    assert r.status_code == 400 and r.json()["error"] == "invalid_joints"


def test_bad_request_leaves_no_stored_file(api: Api) -> None:
    api.upload(api.headers("ana"), user_id="ana", exercise="curl")
    media = api.settings.media_dir
    assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True
    assert not any((api.settings.data_dir / "uploads").glob("*"))


def test_401_without_token(api: Api) -> None:
    r = api.upload({}, user_id="ana")
    assert r.status_code == 401 and r.json()["error"] == "missing_token"
    assert r.headers["www-authenticate"] == "Bearer"


def test_403_non_admin_for_another_user(api: Api) -> None:
    r = api.upload(api.headers("ana"), user_id="bob")
    assert r.status_code == 403 and r.json()["error"] == "not_admin"


def test_admin_creates_for_another_user(api: Api) -> None:
    admin = api.headers("coach", admin=True, plan=None)
    r = api.upload(admin, user_id="bob")
    assert r.status_code == 200
    details = api.wait(r.json()["session_id"], admin)
    assert details["user_id"] == "bob"
    listed = api.client.get("/api/v1/sessions?user_id=bob", headers=api.headers("bob")).json()
    assert [s["session_id"] for s in listed["sessions"]] == [r.json()["session_id"]]


def test_404_session_limit_of_the_free_plan(api: Api) -> None:
    h = api.headers("ana", plan=None)  # no plan anywhere: free, 5 sessions per 30 days
    for _ in range(5):
        assert api.upload(h, user_id="ana").status_code == 200
    r = api.upload(h, user_id="ana")
    assert r.status_code == 404 and r.json()["error"] == "session_limit"
    assert "'free'" in r.json()["detail"]
    # A plan from the profile (set by an admin) lifts the limit.
    admin = api.headers("root", admin=True)
    api.client.put("/api/v1/users/ana/profile", headers=admin, json={"plan": "basic"})
    assert api.upload(h, user_id="ana").status_code == 200


def test_413_when_declared_length_exceeds_limit(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from server.app import create_app
    from tests.api_support import FakeAnalyzer, FakeCoach, fake_render_demo, make_settings

    settings = make_settings(tmp_path, database_url, max_upload_bytes=50_000)
    app = create_app(
        settings, analyze=FakeAnalyzer(), coach=FakeCoach(), render_demo=fake_render_demo
    )
    with TestClient(app) as client:
        from server.auth.local import LocalTokens

        h = {
            "Authorization": f"Bearer {LocalTokens.from_settings(settings).mint('ana', plan='pro')}"
        }
        r = client.post(
            "/api/v1/sessions",
            headers=h,
            data={"user_id": "ana", "exercise": "snatch"},
            files={"video": ("a.mp4", b"v" * 60_000, "video/mp4")},
        )
        assert r.status_code == 413
        assert r.json()["error"] == "upload_too_large" and "50000 bytes" in r.json()["detail"]

        def chunks():  # type: ignore[no-untyped-def]
            yield b'--B\r\nContent-Disposition: form-data; name="user_id"\r\n\r\nana\r\n'
            yield b'--B\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\n\r\n'
            for _ in range(10):
                yield b"v" * 10_000
            yield b"\r\n--B--\r\n"

        hc = {**h, "Content-Type": "multipart/form-data; boundary=B"}
        r = client.post("/api/v1/sessions", headers=hc, content=chunks())
        assert r.status_code == 413 and r.json()["error"] == "upload_too_large"
        assert not any((settings.data_dir / "uploads").glob("*"))
        assert client.get("/api/v1/sessions", headers=h).json()["sessions"] == []


def test_failed_analysis_is_reported_with_its_reason(api: Api) -> None:
    h = api.headers("ana")
    sid = api.upload(h, video=b"NOLIFT clip", user_id="ana").json()["session_id"]
    details = api.wait(sid, h)
    assert details["status"] == "failed"
    assert "no barbell lift" in details["failure_reason"]
    r = api.client.get(f"/api/v1/sessions/{sid}/data", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "session_failed"
    # The original is kept for a later retry.
    assert api.client.get(details["original_video_url"]).content == b"NOLIFT clip"


def test_internal_analysis_error_does_not_leak(api: Api) -> None:
    h = api.headers("ana")
    sid = api.upload(h, video=b"CRASH", user_id="ana").json()["session_id"]
    details = api.wait(sid, h)
    assert details["status"] == "failed"
    assert (
        "passwd" not in details["failure_reason"] and "internal error" in details["failure_reason"]
    )


def test_list_sessions_newest_first_with_paging(api: Api) -> None:
    h = api.headers("ana")
    ids = [api.upload(h, user_id="ana", title=f"t{i}").json()["session_id"] for i in range(3)]
    listed = api.client.get("/api/v1/sessions", headers=h).json()
    assert [s["session_id"] for s in listed["sessions"]] == ids[::-1]
    page = api.client.get("/api/v1/sessions?limit=1&offset=1", headers=h).json()
    assert [s["session_id"] for s in page["sessions"]] == [ids[1]]
    assert api.client.get("/api/v1/sessions?limit=0", headers=h).status_code == 400
    assert api.client.get("/api/v1/sessions?user_id=bob", headers=h).status_code == 403


def test_the_analysis_runs_at_a_lower_cpu_priority_than_the_server(api: Api) -> None:
    """Job threads are niced (server/jobs.py), so live streams keep the CPU on a busy machine."""
    import os
    import threading

    from server.jobs import JOB_NICENESS

    h = api.headers("ana")
    r = api.upload(h, user_id="ana")
    assert api.wait(r.json()["session_id"], h)["status"] == "ready"
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert api.analyzer.calls[-1]["nice"] == min(19, ours + JOB_NICENESS)
