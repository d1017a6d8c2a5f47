"""The synthetic clip renderer: exact truth, determinism, options, and a playable MP4."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from server.errors import InvalidInputError
from server.synth.clip import RenderOptions, clip_truth, iter_frames, render_clip
from tests.tracking_support import scene, short_lift

SLEEVE_RGB = np.array([205, 205, 210])


def test_truth_follows_the_trajectory_in_metres() -> None:
    traj = short_lift()
    truth = clip_truth(traj, fps=30.0)
    assert truth.t.size == int(traj.duration * 30.0) + 1
    np.testing.assert_allclose(np.diff(truth.t), 1 / 30.0)
    np.testing.assert_allclose(truth.position_m, traj.position(truth.t), atol=1e-9)
    assert truth.radius_px == pytest.approx(0.225 * truth.px_per_m)
    # The whole plate stays in the frame at the default scale, even overhead.
    h = truth.size[1]
    assert (truth.center_px[:, 1] - truth.radius_px).min() > 0
    assert (truth.center_px[:, 1] + truth.radius_px).max() <= truth.floor_y_px + 1e-9 < h


def test_frames_draw_the_plate_where_the_truth_says() -> None:
    sc = scene(RenderOptions(seed=3))
    truth = sc.truth
    for i in (0, 40, 70):
        frame = sc.frame(i)
        cx, cy = np.round(truth.center_px[i]).astype(int)
        # The sleeve end (light steel) sits exactly at the centre...
        assert np.abs(frame[cy, cx].astype(int) - SLEEVE_RGB).max() < 12
        # ...and the plate's edge is at the radius: inside it the rim colour, outside not.
        r = truth.radius_px
        rim = frame[round(truth.center_px[i, 1]), round(truth.center_px[i, 0] + r - 2.5)]
        assert np.abs(rim.astype(int) - np.array([40, 150, 70]) * 0.78).max() < 25


def test_same_seed_same_frames_other_seed_other_background() -> None:
    opts = RenderOptions(seed=5, noise_sigma=5.0, shake_px=6.0, second_plate="moving")
    a = [f for _, f in iter_frames(short_lift(), options=opts, size=(320, 240))][:5]
    b = [f for _, f in iter_frames(short_lift(), options=opts, size=(320, 240))][:5]
    c = next(iter_frames(short_lift(), options=RenderOptions(seed=6), size=(320, 240)))[1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.abs(a[0].astype(int) - c.astype(int)).mean() > 10


def test_camera_shake_moves_the_whole_scene_by_the_known_offset() -> None:
    sc = scene(RenderOptions(seed=2, shake_px=12.0, clutter=80))
    truth = sc.truth
    assert np.array_equal(truth.camera_offset_px[0], [0.0, 0.0])
    assert np.abs(truth.camera_offset_px).max() > 6.0
    # Plate position against the background is the unshaken trajectory.
    np.testing.assert_allclose(truth.position_m, short_lift().position(truth.t), atol=1e-9)
    # A background patch far from the plate moves by the integer part of the offset.
    i = int(np.argmax(np.abs(truth.camera_offset_px).sum(1)))
    off = truth.camera_offset_px[i]
    f0, fi = sc.frame(0).astype(float), sc.frame(i).astype(float)
    target = fi[40:140, 60:260]
    best = min(
        (np.abs(f0[40 - dy : 140 - dy, 60 - dx : 260 - dx] - target).mean(), dx, dy)
        for dx in range(-20, 21)
        for dy in range(-20, 21)
    )
    assert (best[1], best[2]) == (round(off[0]), round(off[1]))


def test_second_plate_and_occluder_are_drawn() -> None:
    plain = scene(RenderOptions(seed=1)).frame(10)
    sc = scene(RenderOptions(seed=1, second_plate="static", occlusion=True))
    truth = sc.truth
    frame = sc.frame(10)
    assert truth.second_center_px is not None
    assert truth.second_radius_px == pytest.approx(0.85 * truth.radius_px)
    sx, sy = np.round(truth.second_center_px[10]).astype(int)
    assert np.abs(frame[sy, sx].astype(int) - SLEEVE_RGB).max() < 12
    # It does not overlap the lifted plate anywhere.
    gap = np.hypot(*(truth.center_px - truth.second_center_px).T).min()
    assert gap > truth.radius_px + truth.second_radius_px
    # The occluder changes part of the plate, not all of it.
    cx, cy = np.round(truth.center_px[10]).astype(int)
    r = int(truth.radius_px)
    changed = (
        np.abs(frame.astype(int) - plain.astype(int)).sum(2)[cy - r : cy + r, cx - r : cx + r] > 30
    )
    assert 0.05 < changed.mean() < 0.5


def test_render_clip_writes_h264_with_exact_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "lift.mp4"
    truth = render_clip(
        short_lift(), path, fps=60.0, size=(640, 360), options=RenderOptions(crf=23)
    )
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        frames = [(f.time, f.format.name) for f in container.decode(stream)]
    assert len(frames) == truth.t.size
    assert {fmt for _, fmt in frames} == {"yuv420p"}
    np.testing.assert_allclose([t for t, _ in frames], truth.t, atol=1e-6)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("motion_blur", 1.5),
        ("noise_sigma", -1.0),
        ("jpeg_quality", 0),
        ("second_plate", "both"),
        ("crf", 60),
    ],
)
def test_bad_options_are_rejected_by_name(field: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match=field):
        RenderOptions(**{field: value})  # type: ignore[arg-type]


def test_bad_size_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="size"):
        clip_truth(short_lift(), size=(641, 360))
