"""The one class that touches onnxruntime: a session over one converted pose model.

Sessions are expensive to build (graph optimisation, weight packing) so each is created once, at
start-up, and shared. InferenceSession.run is thread-safe, so one OnnxModel may serve the batching
worker and direct synchronous callers at the same time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from server.errors import InvalidInputError, ModelMissingError
from server.pose.models import PREPARE_HINT

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def choose_providers(
    requested: Sequence[str] | None = None, available: Sequence[str] | None = None
) -> list[str]:
    """Execution providers in priority order, CPU always present and always last.

    Default: CUDA first when the installed onnxruntime (onnxruntime-gpu) offers it. Requested
    providers that this onnxruntime does not have are dropped with a log line, so a config that
    asks for CUDA still starts on a CPU-only host.
    """
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    if requested is None:
        requested = [CUDA] if CUDA in available else []
    chosen: list[str] = []
    for name in requested:
        if name == CPU or name in chosen:
            continue
        if name not in available:
            log.warning("execution provider %s is not available here; skipping it", name)
            continue
        chosen.append(name)
    # CPU last: it runs every operator, so it is the fallback for anything a GPU provider lacks.
    chosen.append(CPU)
    return chosen


AUTO = "auto"


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def choose_variant(available: Sequence[str], providers: Sequence[str], n_cores: int) -> str:
    """The landmark variant `auto` stands for, from the hardware: heavy when a CUDA device runs
    the models (batched on a GPU it is the most accurate at little cost; not measured on a GPU
    here), full on a CPU with two cores or more (on this 2-core machine it keeps two live streams
    at full rate and analyses 720p30 at 2.2x real time), lite on one core. Falls back along
    heavy -> full -> lite to a variant the cache holds (available: the prepared variants); with
    none prepared, the first choice, whose missing file then names the command to run."""
    if CUDA in providers:
        order = ("heavy", "full", "lite")
    elif n_cores >= 2:
        order = ("full", "lite", "heavy")
    else:
        order = ("lite", "full", "heavy")
    return next((v for v in order if v in available), order[0])


class OnnxModel:
    """An onnxruntime session over one NHWC float32 image model with a dynamic batch axis.

    path: the .onnx file (get it from ModelCache.onnx_path). providers: see choose_providers.
    intra_threads: onnxruntime intra-op threads, None = onnxruntime's default (one per core).
    outputs: the outputs to compute, None = all. The others are cut from the graph together with
    every node that only they need (onnxruntime runs every node of a graph whatever outputs a
    run asks for): the landmark models' 256x256 segmentation mask, which nothing here reads, is
    most of their cost (see `LANDMARK_OUTPUTS` in service.py).
    """

    def __init__(
        self,
        path: Path,
        providers: Sequence[str] | None = None,
        intra_threads: int | None = None,
        outputs: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelMissingError(f"model file {self.path} not found; {PREPARE_HINT}")
        if intra_threads is not None and intra_threads < 1:
            raise InvalidInputError(f"intra_threads must be >= 1, got {intra_threads}")
        options = ort.SessionOptions()
        # Without this, idle worker threads spin; two sessions taking turns on 2 cores then
        # ran ~3x slower (shared/docs/pose-model.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.inter_op_num_threads = 1
        if intra_threads is not None:
            options.intra_op_num_threads = intra_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            model: str | bytes = str(self.path)
            if outputs is not None:
                model = _pruned(self.path, list(outputs))
            self._session = ort.InferenceSession(
                model, sess_options=options, providers=choose_providers(providers)
            )
        except InvalidInputError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidProtobuf
            raise ModelMissingError(
                f"onnxruntime cannot load {self.path} ({type(exc).__name__}: "
                f"{str(exc).strip()[:200]}); {PREPARE_HINT}"
            ) from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelMissingError(
                f"{self.path} has {len(inputs)} inputs, expected one image input; {PREPARE_HINT}"
            )
        self.input_name: str = inputs[0].name
        shape = inputs[0].shape
        dims = shape[1:]
        if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in dims):
            raise ModelMissingError(
                f"{self.path} input {self.input_name} has shape {shape}, expected "
                f"[batch, H, W, C]; {PREPARE_HINT}"
            )
        self.image_shape: tuple[int, int, int] = (int(dims[0]), int(dims[1]), int(dims[2]))
        self.output_names: list[str] = [o.name for o in self._session.get_outputs()]

    @property
    def providers(self) -> list[str]:
        """The providers the session actually uses, in priority order."""
        return list(self._session.get_providers())

    def validate(self, batch: object) -> NDArray[np.float32]:
        """Check a batch: float32 ndarray (N, H, W, C) with N >= 1 and the model's H, W, C."""
        if not isinstance(batch, np.ndarray):
            raise InvalidInputError(
                f"{self.path.stem} input must be a numpy array, got {type(batch).__name__}"
            )
        if batch.dtype != np.float32:
            raise InvalidInputError(f"{self.path.stem} input must be float32, got {batch.dtype}")
        if batch.ndim != 4 or batch.shape[0] < 1 or batch.shape[1:] != self.image_shape:
            raise InvalidInputError(
                f"{self.path.stem} input must have shape (N>=1, {', '.join(map(str, self.image_shape))}),"
                f" got {batch.shape}"
            )
        return batch

    def run(self, batch: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
        """Run one batch; returns every output by name, each with the batch axis first."""
        x = np.ascontiguousarray(self.validate(batch))
        values = self._session.run(None, {self.input_name: x})
        return {name: np.asarray(v) for name, v in zip(self.output_names, values, strict=True)}


def _pruned(path: Path, outputs: list[str]) -> bytes:
    """The serialised model at `path` reduced to the nodes that `outputs` depend on."""
    import onnx
    from onnx.utils import Extractor

    model = onnx.load(str(path))
    names = [o.name for o in model.graph.output]
    unknown = [o for o in outputs if o not in names]
    if unknown or not outputs:
        raise InvalidInputError(f"{path.stem} has outputs {names}; cannot keep {outputs}")
    # Initialisers are listed as graph inputs in some exporters; the real input is the image.
    initialisers = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initialisers]
    kept = Extractor(model).extract_model(inputs, outputs)
    return bytes(kept.SerializeToString())
