"""Ours against the peers, in one run on the same frames: pose, bar tracking, whole pipeline.

Every measurement runs in its own worker process (bench/worker.py): ours under the interpreter
running the harness, the peers under the benchmark environment's (bench_env.peer_python). Frames
are decoded once (bench/frames.py) and read by every worker. Ratios are ours / peer of time per
frame (below 1: ours is faster) and of position error (below 1: ours is more accurate).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench import bar_peer, pose_peer
from bench.bench_env import REPO, peer_python
from bench.frames import FrameStore, decode_to_store
from bench.stats import finite_or_none, median_index, ratio

# Real side-view Olympic lifts of the shared clips (skipped when absent).
POSE_CLIPS = {
    "snatch_side_competition_wdias.mp4": "snatch",
    "snatch_side_ilya_cjwpin.mp4": "snatch",
    "clean_side_pathoverlay_andymarlon.mp4": "clean",
}
WORKER_TIMEOUT_S = 1800
# Timed runs of each clip per side in a full run, interleaved between the sides; the median is
# reported. Single runs on this 2-core machine moved by up to 20 % between full runs (a ratio of
# 0.95 one run, 1.17 the next).
PASSES = 3


def worker(python: str, spec: dict[str, Any], tmp: Path, name: str) -> dict[str, Any]:
    """Run one bench.worker task; its result, or {"error": ...} with the tail of its log."""
    spec_path, result_path = tmp / f"{name}.spec.json", tmp / f"{name}.result.json"
    log = tmp / f"{name}.log"
    spec_path.write_text(json.dumps(spec))
    with log.open("w") as out:
        proc = subprocess.run(
            [python, "-m", "bench.worker", str(spec_path), str(result_path)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
    if proc.returncode != 0 or not result_path.is_file():
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        return {"error": f"worker {name} exited {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def _synthetic_pose_clip(tmp: Path, short: bool) -> tuple[str, Path, str]:
    from server.synth.clip import RenderOptions, render_clip
    from server.synth.trajectory import make_trajectory

    size = (854, 480) if short else (1280, 720)
    traj = make_trajectory("snatch", seed=1, lift_start=0.6, hold=0.2 if short else 0.8)
    path = tmp / f"pose-synthetic-{size[1]}p.mp4"
    render_clip(traj, path, fps=30.0, size=size, options=RenderOptions(seed=1, noise_sigma=2.0))
    return f"synthetic snatch {size[1]}p30 (no person)", path, "snatch"


def merge_passes(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """One worker result from several passes of the same task: per clip, the pass with the median
    `key`, with every pass's value in `passes_<key>`; the highest peak memory; the first error."""
    for result in results:
        if "error" in result:
            return result
    merged = dict(results[0])
    merged["peak_rss_mib"] = max((r.get("peak_rss_mib") or 0) for r in results) or None
    rows = []
    for i in range(len(results[0]["rows"])):
        of_clip = [r["rows"][i] for r in results]
        values = [row[key] for row in of_clip]
        rows.append({**of_clip[median_index(values)], f"passes_{key}": values})
    merged["rows"] = rows
    return merged


