"""One measurement in a fresh process: `python -m bench.worker SPEC.json RESULT.json`.

A fresh process per measured implementation keeps their thread pools and caches apart and gives
each its own peak memory (the process's high-water resident set, VmHWM). The peers run under the
benchmark environment's interpreter (.venv-bench), ours under whichever runs the harness.

SPEC: {"task": "pose-ours" | "pose-mediapipe" | "pipeline" | "bar", ...task arguments}.
RESULT: {"rows": [...], "peak_rss_mib": float, "python": ..., "versions": {...}}.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from bench.frames import FrameStore


def peak_rss_mib() -> float:
    """This process's peak resident set size, MiB (VmHWM from /proc; ru_maxrss elsewhere)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _versions() -> dict[str, str]:
    out = {}
    for name in ("numpy", "cv2", "onnxruntime", "mediapipe"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = str(getattr(module, "__version__", "?"))
    return out


def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    from bench import bar_peer, pose_peer

    task = spec["task"]
    stores = [FrameStore.from_json(s) for s in spec.get("stores", [])]
    if task == "pose-ours":
        return pose_peer.ours(Path(spec["model_dir"]), spec["variant"], stores, Path(spec["out"]))
    if task == "pose-mediapipe":
        return pose_peer.mediapipe(spec["variant"], stores, Path(spec["out"]))
    if task == "pipeline":
        clips = [(name, Path(path), exercise) for name, path, exercise in spec["clips"]]
        return pose_peer.pipeline(Path(spec["model_dir"]), spec["variant"], clips)
    if task == "bar":
        truth = [Path(t) for t in spec["truth"]]
        bars = [bar_peer.TruthClip(s, t) for s, t in zip(stores, truth, strict=True)]
        return [bar_peer.run(c, tracker) for c in bars for tracker in spec["trackers"]]
    raise ValueError(f"unknown bench task {task!r}")


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    rows = run(json.loads(spec_path.read_text()))
    result = {
        "rows": rows,
        "peak_rss_mib": peak_rss_mib(),
        "python": f"{platform.python_version()} ({sys.executable})",
        "versions": _versions(),
    }
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
