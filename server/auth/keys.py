"""Secrets kept in the data folder: created once with mode 0600, read on every later start."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_BYTES = 32


def read_or_create_secret(path: Path) -> bytes:
    """The secret stored at `path` (hex text), creating it owner-only on first use.

    O_EXCL makes two processes starting together agree on one secret: the loser reads the winner's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(SECRET_BYTES) + "\n")
    log.info("created secret %s (mode 0600)", path)
    return _read(path)


def _read(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Anyone who reads it can mint tokens or media URLs: tighten it and say so.
        log.warning("secret %s had mode %o; setting 0600", path, mode)
        path.chmod(0o600)
    text = path.read_text().strip()
    if len(text) < 32:
        raise ValueError(f"secret file {path} is too short ({len(text)} characters); delete it")
    return text.encode()
