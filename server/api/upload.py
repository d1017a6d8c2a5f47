"""Streaming multipart parser for the session upload: the video goes straight to a spool file.

The body is read chunk by chunk (uvicorn applies back-pressure), file bytes are written to disk
in a worker thread as they arrive, and the size limit is enforced on the bytes received, so a
large upload never sits in memory and an oversized one is cut off with a 413.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from server.api.errors import ApiError, bad_request

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32


@dataclass(frozen=True)
class UploadedFile:
    """The spooled file part: `path` on disk, `size` in bytes."""

    path: Path
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class UploadForm:
    fields: dict[str, str]
    file: UploadedFile | None

    def discard(self) -> None:
        if self.file is not None:
            self.file.path.unlink(missing_ok=True)


def too_large(received: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "upload_too_large",
        f"the upload ({received} bytes or more) exceeds the limit of {limit} bytes "
        f"({limit / 1024**2:.0f} MiB; the server's LIFTSTREAM_MAX_UPLOAD_MB)",
    )


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """python-multipart callbacks: plain fields into memory (capped), the file part to `pending`."""

    def __init__(self, file_field: str, charset: str, known: Collection[str] | None) -> None:
        self.file_field = file_field
        self.charset = charset
        self.known = None if known is None else frozenset(known) | {file_field}
        self.fields: dict[str, str] = {}
        self.part = _Part()
        self.parts = 0
        self.header_name = b""
        self.header_value = b""
        self.file_name: str | None = None
        self.file_type = "application/octet-stream"
        self.file_open = False
        self.file_done = False
        self.pending: list[bytes] = []
        self.ended = False

    def _decode(self, raw: bytes) -> str:
        return raw.decode(self.charset, errors="replace")

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise bad_request("invalid_form", f"more than {MAX_PARTS} form parts")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise bad_request("invalid_form", "a form part has no name in Content-Disposition")
        self.part.name = self._decode(options[b"name"])
        if self.known is not None and self.part.name not in self.known:
            # Refused rather than ignored: a misspelt optional field would silently default.
            raise bad_request(
                "invalid_form",
                f"unknown form field {self.part.name[:60]!r}; the fields are "
                f"{', '.join(sorted(self.known))}",
            )
        if b"filename" in options:
            self.part.filename = self._decode(options[b"filename"])
        if self.part.name == self.file_field and self.part.filename is not None:
            if self.file_open or self.file_done:
                raise bad_request("invalid_form", f"more than one {self.file_field!r} file")
            self.file_open = True
            self.file_name = self.part.filename
            content_type = self.part.headers.get(b"content-type", b"application/octet-stream")
            self.file_type = self._decode(content_type)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file_open:
            self.pending.append(data[start:end])
        elif self.part.filename is None:
            if len(self.part.data) + end - start > MAX_FIELD_BYTES:
                raise bad_request(
                    "invalid_form", f"form field {self.part.name!r} exceeds {MAX_FIELD_BYTES} bytes"
                )
            self.part.data += data[start:end]
        # Other file parts are not used: their bytes are dropped (but still count to the limit).

    def on_part_end(self) -> None:
        if self.file_open:
            self.file_open, self.file_done = False, True
        elif self.part.filename is None:
            if self.part.name in self.fields:
                raise bad_request("invalid_form", f"form field {self.part.name!r} given twice")
            self.fields[self.part.name] = self._decode(bytes(self.part.data))

    def on_end(self) -> None:
        self.ended = True


def _boundary_and_charset(request: Request) -> tuple[bytes, str]:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise bad_request(
            "invalid_form", "the body must be multipart/form-data (fields plus a 'video' file)"
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise bad_request("invalid_form", "the multipart Content-Type has no boundary")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "utf-8"
    return boundary, charset


def check_declared_length(request: Request, max_bytes: int) -> None:
    """Refuse at once when Content-Length already says the body is too large."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(int(declared), max_bytes)


async def read_upload_form(
    request: Request,
    spool_dir: Path,
    max_bytes: int,
    file_field: str = "video",
    known_fields: Collection[str] | None = None,
) -> UploadForm:
    """Parse the multipart body; the `file_field` file is spooled under spool_dir.

    With `known_fields`, a part named otherwise (than those or `file_field`) is a 400.
    """
    check_declared_length(request, max_bytes)
    boundary, charset = _boundary_and_charset(request)
    collector = _Collector(file_field, charset, known_fields)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": collector.on_part_begin,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_end": collector.on_end,
        },
    )
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"upload-{secrets.token_hex(12)}.part"
    sink: BinaryIO = await asyncio.to_thread(open, path, "wb")
    received = written = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise too_large(received, max_bytes)
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise bad_request("invalid_form", f"malformed multipart body: {exc}") from None
            if collector.pending:
                data = b"".join(collector.pending)
                collector.pending.clear()
                await asyncio.to_thread(sink.write, data)
                written += len(data)
        parser.finalize()
        if not collector.ended:
            raise bad_request(
                "invalid_form", "the multipart body ended before its closing boundary"
            )
    except BaseException:
        await asyncio.to_thread(_close_and_remove, sink, path)
        raise
    await asyncio.to_thread(sink.close)
    if not collector.file_done:
        path.unlink(missing_ok=True)
        return UploadForm(collector.fields, None)
    upload = UploadedFile(path, collector.file_name or "", collector.file_type, written)
    return UploadForm(collector.fields, upload)


def _close_and_remove(sink: BinaryIO, path: Path) -> None:
    with contextlib.suppress(OSError):
        sink.close()
    path.unlink(missing_ok=True)
