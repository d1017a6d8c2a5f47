"""The benchmark's pure helpers: errors, percentiles, ratios, sample-to-frame matching, frame
files and the live summary (no timing is asserted anywhere)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench.frames import FrameStore
from bench.live import EncodedClip, StreamRun, summarise
from bench.pose_peer import agreement_px
from bench.stats import (
    RTP_HZ,
    Spread,
    match_samples,
    position_errors,
    rate,
    ratio,
    rmse,
    ticks,
)


def test_position_errors_are_distances_and_nan_where_lost() -> None:
    est = np.array([[3.0, 4.0], [np.nan, np.nan], [1.0, 1.0]])
    truth = np.zeros((3, 2))
    errors = position_errors(est, truth)
    assert errors[0] == 5.0 and math.isnan(errors[1]) and errors[2] == pytest.approx(math.sqrt(2))
    assert rmse(errors) == pytest.approx(math.sqrt((25 + 2) / 2))


def test_position_errors_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        position_errors(np.zeros((3, 2)), np.zeros((2, 2)))


def test_rmse_of_nothing_is_nan() -> None:
    assert math.isnan(rmse([np.nan, np.nan]))
    assert math.isnan(rmse([]))


@pytest.mark.parametrize(
    ("ours", "peer", "expected"),
    [(1.0, 4.0, 0.25), (3.0, 3.0, 1.0), (None, 2.0, None), (2.0, 0.0, None), (math.nan, 1.0, None)],
)
def test_ratio(ours: float | None, peer: float | None, expected: float | None) -> None:
    assert ratio(ours, peer) == expected


def test_spread_percentiles_in_ms() -> None:
    s = Spread.of_seconds([0.001 * i for i in range(1, 101)])
    assert s.count == 100 and s.max_ms == pytest.approx(100.0)
    assert s.p50_ms == pytest.approx(50.5) and s.p99_ms == pytest.approx(99.01)
    assert s.mean_ms == pytest.approx(50.5)
    assert Spread.of_seconds([]).count == 0


def test_samples_match_their_frames_by_stream_time() -> None:
    # frames at 30 fps, sent at 10.0 + t; samples carry t rounded to 0.1 ms as the server sends
    times = [i / 30 for i in range(6)]
    sent = {ticks(t): 10.0 + t for t in times}
    samples = [(round(t, 4), 10.0 + t + 0.05) for t in times[1:4]]
    samples.append((round(times[2], 4), 99.0))  # a second sample for frame 2: ignored
    samples.append((0.5, 10.6))  # no frame at 0.5 s
    m = match_samples(sent, samples)
    assert m.latencies_s == pytest.approx([0.05, 0.05, 0.05])
    assert m.duplicates == 1 and m.unmatched == 1


def test_matching_tolerance_is_below_the_frame_interval() -> None:
    sent = {ticks(0.0): 1.0, ticks(1 / 60): 2.0}
    assert match_samples(sent, [(0.004, 3.0)]).unmatched == 1
    assert match_samples(sent, [(1 / 60 + 0.0002, 3.0)]).latencies_s == [1.0]
    assert match_samples({}, [(0.0, 1.0)]).unmatched == 1


def test_ticks_and_rate() -> None:
    assert ticks(1 / 30) == RTP_HZ // 30
    assert rate(30, 1.0) == 30.0 and rate(5, 0.0) == 0.0


def test_keypoint_agreement_uses_frames_both_found() -> None:
    ours = np.zeros((3, 33, 2), np.float32)
    peer = np.full((3, 33, 2), np.nan, np.float32)
    assert math.isnan(agreement_px(ours, peer))
    peer[1] = 3.0  # both found a pose in frame 1 only: every keypoint 3*sqrt(2) px apart
    assert agreement_px(ours, peer) == pytest.approx(3 * math.sqrt(2), rel=1e-6)


def test_frame_store_round_trip(tmp_path: Path) -> None:
    frames = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    raw = tmp_path / "clip.rgb"
    raw.write_bytes(frames.tobytes())
    store = FrameStore("clip", raw, (0.0, 0.04), (5, 4))
    again = FrameStore.from_json(store.to_json())
    read = list(again)
    assert [t for t, _ in read] == [0.0, 0.04]
    np.testing.assert_array_equal(np.stack([f for _, f in read]), frames)
    short = FrameStore("clip", raw, (0.0, 0.04, 0.08), (5, 4))
    with pytest.raises(ValueError, match="ends before"):
        list(short)


def test_live_summary_counts_rates_and_latency() -> None:
    t = tuple(i / 30 for i in range(30))
    clip = EncodedClip("c", (640, 480), t, tuple(b"" for _ in t))
    run = StreamRun(connection_id="a")
    run.sent = {ticks(x): 100.0 + x for x in t}
    run.samples = [(round(x, 4), 100.0 + x + 0.04) for x in t[:27]]
    run.summaries_at = [100.0 + t[20]]
    server = {
        "streams": [
            {
                "connection_id": "a",
                "frames_received": 29,
                "frames_processed": 27,
                "dropped_frames": 2,
                "dropped_samples": 0,
                "latency": {"p50_ms": 5.0, "p99_ms": 9.0, "max_ms": 9.5},
                "processing": {"p50_ms": 4.0, "p99_ms": 8.0, "max_ms": 8.5},
            }
        ]
    }
    row = summarise(1, clip, [run], server)
    assert clip.fps == pytest.approx(30.0) and clip.duration_s == pytest.approx(1.0)
    assert row["frames_sent"] == 30 and row["dropped_frames"] == 2
    assert row["sent_fps_per_stream"] == pytest.approx(30.0)
    assert row["processed_fps_per_stream"] == pytest.approx(27.0)
    assert not row["all_full_rate"]  # 27 of 30 is under 95 %
    assert row["latency_ms"]["count"] == 27 and row["latency_ms"]["p99_ms"] == pytest.approx(40.0)
    assert row["latency_before_finalise_ms"]["count"] == 20
    assert row["server_latency_p99_ms"] == 9.0 and row["server_processing_p50_ms"] == 4.0
    (stream,) = row["per_stream"]
    assert stream["lift_summaries"] == 1 and stream["unmatched_samples"] == 0


def test_merge_passes_keeps_each_clips_median_pass_and_every_value() -> None:
    from bench.peers import merge_passes

    passes = [
        {
            "rows": [{"clip": "a", "fps": 30.0, "x": 1}, {"clip": "b", "fps": 5.0}],
            "peak_rss_mib": 10,
        },
        {
            "rows": [{"clip": "a", "fps": 10.0, "x": 2}, {"clip": "b", "fps": 7.0}],
            "peak_rss_mib": 12,
        },
        {
            "rows": [{"clip": "a", "fps": 20.0, "x": 3}, {"clip": "b", "fps": 6.0}],
            "peak_rss_mib": 11,
        },
    ]
    merged = merge_passes(passes, "fps")
    assert merged["peak_rss_mib"] == 12
    assert merged["rows"][0] == {"clip": "a", "fps": 20.0, "x": 3, "passes_fps": [30.0, 10.0, 20.0]}
    assert merged["rows"][1]["fps"] == 6.0 and merged["rows"][1]["passes_fps"] == [5.0, 7.0, 6.0]
    assert merge_passes([passes[0], {"error": "worker exited 1"}], "fps") == {
        "error": "worker exited 1"
    }
