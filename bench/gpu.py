"""The GPU check: landmark-model throughput and latency per batch size on the CUDA provider, and
from them how many 30 fps streams one GPU serves with what p99 latency.

Run on a machine with an NVIDIA GPU, the `gpu` extra (onnxruntime-gpu) and the model cache:

    python -m bench.gpu --out bench/results/gpu.json

It refuses to report CPU figures as GPU ones: without the CUDA provider it stops with a message,
unless `--provider cpu` is given (what the test does, to keep the script from rotting).

Per variant (lite, full, heavy) and batch size b (1-64): `runs` back-to-back runs of a batch of b
random 256x256 crops through the landmark session the server uses (same outputs kept, I/O on the
host like the server's), after a warm-up. From the run times:

- images_per_s = b / mean run time;
- streams_at_30fps = floor(images_per_s / 30): streams whose every frame gets a landmark run, when
  the service batches across them b at a time;
- p99_frame_ms = p99 run time + the time a frame waits for its batch to fill, b / (30 * streams)
  seconds at most (the batching window the service would need): the frame-to-landmarks latency
  a stream sees, the pose stage's share of frame-to-event.

The detector runs only when a lifter is lost (a few frames per lift) and is left out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCHES = (1, 2, 4, 8, 16, 32, 64)
VARIANTS = ("lite", "full", "heavy")
FPS = 30.0


def measure(
    model_dir: Path, variant: str, batches: tuple[int, ...], runs: int, provider: str
) -> list[dict[str, Any]]:
    from server.pose.models import ModelCache, landmark_model_name
    from server.pose.runtime import CPU, CUDA, OnnxModel
    from server.pose.service import LANDMARK_OUTPUTS

    path = ModelCache(model_dir).onnx_path(landmark_model_name(variant))
    wanted = CUDA if provider == "cuda" else CPU
    model = OnnxModel(path, providers=[wanted], outputs=LANDMARK_OUTPUTS)
    if model.providers[0] != wanted:
        raise SystemExit(
            f"{wanted} is not available here (onnxruntime offers {model.providers}); install the "
            "gpu extra on a machine with an NVIDIA GPU, or pass --provider cpu"
        )
    rng = np.random.default_rng(0)
    rows = []
    for b in batches:
        crops = rng.uniform(0.0, 1.0, (b, 256, 256, 3)).astype(np.float32)
        for _ in range(3):  # warm-up: allocations, kernel selection
            model.run(crops)
        seconds = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model.run(crops)
            seconds.append(time.perf_counter() - t0)
        ms = 1000.0 * np.asarray(seconds)
        per_s = b / (float(ms.mean()) / 1000.0)
        streams = math.floor(per_s / FPS)
        fill_ms = 1000.0 * b / (FPS * streams) if streams else math.inf
        rows.append(
            {
                "variant": variant,
                "provider": model.providers[0],
                "batch": b,
                "runs": runs,
                "run_p50_ms": round(float(np.percentile(ms, 50)), 3),
                "run_p99_ms": round(float(np.percentile(ms, 99)), 3),
                "images_per_s": round(per_s, 1),
                "streams_at_30fps": streams,
                "p99_frame_ms": round(float(np.percentile(ms, 99)) + fill_ms, 2)
                if streams
                else None,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["variant batch run_p50_ms run_p99_ms images/s streams@30fps p99_frame_ms"]
    for r in rows:
        lines.append(
            f"{r['variant']:7s} {r['batch']:5d} {r['run_p50_ms']:10.2f} {r['run_p99_ms']:10.2f} "
            f"{r['images_per_s']:8.1f} {r['streams_at_30fps']:13d} {r['p99_frame_ms']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from server.settings import Settings

    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    p.add_argument("--provider", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--batches", default=",".join(map(str, BATCHES)))
    p.add_argument("--runs", type=int, default=200, help="timed runs per batch size")
    p.add_argument("--model-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("bench/results/gpu.json"))
    args = p.parse_args(argv)
    model_dir = args.model_dir or Settings().model_dir
    batches = tuple(int(b) for b in args.batches.split(","))
    rows: list[dict[str, Any]] = []
    for variant in args.variants.split(","):
        rows += measure(model_dir, variant, batches, args.runs, args.provider)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": sys.version.split()[0],
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(table(rows))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
