"""Durable analysis jobs: the sessions table is the queue; a bounded worker runs jobs in threads.

- A created session is a `queued` row whose original video is already in media storage.
- The dispatcher claims the oldest queued row (conditional UPDATE), runs the analysis in a thread
  pool of `concurrency` threads (never on the event loop), writes progress while it runs, and
  stores the outputs (media files, then the document and status `ready`) or `failed` + reason.
- On start-up, rows left `processing` by a killed server are re-queued (after `max_attempts`
  interrupted runs they fail with a reason instead); the original video is never deleted.
- Job threads run at a lower CPU priority (nice JOB_NICENESS, Linux): on a busy machine the
  live streams' frames come first and a finalisation or an upload takes longer, rather than the
  other way round. Threads a job starts (frame decoding, its pose worker) inherit it. The real
  pipeline goes further: its analyses run in child processes at the same niceness
  (server.analysis.process), so they do not hold the server's GIL either.
- Stopping asks running jobs to stop at their next progress report and puts them back in the
  queue, so a restart resumes them.

One server process per database is assumed: start-up recovery treats every `processing` row as
orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from server.errors import InvalidInputError, LiftStreamError
from server.store.media import MediaStorage, check_key, new_prefix
from server.store.records import NewSession, SessionRecord
from server.store.repo import Store

log = logging.getLogger(__name__)

ProgressFn = Callable[[float], None]
CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".json": "application/json",
}
PROGRESS_INTERVAL_S = 0.5
IDLE_POLL_S = 5.0


class AnalyzeFn(Protocol):
    """Analyse `video` with the stored `options`, writing session.json (+ media) into `out_dir`.

    Raises LiftStreamError subclasses for a clip it refuses (the message becomes the reason).
    """

    def __call__(
        self, video: Path, options: dict[str, Any], out_dir: Path, progress: ProgressFn
    ) -> None: ...


class DemoRenderFn(Protocol):
    """Render the demo clip to `dest`; returns the analysis options that fit it."""

    def __call__(self, dest: Path) -> dict[str, Any]: ...


class JobCancelled(Exception):
    """Raised inside a job's progress callback when the worker is stopping."""


JOB_NICENESS = 10  # added to the thread's nice value: about a tenth of a normal thread's CPU share


def lower_thread_priority(niceness: int = JOB_NICENESS) -> bool:
    """Make the calling thread (on Linux, nice is per thread) yield the CPU to normal threads.
    False where that is not possible; the job then runs at normal priority."""
    if not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + niceness))
    except OSError:
        return False
    return True


