"""Media storage: where original videos, analysed videos and phase images live, and their URLs.

Keys look like `<random token>/<name>`: the token (144 random bits) makes a URL unguessable. With
`media_url_ttl_s > 0` URLs also carry an expiry and an HMAC signature over key and expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from server.errors import InvalidInputError

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}){1,3}$")


def new_prefix() -> str:
    """A fresh unguessable key prefix (one per stored upload or analysis output)."""
    return secrets.token_urlsafe(18)


def check_key(key: str) -> str:
    """`key` if it is a well-formed media key (no '..', no absolute path), else InvalidInputError."""
    if _KEY.fullmatch(key) is None or ".." in key.split("/"):
        raise InvalidInputError(f"media key {key!r} is not valid")
    return key


class MediaStorage(Protocol):
    """Backend-neutral media operations used by the job worker and the API."""

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Store `source` under `key`, taking ownership of the file (it is moved or deleted)."""

    def local_copy(self, key: str, scratch: Path) -> Path:
        """A local path with the object's bytes (the stored file itself where possible)."""

    def exists(self, key: str) -> bool: ...

    def url(self, key: str, base_url: str) -> str:
        """The public URL of `key`; base_url is the app's external origin (no trailing slash)."""


class UrlSigner:
    """HMAC-SHA256 over `key` and expiry; URLs are valid for ttl_s seconds after signing."""

    def __init__(self, secret: bytes, ttl_s: int) -> None:
        if ttl_s < 0:
            raise InvalidInputError(f"media URL ttl {ttl_s} s must be >= 0")
        self._secret = secret
        self.ttl_s = ttl_s

    def _mac(self, key: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def query(self, key: str, now: float | None = None) -> str:
        """'' when unsigned, else 'expires=<unix s>&sig=<mac>'."""
        if self.ttl_s == 0:
            return ""
        expires = int((time.time() if now is None else now) + self.ttl_s)
        return f"expires={expires}&sig={self._mac(key, expires)}"

    def check(
        self, key: str, expires: str | None, sig: str | None, now: float | None = None
    ) -> str:
        """'' when the request may be served, else a short reason ('expired', 'bad signature')."""
        if self.ttl_s == 0:
            return ""
        if expires is None or sig is None or not expires.isdigit():
            return "missing signature"
        if not hmac.compare_digest(self._mac(key, int(expires)), sig):
            return "bad signature"
        if int(expires) < (time.time() if now is None else now):
            return "expired"
        return ""


class LocalMedia:
    """Files under `root`, served by the app at `/media/<key>`."""

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.signer = signer
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidInputError(f"media key {key!r} escapes the media folder")
        return path

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, dest)  # same file system: a rename, no copy
        except OSError:
            shutil.move(source, dest)

    def local_copy(self, key: str, scratch: Path) -> Path:
        return self.path(key)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def url(self, key: str, base_url: str) -> str:
        query = self.signer.query(key)
        return f"{base_url}/media/{quote(key)}" + (f"?{query}" if query else "")
