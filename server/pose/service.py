"""The pose inference service shared by every live stream and the upload worker.

It owns one detector and one landmark OnnxModel, created once. Synchronous callers run a batch
directly; async callers submit one image each and a single worker thread gathers whatever
arrives within a short window (max_wait_s, or until max_batch) into one batch along the models'
dynamic batch axis, runs it off the event loop, and resolves each caller's future on its own loop.
All model runs are serialised by one lock: on a 2-core CPU two concurrent sessions only fight
over the cores, and on a GPU one stream of batches is what the device wants.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError, LiftStreamError
from server.pose.models import DETECTOR, ModelCache, landmark_model_name
from server.pose.runtime import AUTO, OnnxModel, choose_providers, choose_variant, cores

log = logging.getLogger(__name__)

Kind = Literal["detect", "landmarks"]
# What the pose stage reads from a landmark model: landmarks, presence, heatmap, world landmarks.
# Its fifth output, the 256x256 segmentation mask, is never computed: cutting that branch makes a
# landmark run 2-3x faster on the CPU (lite 15 -> 5 ms, full 20 -> 11 ms here, 2026-12-02).
LANDMARK_OUTPUTS = ("Identity", "Identity_1", "Identity_3", "Identity_4")


@dataclass(frozen=True)
class DetectorRaw:
    """Raw detector outputs for one image. boxes: (2254, 12); scores: (2254, 1) logits."""

    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]


@dataclass(frozen=True)
class LandmarkRaw:
    """Raw landmark-model outputs for one crop.

    landmarks: (195,) 39 x (x, y, z, visibility logit, presence logit) in 256-px crop units.
    presence: pose presence probability. heatmap: (64, 64, 39) logits. world: (117,) metres.
    """

    landmarks: NDArray[np.float32]
    presence: float
    heatmap: NDArray[np.float32]
    world: NDArray[np.float32]


Result = DetectorRaw | LandmarkRaw


@dataclass
class _Request:
    kind: Kind
    image: NDArray[np.float32]
    future: asyncio.Future[Result]
    loop: asyncio.AbstractEventLoop


def _resolve(future: asyncio.Future[Result], value: Result | BaseException) -> None:
    # runs on the caller's loop; the caller may have been cancelled meanwhile
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


def resolve_variant(variant: str, cache: ModelCache, providers: Sequence[str] | None = None) -> str:
    """`variant` itself, or for "auto" the one `runtime.choose_variant` picks for this machine and
    model cache (logged). The cache remembers what it verified, so the service that loads the
    choice from the same cache does not hash it again."""
    if variant != AUTO:
        return variant
    chosen = choose_variant(cache.available_variants(), choose_providers(providers), cores())
    log.info("landmark variant auto: %s", chosen)
    return chosen


class InferenceService:
    """Detector + landmark models behind a sync batch API and an async batching API.

    model_dir: the model cache (Settings.model_dir). variant: "lite", "full", "heavy" or "auto"
    (chosen from the hardware, `resolve_variant`; `variant` then holds the choice).
    max_batch: most images per model run. max_wait_s: how long the worker waits after the first
    request for others to join its batch.
    """

    def __init__(
        self,
        model_dir: Path,
        variant: str = "full",
        *,
        providers: Sequence[str] | None = None,
        intra_threads: int | None = None,
        max_batch: int = 16,
        max_wait_s: float = 0.003,
    ) -> None:
        if max_batch < 1:
            raise InvalidInputError(f"max_batch must be >= 1, got {max_batch}")
        if not 0 <= max_wait_s <= 1:
            raise InvalidInputError(f"max_wait_s must be in [0, 1] s, got {max_wait_s}")
        cache = ModelCache(model_dir)
        self.variant = variant = resolve_variant(variant, cache, providers)
        self.detector = OnnxModel(cache.onnx_path(DETECTOR), providers, intra_threads)
        self.landmark = OnnxModel(
            cache.onnx_path(landmark_model_name(variant)),
            providers,
            intra_threads,
            outputs=LANDMARK_OUTPUTS,
        )
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        # how many model runs of each batch size the async path made (for tests and /metrics)
        self.batch_sizes: Counter[int] = Counter()
        self._run_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._worker = threading.Thread(target=self._serve, name="pose-inference", daemon=True)
        self._worker.start()

    @property
    def providers(self) -> list[str]:
        return self.landmark.providers

    def warm_up(self) -> None:
        """Run each model once on a blank input: a session's first run allocates its buffers
        (tens of ms), which should not land on the first frame someone is waiting for."""
        self.detect(np.zeros((1, *self.detector.image_shape), np.float32))
        self.landmarks(np.zeros((1, *self.landmark.image_shape), np.float32))

    # synchronous batch API -------------------------------------------------------------------

    def detect(self, images_224: NDArray[np.float32]) -> list[DetectorRaw]:
        """(N, 224, 224, 3) float32 in [-1, 1] -> one DetectorRaw per image."""
        self._check_open()
        return self._detect(images_224)

    def landmarks(self, crops_256: NDArray[np.float32]) -> list[LandmarkRaw]:
        """(N, 256, 256, 3) float32 in [0, 1] -> one LandmarkRaw per crop."""
        self._check_open()
        return self._landmarks(crops_256)

    def _detect(self, images_224: NDArray[np.float32]) -> list[DetectorRaw]:
        with self._run_lock:
            out = self.detector.run(images_224)
        boxes, scores = out["Identity"], out["Identity_1"]
        return [DetectorRaw(boxes[i], scores[i]) for i in range(boxes.shape[0])]

    def _landmarks(self, crops_256: NDArray[np.float32]) -> list[LandmarkRaw]:
        with self._run_lock:
            out = self.landmark.run(crops_256)
        lm, presence = out["Identity"], out["Identity_1"].reshape(-1)
        heatmap, world = out["Identity_3"], out["Identity_4"]
        return [
            LandmarkRaw(lm[i], float(presence[i]), heatmap[i], world[i]) for i in range(lm.shape[0])
        ]

    # async single-image API ------------------------------------------------------------------

    async def detect_async(self, image_224: NDArray[np.float32]) -> DetectorRaw:
        """One (224, 224, 3) float32 image, batched with concurrent callers."""
        self.detector.validate(image_224[None] if isinstance(image_224, np.ndarray) else image_224)
        result = await self._submit("detect", image_224)
        assert isinstance(result, DetectorRaw)
        return result

    async def landmarks_async(self, crop_256: NDArray[np.float32]) -> LandmarkRaw:
        """One (256, 256, 3) float32 crop, batched with concurrent callers."""
        self.landmark.validate(crop_256[None] if isinstance(crop_256, np.ndarray) else crop_256)
        result = await self._submit("landmarks", crop_256)
        assert isinstance(result, LandmarkRaw)
        return result

    async def _submit(self, kind: Kind, image: NDArray[np.float32]) -> Result:
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put(_Request(kind, image, future, loop))
        return await future

    # worker ----------------------------------------------------------------------------------

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            pending = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(pending) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                pending.append(item)
            for kind in ("detect", "landmarks"):
                group = [r for r in pending if r.kind == kind and not r.future.done()]
                if group:
                    self._run_group(kind, group)
        self._fail_queued()

    def _run_group(self, kind: Kind, group: list[_Request]) -> None:
        batch = np.stack([r.image for r in group])
        results: Sequence[Result | BaseException]
        try:
            results = self._detect(batch) if kind == "detect" else self._landmarks(batch)
            self.batch_sizes[len(group)] += 1
        except Exception as exc:  # handed to every caller in the batch, never swallowed
            log.exception("pose %s batch of %d failed", kind, len(group))
            results = [exc] * len(group)
        for request, value in zip(group, results, strict=True):
            try:
                request.loop.call_soon_threadsafe(_resolve, request.future, value)
            except RuntimeError:  # the caller's loop has closed; nobody is waiting
                log.debug("dropping a pose result for a closed event loop")

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                error = LiftStreamError("the pose inference service was closed")
                # a closed loop has nobody left waiting
                with contextlib.suppress(RuntimeError):
                    item.loop.call_soon_threadsafe(_resolve, item.future, error)

    # lifetime --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LiftStreamError("the pose inference service is closed")

    def close(self) -> None:
        """Stop the worker (finishing the batch in hand) and fail requests still queued."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)
        if threading.current_thread() is not self._worker:
            self._worker.join(timeout=10)

    def __enter__(self) -> InferenceService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
