"""Thread counts for the offline pass over a clip (`measure.measure_clip`).

The pass already runs its stages side by side, each on a thread of its own: decoding (the reader's
prefetch thread), the pose (a worker thread) and the plate search with the camera motion (the
caller's thread). On a 2-core machine the stages' own thread pools, onnxruntime's intra-op threads
and OpenCV's parallel loops, only add hand-offs between threads that all want the same two cores:
on the competition snatch with the lite model the pass took 26.1 ms of CPU a frame with them and
22.2 ms with one thread each, 66.6 -> 73.5 frames/s (medians of 8 interleaved runs, 2026-12-03).
Above two cores the pose, which is on the critical path, gets the cores the other two stages
leave; OpenCV keeps its default. Those counts are a choice, not measured here (this machine has
two cores).

The live server does not use these: its streams share one pose service and one plate-search
thread, and its latency, not its throughput, is what counts (`server/stream/live_pipeline.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2

from server.pose.runtime import cores

# Threads of the pass that are busy all the time: decoding and the plate search + camera motion.
OTHER_STAGES = 2
MAX_POSE_THREADS = 4  # more do not speed up a 256x256 landmark model


def pose_threads(n_cores: int | None = None) -> int:
    """onnxruntime intra-op threads for the pass's pose: one on up to two cores, else the cores
    the other stages leave, at most MAX_POSE_THREADS."""
    n = cores() if n_cores is None else n_cores
    return max(1, min(MAX_POSE_THREADS, n - OTHER_STAGES))


def opencv_threads(n_cores: int | None = None) -> int | None:
    """OpenCV's thread count for the pass: 1 on up to two cores, None (its default) above."""
    n = cores() if n_cores is None else n_cores
    return 1 if n <= OTHER_STAGES else None


def use_offline_threads() -> int:
    """Set OpenCV's thread count for a process that runs offline passes (the `analyze` command,
    the job process, the benchmark's workers) and return the pose threads to give its
    InferenceService. OpenCV's count is process-wide: for such processes only."""
    cv = opencv_threads()
    if cv is not None:
        cv2.setNumThreads(cv)
    return pose_threads()


@contextmanager
def offline_threads() -> Iterator[int]:
    """use_offline_threads() for a block of a process that does other work too: OpenCV's count
    is put back afterwards. Yields the pose threads."""
    previous = cv2.getNumThreads()
    try:
        yield use_offline_threads()
    finally:
        cv2.setNumThreads(previous)
