"""The offline pipeline against exact ground truth (synthetic clips) and on the real clips.

Synthetic clips are rendered to H.264 MP4 by server.synth, so decoding, plate detection, camera-
motion removal, calibration, smoothing and phase segmentation all run as on an upload. Bounds are
those of the analysis issue: velocity RMSE <= 0.03 m/s, peak velocity within 3 %, position RMSE
<= 5 mm, max height within 10 mm, event times within one frame at 60 fps and two at 30 fps.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server.analysis.pipeline import AnalysisOptions, analyze_video
from server.cli import main as cli_main
from server.errors import InvalidInputError, NoLiftError
from server.phases.types import Exercise, phases_for
from server.synth.clip import ClipTruth, RenderOptions, render_clip
from server.synth.trajectory import Trajectory, make_trajectory
from tests.conftest import clip_path

EVENTS = ("lift_off", "peak_velocity", "max_height", "catch")


def _series(doc: dict[str, Any], group: str, name: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in doc[group][name]], dtype=np.float64)


def _render(tmp: Path, traj: Trajectory, fps: float, **opts: Any) -> tuple[Path, ClipTruth]:
    path = tmp / f"{traj.exercise}-{fps:.0f}.mp4"
    truth = render_clip(traj, path, fps=fps, size=(1280, 720), options=RenderOptions(**opts))
    return path, truth


CASES = [
    # exercise, fps, render options
    ("snatch", 30.0, {"seed": 3, "motion_blur": 0.5, "noise_sigma": 2.0}),
    ("snatch", 60.0, {"seed": 4, "motion_blur": 0.5, "noise_sigma": 2.0, "shake_px": 6.0}),
    ("clean", 30.0, {"seed": 5, "noise_sigma": 3.0, "shake_px": 8.0, "second_plate": "static"}),
    ("clean_and_jerk", 30.0, {"seed": 6, "motion_blur": 0.4, "lighting": 0.2}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("exercise", "fps", "opts"), CASES)
def test_synthetic_lift_matches_ground_truth(
    tmp_path: Path, exercise: str, fps: float, opts: dict[str, Any]
) -> None:
    traj = make_trajectory(exercise, seed=opts["seed"], lift_start=0.8, hold=0.8)
    clip, truth = _render(tmp_path, traj, fps, **opts)
    doc = analyze_video(clip, AnalysisOptions(exercise=exercise), tmp_path / "out", service=None)
    t = np.array(doc["timestamps"])
    np.testing.assert_allclose(t, truth.t, atol=1e-3)
    eps = 1e-5
    v_true = (traj.position(t + eps) - traj.position(t - eps))[:, 1] / (2 * eps)
    h_true = traj.position(t)[:, 1]
    v = _series(doc, "key_metrics", "barbell_velocity")
    h = _series(doc, "barbell_positioning", "bar_height") / 1000.0
    assert np.isfinite(v).mean() > 0.95
    assert np.sqrt(np.nanmean((v - v_true) ** 2)) <= 0.03
    assert np.sqrt(np.nanmean((h - h_true) ** 2)) <= 0.005
    lift = doc["lift"]
    assert lift["peak_bar_velocity"]["value"] == pytest.approx(
        traj.params["peak_velocity"], rel=0.03
    )
    assert abs(lift["max_bar_height"]["value"] - traj.params["max_height"]) <= 0.010
    tolerance = (1.0 if fps >= 60 else 2.0) / fps
    for event in EVENTS:
        assert abs(lift["events"][event] - traj.events[event]) <= tolerance, event
    assert doc["analysis"]["lifts_found"] == 1
    # The document: one value per timestamp, phases in order and contiguous, key frames on disk.
    for group in ("key_metrics", "body_positioning", "joint_angles", "barbell_positioning"):
        for name, values in doc[group].items():
            assert len(values) == len(t), name
    spans = list(doc["chart_data"].items())
    names = [n for n, _ in spans]
    expected = [p for p in phases_for(Exercise(exercise)) if p in names]
    assert names == expected and names[:7] == list(phases_for(Exercise.SNATCH))
    for (_, a), (_, b) in itertools.pairwise(spans):
        # Contiguous, except the rack hold between the clean's recovery and the jerk's dip.
        assert a["start"] < a["end"] <= b["start"]
        assert a["end"] == b["start"] or b is doc["chart_data"].get("jerk_dip")
    assert doc["calibration"]["method"] == "plate"
    assert doc["calibration"]["px_per_m"] == pytest.approx(truth.px_per_m, rel=0.01)
    assert lift["bar_path"]["type"] == traj.bar_path.removeprefix("type_")
    out = tmp_path / "out"
    for event, entry in doc["phase_data"].items():
        assert (out / entry["image_url"]).read_bytes()[:2] == b"\xff\xd8", event
    assert (out / "analyzed.mp4").stat().st_size > 10_000
    assert json.loads((out / "session.json").read_text()) == doc


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["still", "shift", "deadlift"])
def test_clip_without_a_lift_is_an_error_never_an_invented_lift(
    tmp_path: Path, variant: str
) -> None:
    traj = make_trajectory("none", seed=2, variant=variant)
    clip, _ = _render(tmp_path, traj, 30.0, seed=2, noise_sigma=2.0)
    with pytest.raises(NoLiftError):
        analyze_video(clip, AnalysisOptions(exercise="snatch"), tmp_path / "out", service=None)
    assert not (tmp_path / "out" / "session.json").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("exercise", "squat", "exercise"),
        ("barbell_mass_kg", -5.0, "barbell mass"),
        ("joints", ("knee", "wrist"), "joints"),
        ("units", "furlongs", "units"),
        ("plate_diameter_m", 0.0, "plate diameter"),
    ],
)
def test_bad_options_name_the_problem(field: str, value: object, message: str) -> None:
    kwargs: dict[str, Any] = {"exercise": "snatch", field: value}
    with pytest.raises(InvalidInputError, match=message):
        AnalysisOptions(**kwargs)


def test_cli_rejects_bad_input_and_leaves_nothing(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out"
    assert (
        cli_main(["analyze", str(tmp_path / "x.mp4"), "--exercise", "curl", "--out", str(out)]) == 2
    )
    assert "exercise" in capsys.readouterr().err
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video")
    code = cli_main(["analyze", str(not_video), "--exercise", "snatch", "--out", str(out)])
    assert code == 2
    assert not out.exists() or not any(out.iterdir())
    assert not list(tmp_path.glob(".out.partial-*"))


def _bad_input(tmp: Path, case: str) -> tuple[list[str], str]:
    """A bad `liftstream analyze` input: (extra CLI arguments with the video first, the words the
    error must contain)."""
    import shutil

    from tests.video_helpers import ffmpeg, make_clip

    video = tmp / f"{case}.mp4"
    if case == "zero frames":
        if shutil.which("ffmpeg") is None:
            pytest.skip("ffmpeg not installed (make test installs it)")
        ffmpeg(
            *("-f", "lavfi", "-i", "color=s=160x120:r=25", "-frames:v", "0", "-c:v", "libx264"),
            str(video),
            timeout=60,
        )
        return [str(video)], "no video stream"
    if case == "truncated":
        whole = make_clip(tmp / "whole.mp4", [i / 25 for i in range(50)])
        video.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        return [str(video)], "truncated.mp4"
    if case == "huge resolution":
        make_clip(video, [0.0, 0.04], width=4096, height=2304)
        return [str(video)], "max_video_pixels"
    if case == "two hours":
        make_clip(video, [0.0, 7200.0])  # a tiny file whose frames span two hours
        return [str(video)], "max_video_seconds"
    make_clip(video, [i / 25 for i in range(20)])
    if case == "negative mass":
        return [str(video), "--barbell-mass", "-5"], "barbell mass"
    if case == "unknown joint":
        return [str(video), "--joints", "knee,wrist"], "wrist"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["zero frames", "truncated", "huge resolution", "two hours", "negative mass", "unknown joint"],
)
def test_cli_bad_input_names_the_problem_and_leaves_nothing(
    tmp_path: Path, capsys: Any, case: str
) -> None:
    args, words = _bad_input(tmp_path, case)
    out = tmp_path / "out"
    code = cli_main(["analyze", *args, "--exercise", "snatch", "--out", str(out)])
    assert code == 2
    assert words in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.fixture(scope="module")
def pose_service() -> Any:
    from tests.pose_model_fixtures import real_cache_or_skip

    real_cache_or_skip("pose_detection")
    from server.pose.service import InferenceService
    from server.settings import Settings

    service = InferenceService(Settings().model_dir, "full")
    yield service
    service.close()


SIDE_SNATCHES = ["snatch_side_ilya_cjwpin.mp4", "snatch_side_competition_wdias.mp4"]
_snatch_documents: dict[str, dict[str, Any]] = {}


def snatch_document(name: str, tmp_path: Path, service: Any) -> dict[str, Any]:
    """The analysed document of a real side-view snatch, computed once per test session."""
    if name not in _snatch_documents:
        _snatch_documents[name] = analyze_video(
            clip_path(name),
            AnalysisOptions(exercise="snatch", render=False),
            tmp_path,
            service=service,
        )
    return _snatch_documents[name]


@pytest.mark.slow
@pytest.mark.realclips
@pytest.mark.parametrize("name", SIDE_SNATCHES)
def test_real_side_snatch_is_one_plausible_lift(
    tmp_path: Path, pose_service: Any, name: str
) -> None:
    doc = snatch_document(name, tmp_path, pose_service)
    lift = doc["lift"]
    assert doc["analysis"]["lifts_found"] == 1
    assert 1.5 <= lift["peak_bar_velocity"]["value"] <= 2.5
    assert list(doc["chart_data"]) == list(phases_for(Exercise.SNATCH))
    durations = lift["phase_durations"]
    assert 0.2 <= durations["first_pull"] <= 1.2
    assert 0.05 <= durations["second_pull"] <= 0.5
    assert 0.05 <= durations["turnover"] <= 0.6
    spans = list(doc["chart_data"].values())
    for a, b in itertools.pairwise(spans):  # phases in order and contiguous
        assert a["start"] <= a["end"] == b["start"]  # (the 25 fps clip starts at lift-off)
    assert all(s["start"] < s["end"] for s in spans[1:])
    events = lift["events"]
    assert events["lift_off"] <= events["peak_velocity"] <= events["max_height"]
    assert events["max_height"] <= events["catch"] <= events["lift_end"]
    assert doc["analysis"]["pose_frames"] >= 0.95 * doc["analysis"]["frames"]
    assert doc["calibration"]["method"] == "plate"
    knee = _series(doc, "joint_angles", "knee_angle")
    assert np.nanmax(knee) > 150 and np.nanmin(knee) < 90  # stands tall, squats deep


@pytest.mark.slow
@pytest.mark.realclips
@pytest.mark.parametrize(
    "name",
    [
        SIDE_SNATCHES[0],
        pytest.param(
            SIDE_SNATCHES[1],
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured 0.94 on 2026-12-02: the lifter's height is read in the near "
                "plate's scale (1.27 m), but the lifter stands deeper. The far plate, visible "
                "behind the bar overhead, is 0.69 of the near one's size by eye (frame 100: "
                "134 against 194 px), so the lifter's midline is about 1.22x farther from the "
                "camera than the near plate: 1.55 m and a ratio near 0.77. A far-plate detector "
                "tried on 2026-12-02 found 0.70 here but also consistent false circles on a squat "
                "clip, so no depth correction is applied yet",
            ),
        ),
    ],
)
def test_real_snatch_top_is_60_to_85_percent_of_the_lifters_height(
    tmp_path: Path, pose_service: Any, name: str
) -> None:
    """Max bar height over the lifter's stature seen in the clip (`analysis.lifter_height_m`),
    both in the plate's scale, so the ratio is the picture's own."""
    doc = snatch_document(name, tmp_path, pose_service)
    stature = doc["analysis"]["lifter_height_m"]
    assert stature is not None
    ratio = doc["lift"]["max_bar_height"]["value"] / stature
    assert 0.60 <= ratio <= 0.85, f"max bar height {ratio:.0%} of the lifter's height"


@pytest.mark.slow
@pytest.mark.realclips
@pytest.mark.parametrize(
    "name", ["clean_and_jerk_front_stgcn.mp4", "deadlift_side_good_posereader.mp4"]
)
def test_real_clip_without_a_side_view_lift_is_refused(
    tmp_path: Path, pose_service: Any, name: str
) -> None:
    clip = clip_path(name)
    with pytest.raises(NoLiftError):
        analyze_video(
            clip, AnalysisOptions(exercise="snatch", render=False), tmp_path, service=pose_service
        )
    assert not (tmp_path / "session.json").exists()
