"""Google Cloud Storage media backend (production), also usable against gcp-storage-emulator.

Object names are the media keys; unguessable by construction. With a TTL the URLs are V4 signed
URLs (the credentials must be able to sign); without one they are plain object URLs, which only
work for a bucket whose objects are publicly readable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from server.errors import InvalidInputError
from server.store.media import check_key

PUBLIC_HOST = "https://storage.googleapis.com"


class GcsMedia:
    """One bucket; `client` is a google.cloud.storage.Client (built from the environment if None)."""

    def __init__(self, bucket: str | None, ttl_s: int, client: Any = None) -> None:
        if not bucket:
            raise InvalidInputError("media backend 'gcs' needs a bucket: set LIFTSTREAM_GCS_BUCKET")
        if client is None:
            client = _default_client()
        self._client = client
        self._bucket = client.bucket(bucket)
        self.bucket_name = bucket
        self.ttl_s = ttl_s

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        blob = self._bucket.blob(check_key(key))
        # upload_from_filename streams the file in chunks (resumable for large files).
        blob.upload_from_filename(str(source), content_type=content_type)
        source.unlink(missing_ok=True)

    def local_copy(self, key: str, scratch: Path) -> Path:
        scratch.mkdir(parents=True, exist_ok=True)
        dest = scratch / Path(check_key(key)).name
        self._bucket.blob(key).download_to_filename(str(dest))
        return dest

    def exists(self, key: str) -> bool:
        return bool(self._bucket.blob(check_key(key)).exists())

    def url(self, key: str, base_url: str) -> str:
        blob = self._bucket.blob(check_key(key))
        if self.ttl_s > 0:
            return str(
                blob.generate_signed_url(
                    version="v4", expiration=timedelta(seconds=self.ttl_s), method="GET"
                )
            )
        host = os.environ.get("STORAGE_EMULATOR_HOST", PUBLIC_HOST).rstrip("/")
        return f"{host}/{self.bucket_name}/{quote(key)}"


def _default_client() -> Any:
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="liftstream-emulator", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return storage.Client()
