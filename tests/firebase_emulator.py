"""A throw-away Firebase Auth emulator for tests, and the REST calls a Firebase client app makes.

firebase-tools comes from the lockfile in tools/firebase-emulator, installed by
scripts/setup-firebase-tools.sh (`make test` runs it) into a cache folder named after the
lockfile's hash. The emulator runs on free loopback ports from a temp folder holding its
firebase.json; it is stopped by SIGINT to its node process (firebase-tools' `bin/firebase` is a
node script, so the process started is node itself).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.pg_server import free_port

REPO = Path(__file__).resolve().parent.parent
TOOLS_SRC = REPO / "tools" / "firebase-emulator"
# "demo-" project ids are the emulator's offline projects: nothing is ever sent to Google for them.
PROJECT = "demo-liftstream"
API_KEY = "fake-api-key"  # the emulator accepts any key


def tools_dir() -> Path:
    """Where scripts/setup-firebase-tools.sh installs this lockfile's firebase-tools."""
    cache = os.environ.get("LIFTSTREAM_FIREBASE_TOOLS_CACHE")
    if cache is None:
        xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
        cache = str(Path(xdg) / "liftstream" / "firebase-tools")
    lock = (TOOLS_SRC / "package-lock.json").read_bytes()
    return Path(cache) / hashlib.sha256(lock).hexdigest()[:16]


def missing_prerequisite() -> str | None:
    """Why the emulator cannot run here (None when it can). Java is not needed: of the emulators,
    only Auth runs in node alone (Firestore, Database, Pub/Sub and Storage need Java)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm are not installed (scripts/setup-system.sh installs them)"
    if not (tools_dir() / "node_modules" / ".bin" / "firebase").exists():
        return (
            f"firebase-tools is not installed in {tools_dir()}: run scripts/setup-firebase-tools.sh"
        )
    return None


class AuthEmulator:
    """`firebase emulators:start --only auth` on free ports; REST helpers for users and tokens."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="liftstream-firebase-"))
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.host}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(timeout=10)

    def start(self, timeout_s: float = 60.0) -> None:
        config = {
            "emulators": {
                "auth": {"host": "127.0.0.1", "port": self.port},
                # The hub and logging ports default to 4400/4500: free ones avoid clashes.
                "hub": {"host": "127.0.0.1", "port": free_port()},
                "logging": {"host": "127.0.0.1", "port": free_port()},
                # Without this the CLI tries to download the Emulator UI, which fails offline.
                "ui": {"enabled": False},
                "singleProjectMode": True,
            }
        }
        (self.root / "firebase.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true",
        }
        env.pop("FIREBASE_AUTH_EMULATOR_HOST", None)
        firebase = tools_dir() / "node_modules" / ".bin" / "firebase"
        with open(self.root / "emulator.log", "wb") as log:
            self.proc = subprocess.Popen(
                [str(firebase), "emulators:start", "--only", "auth", "--project", PROJECT],
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Auth emulator exited:\n{self.log_tail()}")
            try:
                if self.http.get(f"{self.base}/").json()["authEmulator"]["ready"]:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the Auth emulator did not answer within {timeout_s} s")

    def log_tail(self) -> str:
        path = self.root / "emulator.log"
        return path.read_text(errors="replace")[-3000:] if path.is_file() else ""

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    # What a client app does with the Firebase Auth REST API --------------------------------------

    def _identity(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base}/identitytoolkit.googleapis.com/v1/accounts:{method}?key={API_KEY}"
        r = self.http.post(url, json={**body, "returnSecureToken": True})
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def sign_up(self, email: str, password: str = "correct-horse") -> tuple[str, str]:
        """A new email/password user: (uid, ID token)."""
        body = self._identity("signUp", {"email": email, "password": password})
        return str(body["localId"]), str(body["idToken"])

    def sign_in(self, email: str, password: str = "correct-horse") -> str:
        """A fresh ID token (it carries the custom claims set since the last one)."""
        return str(
            self._identity("signInWithPassword", {"email": email, "password": password})["idToken"]
        )

    def clear(self) -> None:
        """Delete every user of the project."""
        r = self.http.delete(f"{self.base}/emulator/v1/projects/{PROJECT}/accounts")
        r.raise_for_status()


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (emulator tokens are unsigned anyway)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def unsigned_token(claims: dict[str, Any]) -> str:
    """A JWT with alg 'none' and no signature: the form the emulator's own ID tokens have."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