class JobWorker:
    def __init__(
        self,
        store: Store,
        media: MediaStorage,
        analyze: AnalyzeFn,
        *,
        work_dir: Path,
        concurrency: int = 1,
        render_demo: DemoRenderFn | None = None,
        max_attempts: int = 3,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"worker concurrency {concurrency} must be >= 1")
        self.store = store
        self.media = media
        self.analyze = analyze
        self.render_demo = render_demo
        self.work_dir = work_dir
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self._executor = ThreadPoolExecutor(
            concurrency, thread_name_prefix="liftstream-job", initializer=lower_thread_priority
        )
        self._wake = asyncio.Event()
        self._stopping = threading.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        requeued, failed = await asyncio.to_thread(
            self.store.recover_interrupted, self.max_attempts
        )
        if requeued or failed:
            log.warning("after restart: re-queued %s, failed %s", requeued, failed)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="liftstream-job-dispatcher")

    async def submit(
        self, user_id: str, video: Path, *, title: str, options: dict[str, Any]
    ) -> SessionRecord:
        """Queue a recorded video (e.g. a finished live lift) as a new session of `user_id`.

        Takes ownership of `video` (moved into media storage). `options` are complete analysis
        options as create-session stores them (exercise, barbell_mass_kg, joints,
        plate_diameter_m, units, lifter_height_m, body_mass_kg, render).
        """
        key = f"{new_prefix()}/original{video.suffix.lower() or '.mp4'}"
        await asyncio.to_thread(self.media.put_file, key, video, "video/mp4")
        new = NewSession(
            user_id=user_id,
            title=title,
            exercise=str(options["exercise"]),
            options=dict(options),
            original_key=key,
        )
        session = await asyncio.to_thread(self.store.create_session, new)
        self.wake()
        return session

    def wake(self) -> None:
        """A session was queued: look for work now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop claiming, ask running jobs to stop (they are re-queued), wait up to grace_s.

        Store calls already in a thread are waited for, so nothing touches the store after this.
        """
        self._stopping.set()
        self._wake.set()
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=grace_s)
            if pending:
                log.warning(
                    "%d job(s) still running at shutdown; they resume on restart", len(pending)
                )
        if self._dispatcher is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._dispatcher), grace_s)
            except TimeoutError:
                self._dispatcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._dispatcher
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _dispatch(self) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        while not self._stopping.is_set():
            await slots.acquire()
            self._wake.clear()
            if self._stopping.is_set():
                slots.release()
                break
            try:
                job = await asyncio.to_thread(self.store.claim_next_job)
            except Exception:
                slots.release()
                log.exception("could not claim a job; retrying")
                await asyncio.sleep(IDLE_POLL_S)
                continue
            if job is None:
                slots.release()
                # The poll is a backstop for sessions queued by another process (e.g. a CLI).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)
                continue
            if self._stopping.is_set():
                slots.release()
                await asyncio.to_thread(self.store.release_job, job.id)
                break
            task = asyncio.create_task(self._run(job, slots), name=f"liftstream-job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, job: SessionRecord, slots: asyncio.Semaphore) -> None:
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self.process, job)
        except Exception:
            log.exception("job %s: the worker itself failed", job.id)
        finally:
            slots.release()

    def process(self, job: SessionRecord) -> None:
        """Run one claimed job to an end state (ready, failed, or back to queued). Never raises."""
        work = self.work_dir / job.id
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            self._process(job, work)
        except JobCancelled:
            log.info("job %s: stopped by shutdown; re-queued", job.id)
            self._safe(self.store.release_job, job.id)
        except LiftStreamError as exc:
            log.info("job %s failed: %s", job.id, exc)
            self._safe(self.store.fail_job, job.id, str(exc))
        except Exception:
            log.exception("job %s: internal error", job.id)
            self._safe(
                self.store.fail_job,
                job.id,
                "internal error while analysing the video; the original video is kept",
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _process(self, job: SessionRecord, work: Path) -> None:
        started = time.monotonic()
        options, original_key = job.options, job.original_key
        if original_key is None:
            if job.kind != "demo" or self.render_demo is None:
                raise LiftStreamError(f"session {job.id} has no original video")
            clip = work / "demo.mp4"
            options = self.render_demo(clip)
            original_key = f"{new_prefix()}/original.mp4"
            self.media.put_file(original_key, clip, "video/mp4")
            self.store.set_source(job.id, original_key, options)
        video = self.media.local_copy(original_key, work / "source")
        out_dir = work / "out"
        out_dir.mkdir()
        self.analyze(video, options, out_dir, self._progress_reporter(job.id))
        document = _read_document(out_dir)
        media = self._store_outputs(out_dir)
        self.store.finish_job(job.id, document, media)
        log.info("job %s ready in %.1f s", job.id, time.monotonic() - started)

    def _progress_reporter(self, session_id: str) -> ProgressFn:
        last = [0.0]

        def report(fraction: float) -> None:
            if self._stopping.is_set():
                raise JobCancelled(session_id)
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                self.store.set_progress(session_id, float(fraction))

        return report

    def _store_outputs(self, out_dir: Path) -> dict[str, str]:
        """Move every output file (but session.json) to media storage under a fresh prefix."""
        prefix = new_prefix()
        media: dict[str, str] = {}
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(out_dir).as_posix()
            if rel == "session.json":
                continue
            key = f"{prefix}/{rel}"
            try:
                check_key(key)
            except InvalidInputError:
                log.warning("analysis output %s has a name media keys cannot hold; skipped", rel)
                continue
            self.media.put_file(
                key, path, CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
            )
            media[rel] = key
        return media

    @staticmethod
    def _safe(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("could not record the job outcome (%s%r)", fn.__name__, args)


def _read_document(out_dir: Path) -> dict[str, Any]:
    path = out_dir / "session.json"
    if not path.is_file():
        raise RuntimeError(f"the analysis wrote no {path}")
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise RuntimeError(f"{path} is not a JSON object")
    return document
