"""The benchmark environment (.venv-bench): the project plus the peers, never the main venv.

`make bench-env` creates it with pip (bench/requirements-peers.txt) and then runs
`python -m bench.bench_env prepare` inside it, which
- puts the lite and heavy BlazePose landmark models into mediapipe's package folder: the wheel
  ships only the full one and would download the others at run time (which cannot work here);
  they are copied from our model cache (`liftstream models prepare` fetched them from
  @mediapipe/pose on npm), so both pipelines run the very same weights;
- checks that mediapipe's Pose and OpenCV's CSRT and KCF trackers can be created.
`python -m bench.bench_env check` only checks (exit 0 when the peers are usable).

The harness finds this environment by `peer_python()`: $LIFTSTREAM_BENCH_PYTHON, else the
running interpreter when it has the peers, else .venv-bench/bin/python in the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = REPO / ".venv-bench"
MEDIAPIPE_VERSION = "0.10.14"
_MISSING_LANDMARKS = ("pose_landmark_lite.tflite", "pose_landmark_heavy.tflite")
SETUP_HINT = "run `make bench-env` (creates .venv-bench with mediapipe and opencv-contrib)"


def problems() -> list[str]:
    """What keeps the peers from running in this interpreter (empty: ready)."""
    found: list[str] = []
    try:
        import mediapipe
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError as exc:
        return [f"mediapipe is not installed ({exc})"]
    if mediapipe.__version__ != MEDIAPIPE_VERSION:
        found.append(f"mediapipe {mediapipe.__version__}, expected {MEDIAPIPE_VERSION}")
    folder = Path(mp_pose.__file__).resolve().parents[2] / "modules" / "pose_landmark"
    found += [f"{folder / n} is missing" for n in _MISSING_LANDMARKS if not (folder / n).is_file()]
    from bench.bar_peer import PEERS, opencv_tracker

    for kind in PEERS:
        try:
            opencv_tracker(kind)
        except RuntimeError as exc:
            found.append(str(exc))
    return found


def prepare(model_dir: Path) -> list[str]:
    """Copy the lite/heavy tflite files from our model cache into mediapipe; then problems()."""
    from mediapipe.python.solutions import pose as mp_pose

    folder = Path(mp_pose.__file__).resolve().parents[2] / "modules" / "pose_landmark"
    for name in _MISSING_LANDMARKS:
        source = model_dir / "sources" / name
        if not source.is_file():
            return [f"{source} is missing: run `liftstream models prepare` (it needs npm)"]
        shutil.copyfile(source, folder / name)
    return problems()


def peer_python() -> tuple[str | None, str]:
    """(interpreter with the peers, how it was found) or (None, why not)."""
    env = os.environ.get("LIFTSTREAM_BENCH_PYTHON")
    candidates = [env] if env else []
    if not env:
        candidates += [sys.executable, str(BENCH_VENV / "bin" / "python")]
    for python in dict.fromkeys(candidates):
        if not Path(python).is_file():
            continue
        check = subprocess.run(
            [python, "-m", "bench.bench_env", "check"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check.returncode == 0:
            return python, f"peers from {python}"
        last = check.stdout.strip().splitlines()[-1:] or check.stderr.strip().splitlines()[-1:]
        if env:
            return None, f"LIFTSTREAM_BENCH_PYTHON={env} cannot run the peers: {' '.join(last)}"
    return None, f"peers not installed: {SETUP_HINT}"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "prepare":
        from server.settings import Settings

        found = prepare(Settings.from_env().model_dir)
    elif command == "check":
        found = problems()
    else:
        print(f"usage: python -m bench.bench_env prepare|check (got {command!r})")
        return 2
    for line in found:
        print(f"bench env: {line}")
    if not found:
        import cv2
        import mediapipe

        print(f"bench env ready: mediapipe {mediapipe.__version__}, opencv {cv2.__version__}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
