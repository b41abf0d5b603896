"""Streamed ``multipart/form-data`` uploads (SPEC §8).

:func:`start_multipart` feeds the request body to python-multipart's streaming parser
in a background task. Text fields land in ``request.body_params``; each file part
becomes an :class:`UploadedFile` in ``request.files`` whose data flows through a
queue bounded in bytes. When a file's queue is full the parser stops reading from the
client until the handler catches up, so memory stays bounded whatever the upload size.

The handler starts as soon as the body has ended or the parser would have to wait
for it: a small form arrives complete, a large file is read while it uploads. Parts
that arrive after the handler started still appear in ``request.files`` and
``request.body_params``, but too late to be bound to parameters. Files are read in
the order the client sent them. :func:`finish_uploads` drains what the handler left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import types
import typing
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from ._optional import require
from .body import Limits, receive_within, timed_out, too_large
from .exceptions import MultipartFileError, bad_request
from .request import Request

__all__ = [
    "UploadError",
    "UploadedFile",
    "finish_uploads",
    "is_file_annotation",
    "safe_filename",
    "start_multipart",
]

logger = logging.getLogger("micropie")

#: Bytes a file may hold in memory before the parser waits for the handler to read.
FILE_BUFFER_BYTES = 1024 * 1024
_DEFAULT_FILE_TYPE = "application/octet-stream"
_MAX_FILENAME_BYTES = 255
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)


class UploadError(MultipartFileError, HTTPException):
    """An upload failed while being read: a :class:`MultipartFileError` with a status.

    Uncaught, it answers with its status (400, 408 or 413) like any ``HTTPException``.
    """


def safe_filename(raw: str) -> str:
    """``raw`` reduced to a base name with no directories and no control characters.

    Returns ``""`` when nothing usable is left (``".."``, ``"/"``, ...).
    """
    name = "".join(ch for ch in raw if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in (".", ".."):
        return ""
    return name.encode("utf-8")[:_MAX_FILENAME_BYTES].decode("utf-8", "ignore")


class _ChunkQueue(asyncio.Queue[bytes | None]):
    """An asyncio queue that counts as full once it holds ``max_bytes`` of data."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.nbytes = 0

    def full(self) -> bool:
        return self.nbytes >= self.max_bytes

    def _put(self, item: bytes | None) -> None:
        self.nbytes += len(item) if item else 0
        super()._put(item)

    def _get(self) -> bytes | None:
        item = super()._get()
        self.nbytes -= len(item) if item else 0
        return item

    def discard(self) -> None:
        """Drop everything queued (waking a parser that waits for room)."""
        while not self.empty():
            self.get_nowait()


class UploadedFile:
    """A file from a ``multipart/form-data`` request, read while it uploads.

    ``await file.read()``, ``async for chunk in file`` or ``await file.save(dir)``;
    MicroPie code may use ``file["filename"]``, ``file["content_type"]`` and
    ``file["content"]`` (an ``asyncio.Queue`` of byte chunks ended by ``None``).
    Reading a broken upload raises :class:`~micropie.MultipartFileError`.
    """

    def __init__(self, name: str, raw_filename: str, content_type: str, headers: dict[str, str]):
        #: The form field name.
        self.name = name
        #: The file name exactly as the client sent it (untrusted).
        self.raw_filename = raw_filename
        #: The client's file name reduced to a safe base name (may be ``""``).
        self.filename = safe_filename(raw_filename)
        #: The part's ``Content-Type`` (``application/octet-stream`` when not sent).
        self.content_type = content_type
        #: The part's headers, lower-case names.
        self.headers = headers
        #: Bytes received from the client so far.
        self.size = 0
        self.content: asyncio.Queue[bytes | None] = _ChunkQueue(FILE_BUFFER_BYTES)
        self._pending = bytearray()
        self._eof = False
        self._complete = False
        self._error: tuple[int, str] | None = None
        self._reader: _MultipartReader | None = None

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that remain when ``size < 0``); ``b""`` at the end."""
        if size < 0:
            return b"".join([chunk async for chunk in self])
        while len(self._pending) < size:
            next_chunk = await self._next_chunk()
            if next_chunk is None:
                break
            self._pending += next_chunk
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            yield data
        async for chunk in self._chunks():
            yield chunk

    async def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the file to ``path``; a directory gets the safe :attr:`filename` in it.

        Never writes outside a directory given, whatever the client's name; a
        partial file is removed when the upload breaks. Returns the path written.
        """
        target = Path(path)
        if await anyio.Path(target).is_dir():
            target = _path_inside(target, self.filename or "upload")
        handle = await anyio.to_thread.run_sync(_open_for_writing, target)
        try:
            async for chunk in self:
                await anyio.to_thread.run_sync(handle.write, chunk)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                target.unlink()
            raise
        await anyio.to_thread.run_sync(handle.close)
        return target

    def __getitem__(self, key: str) -> Any:
        if key in _ITEM_KEYS:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """MicroPie-style ``file.get("filename")``."""
        return getattr(self, key) if key in _ITEM_KEYS else default

    def __contains__(self, key: object) -> bool:
        return key in _ITEM_KEYS

    def __repr__(self) -> str:
        return f"<UploadedFile {self.name!r} filename={self.filename!r} size={self.size}>"

    async def _chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._next_chunk()) is not None:
            yield chunk

    async def _next_chunk(self) -> bytes | None:
        if self._eof:
            return None
        chunk = await self.content.get()
        if chunk is None:
            self._eof = True
            if self._error is not None:
                raise UploadError(*self._error)
        return chunk


