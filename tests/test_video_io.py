"""Video reading (timestamps, duplicates, rotation, limits, damaged files) and the H.264 writer."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from server.errors import InvalidInputError, VideoError
from server.settings import Settings
from server.video.reader import VideoReader, probe, read_frames
from server.video.timing import find_cadence, is_duplicate, timing_report
from server.video.writer import H264Writer
from tests.conftest import clip_path
from tests.video_helpers import (
    background_index,
    decoded_times,
    make_clip,
    picture,
    top_level_atoms,
)

# --- reading generated clips -------------------------------------------------------------------


def test_constant_rate_clip_times_match_what_was_written(tmp_path: Path) -> None:
    ts = [i / 25 for i in range(30)]
    path = make_clip(tmp_path / "cfr.mp4", ts)
    warnings: list[str] = []
    frames = list(read_frames(path, warnings=warnings))
    assert [f.index for f in frames] == list(range(30))
    np.testing.assert_allclose([f.t for f in frames], ts, atol=1e-9)
    assert [background_index(f.rgb) for f in frames] == list(range(30))
    assert not any(f.duplicate for f in frames)
    assert warnings == []
    info = probe(path)
    assert (info.width, info.height, info.codec, info.rotation) == (160, 120, "h264", 0)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 30
    assert info.duration_s == pytest.approx(1.2, abs=0.05)


def test_variable_rate_clip_keeps_each_frames_timestamp(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    ts = np.concatenate([[0.0], np.cumsum(rng.uniform(0.015, 0.07, size=39))])
    ts = np.round(ts * 12_800) / 12_800  # exactly representable in the clip's clock
    path = make_clip(tmp_path / "vfr.mp4", ts.tolist())
    warnings: list[str] = []
    frames = list(read_frames(path, warnings=warnings))
    np.testing.assert_allclose([f.t for f in frames], ts, atol=1e-9)
    assert any("variable frame rate" in w for w in warnings)


def test_clip_not_starting_at_zero_is_timed_from_its_first_frame(tmp_path: Path) -> None:
    ts = [1.5 + i / 30 for i in range(12)]
    path = make_clip(tmp_path / "late.mp4", ts)
    frames = list(read_frames(path))
    np.testing.assert_allclose([f.t for f in frames], [i / 30 for i in range(12)], atol=1e-4)


def test_duplicated_frames_are_flagged_exactly(tmp_path: Path) -> None:
    content = list(range(30))
    for i in (6, 17, 18):  # a repeat, and a picture shown three times
        content[i] = content[i - 1]
    path = make_clip(tmp_path / "dups.mp4", [i / 30 for i in range(30)], content=content)
    warnings: list[str] = []
    frames = list(read_frames(path, warnings=warnings))
    assert [f.index for f in frames if f.duplicate] == [6, 17, 18]
    assert frames[0].change is None and frames[6].change is not None
    assert frames[6].change < 0.08 < frames[7].change
    assert any("3 of 30 frames repeat" in w for w in warnings)


def test_reader_without_the_repeat_check_still_times_frames_and_finds_gaps(
    tmp_path: Path,
) -> None:
    ts = [i / 30 for i in range(30) if i != 14]
    content = list(range(29))
    content[6] = content[5]  # a repeat the unchecked reader does not look for
    path = make_clip(tmp_path / "gap.mp4", ts, content=content)
    with VideoReader(path, check_repeats=False) as reader:
        frames = list(reader)
        warnings = reader.timing_warnings()
    assert [f.index for f in frames] == list(range(29))
    np.testing.assert_allclose([f.t for f in frames], ts, atol=1e-4)
    assert not any(f.duplicate or f.grey is not None or f.change is not None for f in frames)
    assert len(warnings) == 1 and "1 gap(s)" in warnings[0]


def test_dropped_frame_shows_as_a_gap(tmp_path: Path) -> None:
    ts = [i / 30 for i in range(30) if i != 14]
    path = make_clip(tmp_path / "gap.mp4", ts)
    warnings: list[str] = []
    list(read_frames(path, warnings=warnings))
    assert len(warnings) == 1 and "1 gap(s)" in warnings[0] and "frames 14" in warnings[0]


@pytest.mark.parametrize(("rotation", "upright"), [(90, 90), (-90, 270), (180, 180)])
def test_display_rotation_is_applied(tmp_path: Path, rotation: int, upright: int) -> None:
    path = make_clip(tmp_path / "rot.mp4", [i / 25 for i in range(5)], rotation=rotation)
    info = probe(path)
    assert info.rotation == upright
    expected = np.rot90(picture(0, 160, 120), k=upright // 90)
    first = next(iter(read_frames(path)))
    assert first.rgb.shape == expected.shape
    assert (info.width, info.height) == (expected.shape[1], expected.shape[0])
    red = first.rgb[..., 0].astype(int) - first.rgb[..., 1]
    red_expected = expected[..., 0].astype(int) - expected[..., 1]
    assert np.array_equal(red > 128, red_expected > 128)
    small = next(iter(read_frames(path, max_side=80))).rgb
    assert small.shape == (expected.shape[0] // 2, expected.shape[1] // 2, 3)


def test_max_side_shrinks_in_the_decoder_keeping_aspect(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "big.mp4", [i / 25 for i in range(3)], width=640, height=480)
    frames = list(read_frames(path, max_side=320))
    assert frames[0].rgb.shape == (240, 320, 3)
    # The red square (rows 4-14, columns 0-10 in frame 0) is where it should be at half size.
    assert frames[0].rgb[4, 2, 0] > 200 and frames[0].rgb[4, 2, 1] < 60
    assert frames[0].rgb.flags.c_contiguous and frames[0].rgb.flags.writeable
    # max_side never enlarges.
    assert next(iter(read_frames(path, max_side=4000))).rgb.shape == (480, 640, 3)
    with pytest.raises(InvalidInputError, match="max_side=8"):
        list(read_frames(path, max_side=8))


def test_non_square_pixels_are_made_square(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "sar.mp4", [0.0, 0.04], width=80, sample_aspect=Fraction(2, 1))
    assert (probe(path).width, probe(path).height) == (160, 120)
    assert next(iter(read_frames(path))).rgb.shape == (120, 160, 3)


# --- damaged and refused files ------------------------------------------------------------------


def test_random_bytes_empty_and_missing_files_raise_video_error(tmp_path: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoError, match="not a readable video"):
        probe(noise)
    with pytest.raises(VideoError, match="empty"):
        list(read_frames(empty))
    with pytest.raises(VideoError, match="not found"):
        probe(tmp_path / "absent.mp4")


def test_truncated_file_without_index_raises(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "whole.mp4", [i / 25 for i in range(50)])
    assert top_level_atoms(path).index("mdat") < top_level_atoms(path).index("moov")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError):
        list(read_frames(cut))


def test_truncated_file_with_index_first_returns_frames_and_warns(tmp_path: Path) -> None:
    ts = [i / 25 for i in range(50)]
    path = make_clip(tmp_path / "whole.mp4", ts, faststart=True, crf=10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    warnings: list[str] = []
    frames = list(read_frames(cut, warnings=warnings))
    assert 5 < len(frames) < 50
    np.testing.assert_allclose([f.t for f in frames], ts[: len(frames)], atol=1e-9)
    assert any("truncated" in w for w in warnings)


def test_limits_are_checked_from_the_probe(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "small.mp4", [0.0, 0.04])
    with pytest.raises(VideoError, match="max_video_pixels=10000"):
        probe(path, Settings(max_video_pixels=100 * 100))
    # Two frames two hours apart: a tiny file that claims a 2-hour duration.
    long = make_clip(tmp_path / "long.mp4", [0.0, 7200.0])
    with pytest.raises(VideoError, match="max_video_seconds=600"):
        probe(long)
    with pytest.raises(VideoError, match="max_video_seconds"):
        list(read_frames(long))


def test_reader_iterates_once(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "once.mp4", [0.0, 0.04])
    with VideoReader(path) as reader:
        assert len(list(reader)) == 2
        with pytest.raises(VideoError, match="only once"):
            iter(reader)


# --- timing checks on literal series ------------------------------------------------------------


def test_timing_report_is_quiet_for_regular_timestamps() -> None:
    assert timing_report([i / 30 for i in range(90)]) == []
    assert timing_report([0.0]) == []


def test_timing_report_finds_a_dropped_frame_cadence_in_timestamps() -> None:
    # A 30 fps recording with every sixth frame dropped, honest timestamps.
    ts = [i / 30 for i in range(120) if i % 6 != 5]
    (warning,) = timing_report(ts)
    assert "every 5" in warning and "1 frame in 6" in warning


def test_timing_report_finds_a_cadence_hidden_by_even_timestamps() -> None:
    change = [None] + [2.0 + 0.2 * np.sin(i) for i in range(1, 60)]
    for i in range(3, 60, 5):
        change[i] = 4.0
    (warning,) = timing_report([i / 25 for i in range(60)], change=change)
    assert "once every 5 frames" in warning and "1 frame in 6" in warning


def test_timing_report_flags_non_increasing_times_and_duplicates() -> None:
    warnings = timing_report([0.0, 0.04, 0.04, 0.12], duplicate=[False, True, False, False])
    assert any("do not increase" in w and "frames 2" in w for w in warnings)
    assert any("1 of 4 frames repeat" in w for w in warnings)


def test_find_cadence_ignores_ramps_noise_and_single_spikes() -> None:
    rng = np.random.default_rng(3)
    assert find_cadence(np.linspace(1, 10, 80)) is None
    assert find_cadence(rng.uniform(1, 3, 80)) is None
    spike = np.ones(80)
    spike[40] = 5
    assert find_cadence(spike) is None
    cadence = find_cadence(np.where(np.arange(80) % 7 == 2, 3.0, 1.0))
    assert cadence is not None and (cadence.period, cadence.phase) == (7, 2)


@pytest.mark.parametrize(
    ("change", "prev", "nxt", "expected"),
    [
        (0.02, None, None, True),  # identical re-encoded picture
        (0.3, 0.35, 0.32, False),  # slow, even motion
        (0.3, 2.0, 3.0, True),  # a dip inside fast motion
        (0.6, 4.0, 4.0, False),  # too much change to be the same picture
        (0.15, 0.13, 0.14, False),  # a still scene's sensor noise
    ],
)
def test_is_duplicate(change: float, prev: float | None, nxt: float | None, expected: bool) -> None:
    assert is_duplicate(change, prev, nxt) is expected


# --- real clips ---------------------------------------------------------------------------------


@pytest.mark.realclips
def test_ilya_snatch_clip_is_flagged_irregular() -> None:
    path = clip_path("snatch_side_ilya_cjwpin.mp4")
    warnings: list[str] = []
    frames = list(read_frames(path, warnings=warnings))
    assert len(frames) == 74
    np.testing.assert_allclose(np.diff([f.t for f in frames]), 0.04, atol=1e-9)
    assert [f.index for f in frames if f.duplicate] == [1]
    assert any("repeat the previous picture" in w for w in warnings)
    assert any("once every 5 frames" in w and "1 frame in 6" in w for w in warnings)


@pytest.mark.realclips
@pytest.mark.parametrize(
    "name",
    [
        "snatch_side_competition_wdias.mp4",
        "clean_side_pathoverlay_andymarlon.mp4",
        "deadlift_side_good_posereader.mp4",
        "squat_side_lukestynes_small-squat.mp4",
        "squat_side_handheld_lukestynes_squat-left-good.mp4",
    ],
)
def test_regular_real_clips_raise_no_timing_warning(name: str) -> None:
    warnings: list[str] = []
    frames = list(read_frames(clip_path(name), max_side=320, warnings=warnings))
    assert max(frames[0].rgb.shape) == 320
    assert warnings == []


# --- writer -------------------------------------------------------------------------------------


def _write(path: Path, ts: list[float], width: int = 96, height: int = 64) -> None:
    with H264Writer(path, width, height, 30) as writer:
        for i, t in enumerate(ts):
            writer.write(picture(i, width, height), t)


def test_written_mp4_is_streamable_h264_with_the_given_times(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ts = np.concatenate([[0.0], np.cumsum(rng.uniform(0.02, 0.06, 44))]).tolist()
    out = tmp_path / "out.mp4"
    _write(out, ts)
    atoms = top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat")
    times, codec, pix_fmt = decoded_times(out)
    assert (codec, pix_fmt) == ("h264", "yuv420p")
    assert len(times) == len(ts)
    np.testing.assert_allclose(times, ts, atol=1 / 90_000)
    frames = list(read_frames(out))
    assert [background_index(f.rgb) for f in frames] == list(range(len(ts)))


def test_written_colours_decode_as_they_were_given(tmp_path: Path) -> None:
    """The writer's RGB -> yuv420p conversion keeps colours (channel order, range, matrix)."""
    rng = np.random.default_rng(3)
    height, width = 64, 96
    # Flat colour blocks (chroma is subsampled 2x2, so no single-pixel colour detail).
    blocks = rng.integers(16, 240, size=(height // 8, width // 8, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1))
    out = tmp_path / "colours.mp4"
    with H264Writer(out, width, height, 30, crf=0) as writer:
        writer.write(rgb, 0.0)
    decoded = next(iter(read_frames(out))).rgb.astype(np.int16)
    diff = np.abs(decoded - rgb.astype(np.int16))
    inner = slice(2, -2)  # each block's pixels away from its edges
    per_block = diff.reshape(height // 8, 8, width // 8, 8, 3)[:, inner, :, inner, :]
    assert float(per_block.mean()) < 2.0
    assert int(np.percentile(per_block, 99)) <= 6


def test_odd_sizes_are_padded_to_even(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    _write(out, [0.0, 0.04, 0.08], width=47, height=33)
    frame = next(iter(read_frames(out)))
    assert frame.rgb.shape == (34, 48, 3)
    assert abs(int(frame.rgb[-1, -1, 1]) - int(picture(0, 47, 33)[-1, -1, 1])) < 6


def test_repeated_times_keep_every_frame_in_order(tmp_path: Path) -> None:
    out = tmp_path / "same.mp4"
    _write(out, [0.0, 0.04, 0.04, 0.08])
    times, _, _ = decoded_times(out)
    assert len(times) == 4 and bool(np.all(np.diff(times) > 0))


def test_writer_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous video")
    with pytest.raises(RuntimeError), H264Writer(out, 32, 32, 25) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8), 0.0)
        raise RuntimeError("render failed")
    assert out.read_bytes() == b"previous video"
    assert os.listdir(tmp_path) == ["keep.mp4"]
    with (
        pytest.raises(VideoError, match="no frames"),
        H264Writer(tmp_path / "none.mp4", 32, 32, 25),
    ):
        pass
    assert os.listdir(tmp_path) == ["keep.mp4"]


def test_writer_rejects_bad_frames_and_sizes(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="1x32"):
        H264Writer(tmp_path / "x.mp4", 1, 32, 25)
    with (
        pytest.raises(InvalidInputError, match=r"\(32, 32, 3\) uint8"),
        H264Writer(tmp_path / "x.mp4", 32, 32, 25) as writer,
    ):
        writer.write(np.zeros((32, 30, 3), np.uint8), 0.0)
    assert not (tmp_path / "x.mp4").exists()