def _pose(
    python_ours: str,
    python_peer: str | None,
    model_dir: Path,
    variants: tuple[str, ...],
    clips: list[tuple[str, Path, str]],
    tmp: Path,
    pipeline: bool = True,
    passes: int = 1,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(pose rows, pipeline rows, memory rows). pipeline: also time the whole pipeline. passes:
    timed runs of each clip on each side (the median one is reported)."""
    stores = [decode_to_store(path, tmp / "frames", name) for name, path, _ in clips]
    store_json = [s.to_json() for s in stores]
    pose_rows: list[dict[str, Any]] = []
    pipe_rows: list[dict[str, Any]] = []
    memory: list[dict[str, Any]] = []
    for variant in variants:
        common = {"variant": variant, "stores": store_json, "out": str(tmp)}
        # The passes interleave (ours, mediapipe, our pipeline, then again), each in a fresh
        # process: this machine's speed drifts by 20 % within a minute, and a drift then touches
        # every side alike instead of one side's whole run.
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": [], "pipe": []}
        for n in range(passes):
            runs["ours"].append(
                worker(
                    python_ours,
                    {"task": "pose-ours", "model_dir": str(model_dir), **common},
                    tmp,
                    f"pose-ours-{variant}-{n}",
                )
            )
            if python_peer:
                runs["peer"].append(
                    worker(
                        python_peer,
                        {"task": "pose-mediapipe", **common},
                        tmp,
                        f"pose-mediapipe-{variant}-{n}",
                    )
                )
            if pipeline:
                runs["pipe"].append(
                    worker(
                        python_ours,
                        {
                            "task": "pipeline",
                            "model_dir": str(model_dir),
                            "variant": variant,
                            "clips": [[name, str(p), e] for name, p, e in clips],
                        },
                        tmp,
                        f"pipeline-{variant}-{n}",
                    )
                )
        ours = merge_passes(runs["ours"], "ms_per_frame")
        peer = merge_passes(runs["peer"], "ms_per_frame") if runs["peer"] else None
        pipe = merge_passes(runs["pipe"], "fps") if runs["pipe"] else None
        for label, res in (("ours pose", ours), ("mediapipe pose", peer), ("ours pipeline", pipe)):
            if res is not None:
                memory.append(
                    {
                        "what": f"{label} {variant}",
                        "peak_rss_mib": res.get("peak_rss_mib"),
                        **({"error": res["error"]} if "error" in res else {}),
                    }
                )
        pose_rows += _pose_rows(variant, stores, ours, peer, tmp)
        if pipe is not None:
            pipe_rows += _pipeline_rows(variant, pipe, ours, peer)
    return pose_rows, pipe_rows, memory


def _pose_rows(
    variant: str,
    stores: list[FrameStore],
    ours: dict[str, Any],
    peer: dict[str, Any] | None,
    tmp: Path,
) -> list[dict[str, Any]]:
    if "error" in ours:
        return [{"variant": variant, "error": ours["error"]}]
    rows = []
    peer_rows = peer.get("rows", []) if peer is not None else []
    for i, mine in enumerate(ours["rows"]):
        row: dict[str, Any] = {
            "variant": variant,
            "clip": mine["clip"],
            "size": mine["size"],
            "frames": mine["frames"],
            "ours_ms": mine["ms_per_frame"],
            "ours_passes_ms": mine.get("passes_ms_per_frame"),
            "ours_p50_ms": mine["p50_ms"],
            "ours_found": mine["pose_found"],
            "ours_detector_runs": mine["detector_runs"],
        }
        if peer is None:
            row["peer"] = "skipped (mediapipe not installed)"
        elif "error" in peer:
            row["peer_error"] = peer["error"]
        else:
            theirs = peer_rows[i]
            ours_points = np.load(tmp / f"ours-{variant}-{i}.npy")
            peer_points = np.load(tmp / f"mediapipe-{variant}-{i}.npy")
            row.update(
                mediapipe_ms=theirs["ms_per_frame"],
                mediapipe_passes_ms=theirs.get("passes_ms_per_frame"),
                mediapipe_p50_ms=theirs["p50_ms"],
                mediapipe_found=theirs["pose_found"],
                ratio=ratio(mine["ms_per_frame"], theirs["ms_per_frame"]),
                keypoint_agreement_px=finite_or_none(
                    pose_peer.agreement_px(ours_points, peer_points), 1
                ),
            )
        rows.append(row)
    return rows


def _pipeline_rows(
    variant: str, pipe: dict[str, Any], ours: dict[str, Any], peer: dict[str, Any] | None
) -> list[dict[str, Any]]:
    if "error" in pipe:
        return [{"variant": variant, "error": pipe["error"]}]
    peer_ms = {r["clip"]: r["ms_per_frame"] for r in (peer or {}).get("rows", [])}
    pose_ms = {r["clip"]: r["ms_per_frame"] for r in ours.get("rows", [])}
    rows = []
    for r in pipe["rows"]:
        theirs = peer_ms.get(r["clip"])
        row = {
            "variant": variant,
            "clip": r["clip"],
            "frames": r["frames"],
            "ours_pipeline_fps": r["fps"],
            "ours_pipeline_passes_fps": r.get("passes_fps"),
            "ours_pose_only_fps": round(1000.0 / pose_ms[r["clip"]], 2)
            if r["clip"] in pose_ms
            else None,
            "mediapipe_pose_fps": round(1000.0 / theirs, 2) if theirs else None,
            # time per frame, ours (whole pipeline, decoding included) / mediapipe (pose only,
            # on decoded frames): <= 1 is the goal
            "ratio": ratio(1000.0 / r["fps"], theirs) if theirs else None,
            "decode_ms": r["decode_ms"],
            # the same with mediapipe charged for decoding too
            "ratio_decode_included": ratio(1000.0 / r["fps"], theirs + r["decode_ms"])
            if theirs
            else None,
            **({"error": r["error"]} if "error" in r else {}),
        }
        rows.append(row)
    return rows


def _bar(
    python_ours: str, python_peer: str | None, tmp: Path, short: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(bar rows with ratios against each peer, memory rows)."""
    clips = bar_peer.render_truth_clips(
        tmp, size=(854, 480) if short else (1280, 720), hold=0.2 if short else 0.8, short=short
    )
    trackers = ["ours", *bar_peer.PEERS] if python_peer else ["ours"]
    spec = {
        "task": "bar",
        "stores": [c.store.to_json() for c in clips],
        "truth": [str(c.truth) for c in clips],
        "trackers": trackers,
    }
    res = worker(python_peer or python_ours, spec, tmp, "bar")
    if "error" in res:
        return [{"error": res["error"]}], [{"what": "bar trackers", "error": res["error"]}]
    rows = res["rows"]
    ours = {r["clip"]: r for r in rows if r["tracker"] == "ours"}
    for r in rows:
        mine = ours[r["clip"]]
        if r["tracker"] != "ours":
            r["time_ratio"] = ratio(mine["ms_per_frame"], r["ms_per_frame"])
            r["rmse_ratio"] = ratio(mine["rmse_px"], r["rmse_px"])
    if not python_peer:
        rows.append({"note": "CSRT/KCF skipped (opencv-contrib not installed)"})
    return rows, [{"what": "bar trackers (all, one process)", "peak_rss_mib": res["peak_rss_mib"]}]


def run_peers(model_dir: Path, tmp: Path, short: bool) -> dict[str, Any]:
    """The peers part of the result. Short mode: our side only, one small clip, `full` only."""
    python_ours = sys.executable
    if short:
        python_peer, note = None, "peers skipped in short mode"
    else:
        python_peer, note = peer_python()
    clips: list[tuple[str, Path, str]] = []
    if not short:
        base = REPO.parent / "shared" / "data" / "clips"
        clips = [(n, base / n, e) for n, e in POSE_CLIPS.items() if (base / n).is_file()]
    clips.append(_synthetic_pose_clip(tmp, short))
    variants = ("full",) if short else pose_peer.VARIANTS
    # short mode: the harness's own `analyze` row already runs the whole pipeline
    pose, pipeline, memory = _pose(
        python_ours,
        python_peer,
        model_dir,
        variants,
        clips,
        tmp,
        pipeline=not short,
        passes=1 if short else PASSES,
    )
    bar, bar_memory = _bar(python_ours, python_peer, tmp, short)
    return {
        "peers": note,
        "peer_python": python_peer,
        "pose_vs_mediapipe": pose,
        "pipeline_vs_mediapipe": pipeline,
        "bar_vs_opencv": bar,
        "memory": memory + bar_memory,
    }