_ITEM_KEYS = frozenset({"filename", "content_type", "content", "headers", "name", "raw_filename"})


def is_file_annotation(annotation: Any) -> bool:
    """True for ``UploadedFile`` and ``UploadedFile | None``: such parameters bind files only."""
    if annotation is UploadedFile:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(annotation)
        return UploadedFile in args and all(a in (UploadedFile, type(None)) for a in args)
    return False


def _path_inside(directory: Path, name: str) -> Path:
    base = directory.resolve()
    target = base / name
    if target.parent != base or name in ("", ".", ".."):
        raise ValueError(f"refusing to write {name!r} outside {base}")
    return target


def _open_for_writing(path: Path) -> Any:
    return os.fdopen(os.open(path, _OPEN_FLAGS, 0o644), "wb")


class _MultipartReader:
    """Drives python-multipart over the request body in a background task."""

    def __init__(self, request: Request, limits: Limits, boundary: bytes) -> None:
        multipart = require(
            "python_multipart", feature="Multipart uploads", package="python-multipart"
        )
        self.request = request
        self.limits = limits
        self.receive: Receive = request._receive
        self.ready = asyncio.Event()
        self.done = asyncio.Event()
        self.error: tuple[int, str] | None = None
        self.discarding = False
        self.files: list[UploadedFile] = []
        self._received = 0
        self._parts = 0
        self._actions: list[tuple[UploadedFile, bytes | None]] = []
        self._headers: dict[str, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._name = ""
        self._file: UploadedFile | None = None
        self._text: bytearray | None = None
        self._parse_options_header = multipart.multipart.parse_options_header
        self._end_state = multipart.multipart.MultipartState.END
        self._parse_errors: tuple[type[Exception], ...] = (multipart.exceptions.FormParserError,)
        try:
            self.parser = multipart.MultipartParser(boundary, self._callbacks())
        except self._parse_errors:
            raise bad_request("Invalid multipart boundary") from None
        self.task: asyncio.Task[None] | None = None

    def _callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }

    # -- parser callbacks (synchronous; file data is queued by _flush) ---------------

    def _on_part_begin(self) -> None:
        self._parts += 1
        maximum = self.limits.max_form_parts
        if maximum is not None and self._parts > maximum:
            raise too_large()
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value).strip()
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = self._parse_options_header(self._headers.get("content-disposition", b""))
        raw_name = options.get(b"name")
        if raw_name is None:
            raise bad_request("Multipart part without a name in its Content-Disposition")
        self._name = raw_name.decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        if raw_filename is None:
            self._file, self._text = None, bytearray()
            return
        self._text = None
        self._file = self._new_file(raw_filename.decode("utf-8", "replace"))

    def _new_file(self, raw_filename: str) -> UploadedFile:
        headers = {k: v.decode("latin-1") for k, v in self._headers.items()}
        content_type = headers.get("content-type") or _DEFAULT_FILE_TYPE
        file = UploadedFile(self._name, raw_filename, content_type, headers)
        file._reader = self
        self.files.append(file)
        self.request.files.setdefault(self._name, file)
        return file

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.size += end - start
            if self._exposed(self._file):
                self._actions.append((self._file, data[start:end]))
        elif self._text is not None:
            self._text += data[start:end]
            maximum = self.limits.max_form_field_size
            if maximum is not None and len(self._text) > maximum:
                raise too_large()

    def _on_part_end(self) -> None:
        if self._file is not None:
            self._actions.append((self._file, None))
        elif self._text is not None:
            value = self._text.decode("utf-8", "replace")
            self.request.body_params.setdefault(self._name, []).append(value)
        self._file, self._text = None, None

    def _exposed(self, file: UploadedFile) -> bool:
        """Only the first file of a name reaches the handler; later ones are dropped."""
        return not self.discarding and self.request.files.get(file.name) is file

    # -- the background task -----------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._read_all()
        except HTTPException as exc:
            self._fail(exc.status_code, exc.detail)
        except ClientDisconnect:
            self._fail(400, "400 Bad Request: Client disconnected during the upload")
        except self._parse_errors:
            self._fail(400, "400 Bad Request: Malformed multipart body")
        finally:
            self.done.set()
            self.ready.set()

    async def _read_all(self) -> None:
        maximum = self.limits.max_body_size
        more = True
        while more:
            chunk, more = await self._next_chunk()
            if not chunk:
                continue
            self._received += len(chunk)
            if maximum is not None and self._received > maximum:
                raise too_large()
            self.parser.write(chunk)
            await self._flush()
        self.request._body_complete = True
        if self.parser.state != self._end_state:
            raise bad_request("Malformed multipart body: it ends before the closing boundary")

    async def _next_chunk(self) -> tuple[bytes, bool]:
        try:
            message = await receive_within(self.receive, self.limits.body_timeout)
        except TimeoutError:
            raise timed_out() from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        return message.get("body", b""), message.get("more_body", False)

    async def _flush(self) -> None:
        """Queue file data, waiting (and letting the handler start) while a queue is full."""
        actions, self._actions = self._actions, []
        for file, data in actions:
            if not self._exposed(file):
                continue
            if file.content.full():
                self.ready.set()
            await file.content.put(data)
            file._complete = data is None

    def _fail(self, status: int, detail: str) -> None:
        self.error = (status, detail)
        for file in self.files:
            if file._complete or file._error is not None:
                continue
            file._error = self.error
            queue = file.content
            assert isinstance(queue, _ChunkQueue)
            queue.discard()
            queue.put_nowait(None)

    async def receive_after_body(self) -> Message:
        """``receive`` for the rest of the app: waits until the parser is done with it."""
        await self.done.wait()
        return await self.receive()

    async def finish(self) -> None:
        """Drain what the handler left unread and wait for the parser task to end."""
        self.discarding = True
        for file in self.files:
            queue = file.content
            if isinstance(queue, _ChunkQueue):
                queue.discard()
        task = self.task
        if task is None or task.done():
            return
        try:
            await task
        except BaseException:
            task.cancel()
            raise
        if self.error is not None:
            logger.debug("upload drained with error: %s", self.error[1])


