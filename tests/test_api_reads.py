"""Details, data, report, threads and summary: 200s, plan gates and every seed error status."""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.store.records import NewSession
from tests import api_support
from tests.api_support import METRICS, Api

api = api_support.api
database_url = api_support.database_url
postgres_server = api_support.postgres_server

S = "/api/v1/sessions"
GETS = ["", "/data", "/report", "/summary"]
POSTS = ["/comment-threads", "/summary-threads"]


def call(api: Api, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    return api.client.request(method, path, headers=headers, **kw)


def test_details_and_data_of_a_ready_session(api: Api) -> None:
    h = api.headers("ana")
    api.client.put(
        "/api/v1/users/ana/profile",
        headers=h,
        json={"display_name": "Ana Lift", "age": 28, "weight_kg": 75, "height_cm": 178},
    )
    sid = api.ready_session("ana", barbell_mass="80")
    details = api.client.get(f"{S}/{sid}", headers=h).json()
    assert details["user_name"] == "Ana Lift"
    assert details["timestamps"] == [0.0, 0.0333, 0.0667, 0.1, 0.1333]
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", details["session_date"])
    data = api.client.get(f"{S}/{sid}/data", headers=h).json()
    assert data["activity"] == "Weightlifting" and data["exercise"] == "snatch"
    assert data["user_information"] == {
        "display_name": "Ana Lift",
        "age": 28,
        "weight": 75.0,
        "height": 178.0,
    }
    assert data["comments"] == {}
    # The fake analysis scales its series by the barbell mass it was given: the options arrived.
    assert data["key_metrics"]["power_output"][0] == 80.0
    assert set(data["joint_angles"]) == {"hip_angle", "knee_angle"}
    # Media URLs are absolute, unguessable and served without a token.
    for event in ("start_of_lifting", "first_pull_end"):
        url = data["phase_data"][event]["image_url"]
        assert re.search(r"/media/[A-Za-z0-9_-]{24}/phases/" + event + r"\.jpg$", url)
        r = api.client.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content.endswith(event.encode())
    video = api.client.get(details["analyzed_video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    original = api.client.get(details["original_video_url"], headers={"Range": "bytes=0-3"})
    assert original.status_code == 206 and original.content == b"fake"


def test_imperial_profile_reads_back_in_lb_and_in(api: Api) -> None:
    h = api.headers("bob")
    api.client.put(
        "/api/v1/users/bob/profile",
        headers=h,
        json={"measurement_system": "imperial", "weight_kg": 100, "height_cm": 254},
    )
    sid = api.ready_session("bob")
    info = api.client.get(f"{S}/{sid}/data", headers=h).json()["user_information"]
    assert info["weight"] == pytest.approx(220.5, abs=0.05) and info["height"] == 100.0


def test_data_404_while_not_ready(api: Api) -> None:
    h = api.headers("ana")
    sid = api.upload(h, video=b"SLOW0030", user_id="ana").json()["session_id"]
    r = api.client.get(f"{S}/{sid}/data", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "session_not_ready"
    progress = [api.client.get(f"{S}/{sid}", headers=h).json()["progress"]]
    while api.client.get(f"{S}/{sid}", headers=h).json()["status"] != "ready":
        progress.append(api.client.get(f"{S}/{sid}", headers=h).json()["progress"])
    assert any(0 < p < 1 for p in progress), progress
    assert progress == sorted(progress)


@pytest.mark.parametrize("suffix", GETS)
def test_404_unknown_session(api: Api, suffix: str) -> None:
    r = api.client.get(f"{S}/no-such-session{suffix}", headers=api.headers("ana"))
    assert r.status_code == 404 and r.json()["error"] == "session_not_found"


@pytest.mark.parametrize("suffix", POSTS)
def test_404_unknown_session_threads(api: Api, suffix: str) -> None:
    r = api.client.post(f"{S}/no-such-session{suffix}", headers=api.headers("ana"))
    assert r.status_code == 404 and r.json()["error"] == "session_not_found"


def _foreign_activity_session(api: Api) -> str:
    from server.store.repo import Store

    store = Store.open(api.settings.effective_database_url)
    try:
        new = NewSession(
            user_id="ana",
            title="run",
            exercise="snatch",
            options={},
            original_key=None,
            activity="Running",
        )
        return store.create_session(new).id
    finally:
        store.close()


@pytest.mark.parametrize("method,suffix", [("GET", s) for s in GETS] + [("POST", s) for s in POSTS])
def test_404_wrong_activity(api: Api, method: str, suffix: str) -> None:
    sid = _foreign_activity_session(api)
    r = call(api, method, f"{S}/{sid}{suffix}", api.headers("ana"))
    assert r.status_code == 404 and r.json()["error"] == "wrong_activity"
    assert "Running" in r.json()["detail"]


@pytest.mark.parametrize("method,suffix", [("GET", s) for s in GETS] + [("POST", s) for s in POSTS])
def test_403_another_users_session(api: Api, method: str, suffix: str) -> None:
    sid = api.ready_session("ana")
    r = call(api, method, f"{S}/{sid}{suffix}", api.headers("mallory"))
    assert r.status_code == 403 and r.json()["error"] == "not_admin"
    admin = call(api, method, f"{S}/{sid}{suffix}", api.headers("coach", admin=True, plan=None))
    assert admin.status_code == 200


@pytest.mark.parametrize("method,suffix", [("GET", s) for s in GETS] + [("POST", s) for s in POSTS])
def test_401_without_or_with_bad_token(api: Api, method: str, suffix: str) -> None:
    r = call(api, method, f"{S}/any{suffix}", {})
    assert r.status_code == 401 and r.json()["error"] == "missing_token"
    r = call(api, method, f"{S}/any{suffix}", {"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401 and r.json()["error"] == "malformed_token"


@pytest.mark.parametrize("suffix", GETS)
def test_400_invalid_parameter(api: Api, suffix: str) -> None:
    sid = api.ready_session("ana")
    r = api.client.get(f"{S}/{sid}{suffix}?demo=maybe", headers=api.headers("ana"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_parameter"


@pytest.mark.parametrize("suffix", POSTS)
def test_400_invalid_measurement_system(api: Api, suffix: str) -> None:
    sid = api.ready_session("ana")
    h = api.headers("ana")
    r = api.client.post(f"{S}/{sid}{suffix}", headers=h, json={"measurement_system": "furlongs"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_parameter"
    r = api.client.post(f"{S}/{sid}{suffix}", headers=h, content=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"


def test_report_follows_the_plan(api: Api) -> None:
    sid = api.ready_session("ana")
    pro = api.client.get(f"{S}/{sid}/report", headers=api.headers("ana", plan="pro"))
    assert pro.status_code == 200
    body = pro.json()
    assert body["findings"][0]["value"] == 500.0  # max of the fake series for 100 kg
    assert body["session_id"] == sid and body["measurement_system"] == "metric"
    assert (
        api.client.get(f"{S}/{sid}/report", headers=api.headers("ana", plan="basic")).status_code
        == 200
    )
    for headers in (
        api.headers("ana", plan=None),
        api.headers("ana", plan="free"),
        api.forge(sub="ana", plan="platinum"),
    ):
        r = api.client.get(f"{S}/{sid}/report", headers=headers)
        assert r.status_code == 404 and r.json()["error"] == "no_valid_plan"


def test_summary_follows_the_plan_with_403(api: Api) -> None:
    h = api.headers("ana")
    api.client.put("/api/v1/users/ana/profile", headers=h, json={"display_name": "Ana"})
    sid = api.ready_session("ana")
    r = api.client.get(f"{S}/{sid}/summary", headers=api.headers("ana", plan="pro"))
    assert r.status_code == 200
    assert r.json()["headline"] == "snatch for Ana" and r.json()["exercise"] == "snatch"
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", r.json()["session_date"])
    for plan in ("basic", None):
        r = api.client.get(f"{S}/{sid}/summary", headers=api.headers("ana", plan=plan))
        assert r.status_code == 403 and r.json()["error"] == "no_valid_plan"


def test_comment_threads_one_per_metric_then_read_and_reply(api: Api) -> None:
    sid = api.ready_session("ana")
    h = api.headers("ana")
    r = api.client.post(
        f"{S}/{sid}/comment-threads", headers=h, json={"measurement_system": "imperial"}
    )
    assert r.status_code == 200
    ids = r.json()
    assert set(ids) == set(METRICS) and len(set(ids.values())) == 12
    assert api.client.get(f"{S}/{sid}/data", headers=h).json()["comments"] == ids
    thread = api.client.get(f"/api/v1/threads/{ids['bar_height']}", headers=h).json()
    assert thread["topic"] == "bar_height" and thread["measurement_system"] == "imperial"
    assert [m["text"] for m in thread["messages"]] == ["bar_height in imperial"]
    reply = api.client.post(
        f"/api/v1/threads/{ids['bar_height']}/messages", headers=h, json={"text": " Why? "}
    )
    assert reply.status_code == 200
    assert [(m["role"], m["author"], m["text"]) for m in reply.json()["messages"][1:]] == [
        ("user", "ana", "Why?")
    ]
    assert (
        api.client.get(
            f"/api/v1/threads/{ids['bar_height']}", headers=api.headers("eve")
        ).status_code
        == 403
    )
    assert (
        api.client.get(
            f"/api/v1/threads/{ids['bar_height']}", headers=api.headers("ana", plan=None)
        ).status_code
        == 404
    )
    bad = api.client.post(
        f"/api/v1/threads/{ids['bar_height']}/messages", headers=h, json={"text": ""}
    )
    assert bad.status_code == 400
    assert api.client.get("/api/v1/threads/thread_nope", headers=h).status_code == 404


def test_threads_default_to_the_session_units_and_follow_plans(api: Api) -> None:
    sid = api.ready_session("ana")
    ids = api.client.post(
        f"{S}/{sid}/comment-threads", headers=api.headers("ana", plan="basic")
    ).json()
    thread = api.client.get(
        f"/api/v1/threads/{ids['power_output']}", headers=api.headers("ana")
    ).json()
    assert thread["messages"][0]["text"] == "power_output in metric"
    r = api.client.post(f"{S}/{sid}/comment-threads", headers=api.headers("ana", plan="free"))
    assert r.status_code == 404 and r.json()["error"] == "no_valid_plan"
    r = api.client.post(f"{S}/{sid}/summary-threads", headers=api.headers("ana", plan="basic"))
    assert r.status_code == 404 and r.json()["error"] == "no_valid_plan"
    r = api.client.post(
        f"{S}/{sid}/summary-threads?measurement_system=imperial", headers=api.headers("ana")
    )
    assert r.status_code == 200 and set(r.json()) == {"overall", "next_steps"}
    thread = api.client.get(
        f"/api/v1/threads/{r.json()['overall']}", headers=api.headers("ana")
    ).json()
    assert thread["kind"] == "summary" and thread["messages"][0]["text"] == "overall in imperial"


def test_demo_session_is_made_by_the_pipeline_and_cached(api: Api) -> None:
    h = api.headers("ana", plan=None)  # the demo is open to every plan
    details = api.client.get(f"{S}/whatever?demo=true", headers=h).json()
    assert (
        details["demo"] is True and details["status"] == "ready" and details["session_id"] == "demo"
    )
    assert details["user_name"].startswith("LiftStream demo")
    data = api.client.get(f"{S}/x/data?demo=true", headers=h)
    assert data.status_code == 200 and data.json()["exercise"] == "snatch"
    assert api.client.get(details["original_video_url"]).content == b"DEMO clip"
    assert api.client.get(f"{S}/x/report?demo=true", headers=h).status_code == 200
    assert api.client.get(f"{S}/x/summary?demo=1", headers=h).status_code == 200
    # made once: one analysis call whatever the number of demo reads
    assert [c["head"] for c in api.analyzer.calls].count(b"DEMO clip") == 1


def test_500_is_json_without_a_traceback(api: Api) -> None:
    sid = api.ready_session("ana")

    def explode(*_args: Any) -> Any:
        raise RuntimeError("database password is hunter2")

    ctx = api.client.app_state["liftstream"]
    ctx.coach.report = explode  # type: ignore[method-assign]
    r = api.client.get(f"{S}/{sid}/report", headers=api.headers("ana"))
    assert r.status_code == 500
    assert r.json() == {
        "error": "internal_error",
        "detail": "an unexpected error occurred; it has been logged",
    }
    assert "hunter2" not in r.text and "Traceback" not in r.text


def test_unknown_route_and_method_are_json(api: Api) -> None:
    r = api.client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = api.client.delete(f"{S}/x", headers=api.headers("ana"))
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
