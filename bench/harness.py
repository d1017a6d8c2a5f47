"""`liftstream bench [--short]`: pose cost per frame and offline analysis speed, as JSON + a table.

Short mode (CI, a few seconds): the full landmark model at batch 1 and 4, and `analyze` on a
short synthetic 480p clip. Full mode: lite/full/heavy at batch 1/4/16, `analyze` on each shared
real clip that holds a side-view Olympic lift, and on synthetic 720p and 1080p snatches.
Figures are wall-clock on the machine it runs on; the JSON records which, and the load.

Then, in the same run: ours against the peers (bench/peers.py: mediapipe's pose pipeline, OpenCV's
CSRT and KCF trackers, the whole pipeline against mediapipe's pose alone, peak memory of each
worker process; the peers need the benchmark environment, `make bench-env`) and live streaming
with N = 1, 2, 4, 8 WebRTC clients (bench/live.py). Short mode runs our side of those on small
clips, one stream, and skips the peers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.live import run as run_live
from bench.peers import PASSES, run_peers
from bench.report import live_lines, peer_lines
from bench.stats import median_index

REAL_CLIPS = {"snatch_side_competition_wdias.mp4": "snatch"}
CLIPS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "clips"


def _pose_costs(
    model_dir: Path, variants: list[str], batches: list[int], reps: int
) -> list[dict[str, Any]]:
    from server.pose.service import InferenceService

    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)
    for variant in variants:
        try:
            service = InferenceService(model_dir, variant)
        except Exception as exc:  # a variant that was not prepared (npm absent): say so
            rows.append({"variant": variant, "error": str(exc)})
            continue
        with service:
            det = rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
            service.detect(det)
            t0 = time.perf_counter()
            for _ in range(reps):
                service.detect(det)
            det_ms = 1000 * (time.perf_counter() - t0) / reps
            for batch in batches:
                crops = rng.uniform(0, 1, (batch, 256, 256, 3)).astype(np.float32)
                service.landmarks(crops)
                t0 = time.perf_counter()
                for _ in range(reps):
                    service.landmarks(crops)
                per_image = 1000 * (time.perf_counter() - t0) / (reps * batch)
                rows.append(
                    {
                        "variant": variant,
                        "batch": batch,
                        "detector_ms": round(det_ms, 2),
                        "landmark_ms_per_image": round(per_image, 2),
                    }
                )
    return rows


def _analyze_speed(
    model_dir: Path, clips: list[tuple[str, Path, str]], passes: int = 1
) -> list[dict[str, Any]]:
    """`analyze` (render included) of each clip `passes` times with one warm service; the
    median run is reported, with every run's speed beside it."""
    from server.analysis.pipeline import AnalysisOptions, analyze_video
    from server.analysis.threads import offline_threads
    from server.pose.service import InferenceService
    from server.video.reader import probe

    rows = []
    # As `liftstream analyze` runs it; OpenCV's thread count is put back for the rest of the run.
    with (
        offline_threads() as threads,
        InferenceService(model_dir, "full", intra_threads=threads) as service,
    ):
        for name, path, exercise in clips:
            info = probe(path)
            walls = []
            for _ in range(passes):
                with tempfile.TemporaryDirectory() as out:
                    t0 = time.perf_counter()
                    try:
                        doc = analyze_video(
                            path, AnalysisOptions(exercise=exercise), out, service=service
                        )
                        frames = len(doc["timestamps"])
                        error = None
                    except Exception as exc:  # report, do not stop the run
                        frames, error = info.frame_count, str(exc)
                    walls.append(time.perf_counter() - t0)
            wall = walls[median_index(walls)]
            video_s = frames / info.fps if info.fps else info.duration_s
            rows.append(
                {
                    "clip": name,
                    "size": f"{info.width}x{info.height}",
                    "frames": frames,
                    "wall_s": round(wall, 2),
                    "fps": round(frames / wall, 1),
                    "x_realtime": round(video_s / wall, 2),
                    "passes_x_realtime": [round(video_s / w, 2) for w in walls],
                    **({"error": error} if error else {}),
                }
            )
    return rows


def _synthetic(tmp: Path, size: tuple[int, int], seconds_hold: float) -> Path:
    from server.synth.clip import RenderOptions, render_clip
    from server.synth.trajectory import make_trajectory

    traj = make_trajectory("snatch", seed=1, lift_start=0.6, hold=seconds_hold)
    path = tmp / f"synthetic-{size[1]}p.mp4"
    render_clip(traj, path, fps=30.0, size=size, options=RenderOptions(seed=1, noise_sigma=2.0))
    return path


