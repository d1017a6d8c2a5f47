"""Jobs' analyses in child processes, so that they cannot slow or crash the server's live work.

The server process serves the API and the live streams; a finished lift's re-analysis or an
upload is minutes of CPU-bound Python (decode, bar tracking, smoothing, rendering). Run in a
thread of the server process, its bytecode took the GIL from the live streams' threads: one
stream's p99 frame-to-event latency was 48-70 ms over a whole stream against 19-31 ms before the
lift was re-analysed. A child process has its own interpreter, runs at a lower CPU priority
(nice JOB_NICENESS, set before it starts any thread, so its decoder and onnxruntime threads
inherit it), and a crash in it (a decoder fault, running out of memory) fails one job, not the
server.

`ProcessAnalyzer` is a `server.jobs.AnalyzeFn`: each call takes an idle child (spawning one if
none is idle; one per concurrent job), sends it the job and relays its progress reports. A
progress callback that raises (the worker is stopping) stops the child; the next call spawns a
fresh one. Children load the pose models once and live until `close()` or the server exits (a
child exits on its own when its pipe closes).

Protocol on a multiprocessing Pipe (pickled tuples), parent -> child: ("analyze", video,
options, out_dir) or None (exit); child -> parent: ("ready",) once, then per job any number of
("progress", fraction) and one ("done",) or ("error", class name, message, is_liftstream_error).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from server import errors
from server.errors import LiftStreamError, ModelMissingError
from server.jobs import JOB_NICENESS, ProgressFn

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # imports, model loading and warm-up of a child on a slow machine
PROGRESS_INTERVAL_S = 0.25  # a child reports progress at most this often
STOP_GRACE_S = 5.0


class ProcessAnalyzer:
    """Runs `server.app.PipelineAnalyzer` in child processes (see the module docstring).

    model_dir, variant: the pose models the children load; intra_threads: onnxruntime threads
    per run in a child; niceness: added to the children's nice value.
    """

    def __init__(
        self, model_dir: Path, variant: str, *, intra_threads: int = 1, niceness: int = JOB_NICENESS
    ) -> None:
        self._args = (str(model_dir), variant, intra_threads, niceness)
        self._ctx = mp.get_context("spawn")
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        """Spawn one child and wait until its models are loaded (so the first job starts at once).
        Raises ModelMissingError when the models are not prepared."""
        child = self._spawn()
        with self._lock:
            self._idle.append(child)

    def __call__(
        self, video: Path, options: dict[str, Any], out_dir: Path, progress: ProgressFn
    ) -> None:
        child = self._take()
        healthy = False
        try:
            error = child.run(video, options, out_dir, progress)
            healthy = True  # it finished the job, or refused it and said why
        finally:
            keep = healthy and not self._closed
            if keep:
                with self._lock:
                    self._idle.append(child)
            if not keep:
                child.stop()
        if error is not None:
            raise error

    def close(self) -> None:
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()

    def _take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive:
                    return child
                child.stop()
        return self._spawn()

    def _spawn(self) -> _Child:
        if self._closed:
            raise LiftStreamError("the server is stopping")
        parent_end, child_end = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=child_main,
            args=(child_end, *self._args),
            name="liftstream-analysis",
            daemon=True,
        )
        proc.start()
        child_end.close()
        child = _Child(proc, parent_end)
        child.wait_ready()
        return child


class _Child:
    def __init__(self, proc: Any, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn

    @property
    def alive(self) -> bool:
        return bool(self.proc.is_alive())

    def wait_ready(self) -> None:
        if not self.conn.poll(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"the analysis process did not start in {START_TIMEOUT_S:.0f} s")
        message = self._recv()
        if message[0] != "ready":
            self.stop()
            raise _error(message)

    def run(
        self, video: Path, options: dict[str, Any], out_dir: Path, progress: ProgressFn
    ) -> Exception | None:
        """One job: None when done, else the error the analysis raised (LiftStreamError
        subclasses keep their class); the child can take another job either way. Raises what
        progress raised, or RuntimeError when the child died."""
        self.conn.send(("analyze", str(video), options, str(out_dir)))
        while True:
            message = self._recv()
            if message[0] == "progress":
                progress(float(message[1]))
            elif message[0] == "done":
                return None
            else:
                return _error(message)

    def _recv(self) -> tuple[Any, ...]:
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(STOP_GRACE_S)
            raise RuntimeError(
                f"the analysis process stopped (exit code {self.proc.exitcode})"
            ) from None
        return message

    def stop(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send(None)
            self.proc.join(0.5)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(STOP_GRACE_S)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
        self.conn.close()


def _error(message: tuple[Any, ...]) -> Exception:
    """The exception a child's ("error", ...) message stands for."""
    if message[0] != "error":
        return RuntimeError(f"unexpected message from the analysis process: {message[0]!r}")
    _, name, text, is_ours = message
    cls = getattr(errors, name, None)
    if is_ours and isinstance(cls, type) and issubclass(cls, LiftStreamError):
        return cls(text)
    if is_ours:
        return LiftStreamError(text)
    return RuntimeError(f"{name} in the analysis process: {text}")


def child_main(conn: Connection, model_dir: str, variant: str, threads: int, nice: int) -> None:
    """The child's loop: load the models, then run jobs until told to exit or the pipe closes."""
    if nice and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(nice)  # before any thread starts: every thread of the child inherits it
    from server.analysis.threads import use_offline_threads
    from server.app import PipelineAnalyzer
    from server.pose.service import InferenceService

    # OpenCV single-threaded on a small machine like the pass's other stages; the pose keeps the
    # parent's count (one by default: the child shares the machine with the live streams).
    use_offline_threads()

    try:
        service = InferenceService(Path(model_dir), variant, intra_threads=threads)
    except ModelMissingError as exc:
        conn.send(("error", type(exc).__name__, str(exc), True))
        return
    service.warm_up()
    analyze = PipelineAnalyzer(service)
    conn.send(("ready",))
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request is None:
                return
            _, video, options, out_dir = request
            try:
                analyze(Path(video), options, Path(out_dir), _Reporter(conn))
            except LiftStreamError as exc:
                conn.send(("error", type(exc).__name__, str(exc), True))
            except Exception as exc:
                log.exception("analysis of %s failed", video)
                conn.send(("error", type(exc).__name__, str(exc), False))
            else:
                conn.send(("done",))
    except (BrokenPipeError, OSError):
        return  # the server went away
    finally:
        service.close()


class _Reporter:
    """The child's progress callback: at most one message every PROGRESS_INTERVAL_S."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.last = -1.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            self.conn.send(("progress", float(fraction)))
