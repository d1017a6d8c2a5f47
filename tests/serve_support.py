"""`liftstream serve` as a real subprocess for the tests that need a whole server process: memory
measured from /proc, a server killed with SIGKILL and started again on the same data folder."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from server.auth.local import LocalTokens
from server.settings import Settings
from tests.pg_server import free_port


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    headers: dict[str, str]
    log_path: Path

    def memory_kib(self, field: str = "VmRSS") -> int:
        """VmRSS (resident now) or VmHWM (peak resident) of the server process, KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def session(self, session_id: str) -> dict[str, object]:
        r = httpx.get(f"{self.url}/api/v1/sessions/{session_id}", headers=self.headers)
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body


@contextlib.contextmanager
def serve(
    data_dir: Path, max_upload_mb: float = 100, model_dir: Path | None = None
) -> Iterator[Server]:
    """`liftstream serve` in a subprocess with local auth. Without `model_dir` it has no pose
    models, so its jobs fail at once; with one, jobs run the real pipeline."""
    port = free_port()
    env = {
        **os.environ,
        "LIFTSTREAM_DATA_DIR": str(data_dir),
        "LIFTSTREAM_MODEL_DIR": str(model_dir or data_dir.parent / "no-models"),
        "LIFTSTREAM_PORT": str(port),
        "LIFTSTREAM_MAX_UPLOAD_MB": str(max_upload_mb),
        "LIFTSTREAM_AUTH": "local",
    }
    log_path = data_dir.parent / f"serve-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, f"{url}/healthz", log_path, 60, status=200)
        token = LocalTokens.from_settings(Settings(data_dir=data_dir)).mint("ana", plan="pro")
        yield Server(url, proc, data_dir, {"Authorization": f"Bearer {token}"}, log_path)
    finally:
        stop_process(proc, 30)
        log.close()


def wait_until_answering(
    proc: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    timeout_s: float,
    *,
    status: int | None = None,
) -> None:
    """Poll `url` until it answers (with `status`, if given) while `proc` runs; fail with the
    process's log if it exits or timeout_s passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, log_path.read_text()
        try:
            answer = httpx.get(url, timeout=2)
            if status is None or answer.status_code == status:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer in {timeout_s} s: " + (
            log_path.read_text()
        )
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited after grace_s seconds."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_job(server: Server, session_id: str, timeout_s: float = 120) -> str:
    """Poll the session until its job has ended; its final status."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(server.session(session_id)["status"])
        if status in ("ready", "failed"):
            return status
        assert time.monotonic() < deadline, f"session {session_id} still {status}"
        time.sleep(0.2)