def _multipart() -> Any:
    return require("python_multipart", feature="Multipart uploads", package="python-multipart")


def _boundary(request: Request) -> bytes:
    _, options = _multipart().multipart.parse_options_header(request.headers.get("content-type"))
    boundary: bytes | None = options.get(b"boundary")
    if not boundary:
        raise bad_request("Missing boundary in multipart/form-data Content-Type")
    return boundary


async def start_multipart(request: Request, limits: Limits) -> None:
    """Start parsing a multipart body; return once the handler can be called.

    Raises the 400/408/413 ``HTTPException`` for an error found before then; the
    announced length was already checked by :func:`micropie.body.parse_body`.
    """
    reader = _MultipartReader(request, limits, _boundary(request))
    reader.task = asyncio.get_running_loop().create_task(reader.run())
    request._receive = reader.receive_after_body
    request._body = b""
    try:
        await reader.ready.wait()
    except BaseException:
        reader.task.cancel()
        raise
    if reader.error is not None:
        await reader.finish()
        raise UploadError(*reader.error)


async def finish_uploads(request: Request) -> None:
    """Drain unread file data and stop the parser (called after the handler)."""
    readers = {id(f._reader): f._reader for f in request.files.values() if _has_reader(f)}
    for reader in readers.values():
        await reader.finish()


def _has_reader(value: object) -> bool:
    return isinstance(value, UploadedFile) and value._reader is not None