def run(short: bool, model_dir: Path) -> dict[str, Any]:
    load_start = _load_average()
    cpu_start = mark = _cpu_snapshot()
    # per section: how busy the machine was, and how much of that was other work
    cpu: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if short:
            pose = _pose_costs(model_dir, ["full"], [1, 4], reps=3)
            clips = [("synthetic 480p", _synthetic(tmp, (854, 480), 0.3), "snatch")]
        else:
            pose = _pose_costs(model_dir, ["lite", "full", "heavy"], [1, 4, 16], reps=10)
            clips = [
                (name, CLIPS_DIR / name, ex)
                for name, ex in REAL_CLIPS.items()
                if (CLIPS_DIR / name).is_file()
            ]
            clips += [
                ("synthetic 720p", _synthetic(tmp, (1280, 720), 0.8), "snatch"),
                ("synthetic 1080p", _synthetic(tmp, (1920, 1080), 0.8), "snatch"),
            ]
        mark = _section(cpu, "pose", mark)
        analyze = _analyze_speed(model_dir, clips, passes=1 if short else PASSES)
        mark = _section(cpu, "analyze", mark)
        # Ours against mediapipe and OpenCV's trackers, and live streaming (bench/peers.py,
        # bench/live.py); in short mode our side only, on small clips, without the peers.
        peers = run_peers(model_dir, tmp, short)
        mark = _section(cpu, "peers", mark)
        live = run_live(tmp, CLIPS_DIR, short)
        _section(cpu, "live", mark)
    return {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average": {"start": load_start, "end": _load_average()},
        "cpu": {"run": _cpu_use(cpu_start, _cpu_snapshot()), **cpu},
        "mode": "short" if short else "full",
        "pose": pose,
        "analyze": analyze,
        **peers,
        "live": live,
    }


Snapshot = tuple[float, float, float] | None


def _section(cpu: dict[str, Any], name: str, start: Snapshot) -> Snapshot:
    end = _cpu_snapshot()
    cpu[name] = _cpu_use(start, end)
    return end


def _cpu_snapshot() -> Snapshot:
    """(wall s, machine busy CPU s, CPU s of this process and its finished children)."""
    import resource

    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    own = sum(
        r.ru_utime + r.ru_stime
        for r in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )
    return time.monotonic(), busy, own


def _cpu_use(start: Snapshot, end: Snapshot) -> dict[str, float] | None:
    """How busy the machine was during the run, in cores, and how much of it was not the bench
    (other work skews every figure; `other_cores` near 0 means a quiet machine)."""
    if start is None or end is None or end[0] <= start[0]:
        return None
    wall = end[0] - start[0]
    busy, own = (end[1] - start[1]) / wall, (end[2] - start[2]) / wall
    return {
        "wall_s": round(wall, 1),
        "busy_cores": round(busy, 2),
        "bench_cores": round(own, 2),
        "other_cores": round(max(0.0, busy - own), 2),
    }


def _load_average() -> list[float] | None:
    """The 1, 5 and 15 min load averages (other work on the machine skews every figure)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def table(result: dict[str, Any]) -> str:
    lines = [f"LiftStream bench ({result['mode']}) {result['date']} on {result['machine']}"]
    for section, use in (result.get("cpu") or {}).items():
        if use:
            lines.append(
                f"cpu, {section}: {use['busy_cores']} cores busy, {use['other_cores']} of them "
                f"not this bench ({use['wall_s']} s)"
            )
    lines.append("")
    lines.append("pose: variant batch detector_ms landmark_ms/image")
    for r in result["pose"]:
        if "error" in r:
            lines.append(f"  {r['variant']}: {r['error']}")
        else:
            lines.append(
                f"  {r['variant']:<6} {r['batch']:>3} {r['detector_ms']:>8.2f} "
                f"{r['landmark_ms_per_image']:>8.2f}"
            )
    lines.append("analyze (median run): clip size frames wall_s fps x_realtime (every run)")
    for r in result["analyze"]:
        runs = " ".join(f"{x:.2f}" for x in r.get("passes_x_realtime", []))
        lines.append(
            f"  {r['clip']:<40} {r['size']:>10} {r['frames']:>5} {r['wall_s']:>7.2f} "
            f"{r['fps']:>6.1f} {r['x_realtime']:>5.2f} ({runs})"
            + (f"  ERROR {r['error']}" if "error" in r else "")
        )
    if "pose_vs_mediapipe" in result:
        lines += peer_lines(result)
    if "live" in result:
        lines += live_lines(result["live"])
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from server.settings import Settings

    result = run(bool(args.short), Settings.from_env().model_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{result['mode']}-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2))
    print(table(result))
    print(f"\nwrote {path}")
    return 0
