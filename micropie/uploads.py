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
import re
import secrets
import tempfile
import types
import typing
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from ._optional import require
from .body import Limits, receive_budgeted, timed_out, too_large
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


class _ParserLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """python-multipart's messages, at debug level on micropie's logger.

    The parser logs a warning for each malformed body it meets (with no handler set up,
    Python prints each one); the client's 400 already says what was wrong, so a
    client could otherwise flood the server's log.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


_PARSER_LOG = _ParserLog(logging.getLogger("micropie.multipart"))

#: Bytes a file may hold in memory before the parser waits for the handler to read.
FILE_BUFFER_BYTES = 1024 * 1024
_DEFAULT_FILE_TYPE = "application/octet-stream"
_MAX_FILENAME_BYTES = 255
_FILE_MODE = 0o644
_MAX_NAME_TRIES = 10_000
_NUMBERED_NAMES = 100  # stem-1 ... stem-99, then stem-<8 random hex digits>
_LEADING_DOTS = re.compile(r"^[\s.]+")


class UploadError(MultipartFileError, HTTPException):
    """An upload failed while being read: a :class:`MultipartFileError` with a status.

    Uncaught, it answers with its status (400, 408 or 413) like any ``HTTPException``.
    """


def safe_filename(raw: str) -> str:
    """``raw`` reduced to a base name with no directories and no control characters.

    The name is NFKC-normalised first, so look-alikes of ``.``, ``/`` and ``\\``
    (``．．／``) are reduced as the ASCII characters they stand for and no later
    normalisation can turn the result into a path. Leading dots go too: a client's
    ``.htaccess`` or ``.env`` would be a hidden file, perhaps one a server reads as
    configuration, and ``.upload-*.part`` is how :meth:`UploadedFile.save` names its
    temporary files. Returns ``""`` when nothing usable is left (``".."``, ``"/"``, ...).
    """
    normal = unicodedata.normalize("NFKC", raw)
    name = "".join(ch for ch in normal if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = _LEADING_DOTS.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).rstrip()
    return name.encode("utf-8")[:_MAX_FILENAME_BYTES].decode("utf-8", "ignore")


class _ChunkQueue(asyncio.Queue[bytes | None]):
    """An asyncio queue of one file's chunks that counts the bytes it holds.

    After a broken upload its end (``None``) raises the upload's error instead, for
    every ``get()``: MicroPie code reading the queue learns the file is incomplete.
    """

    def __init__(self, on_change: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.nbytes = 0
        self.error: tuple[int, str] | None = None
        self._on_change = on_change

    def _put(self, item: bytes | None) -> None:
        if item:
            self._count(len(item))
        super()._put(item)

    def _get(self) -> bytes | None:
        item = super()._get()
        if item:
            self._count(-len(item))
        return item

    def _count(self, delta: int) -> None:
        self.nbytes += delta
        if self._on_change is not None:
            self._on_change(delta)

    def get_nowait(self) -> bytes | None:
        item = super().get_nowait()
        if item is None and self.error is not None:
            self.put_nowait(None)  # stays ended: a later get() raises again
            raise UploadError(*self.error)
        return item

    def discard(self) -> None:
        """Drop the data queued (the end marker stays)."""
        ended = False
        while not self.empty():
            ended = super().get_nowait() is None or ended
        if ended:
            self.put_nowait(None)

    def fail(self, error: tuple[int, str]) -> None:
        """End the queue with ``error``: queued data is dropped, readers get the error."""
        self.error = error
        while not self.empty():
            super().get_nowait()
        self.put_nowait(None)


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
        self.content: asyncio.Queue[bytes | None] = _ChunkQueue()
        self._pending = bytearray()
        self._eof = False
        self._complete = False
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

    async def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Write the whole file to ``path``; a directory gets the safe :attr:`filename` in it.

        The data goes to a temporary file beside the target that is moved into place
        only once the whole part has arrived: a broken upload leaves the directory as
        it was. A file already there is replaced atomically (a symlink is replaced,
        never followed); with ``overwrite=False`` it is kept and the upload takes the
        first free name ``stem-1.ext``, ``stem-2.ext``, ... (past ``stem-99.ext``, a
        random one such as ``stem-3f9a0c1e.ext``), as it does whenever a directory has
        the name. Never writes outside a directory given. Returns the path written.
        """
        target = Path(path)
        if await anyio.Path(target).is_dir():
            target = _path_inside(target, self.filename or "upload")
        staged = await anyio.to_thread.run_sync(_StagedFile, target)
        try:
            async for chunk in self:
                await anyio.to_thread.run_sync(staged.write, chunk)
            return await anyio.to_thread.run_sync(staged.commit, overwrite)
        finally:
            staged.discard()

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
            error = getattr(self.content, "error", None)
            if error is not None:  # a broken upload stays broken for every later read
                raise UploadError(*error)
            return None
        try:
            chunk = await self.content.get()
        except UploadError:
            self._eof = True
            raise
        if chunk is None:
            self._eof = True
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


class _StagedFile:
    """A temporary file beside ``target``, moved to a final name by :meth:`commit`."""

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
        self.temp = Path(name)
        self.handle = os.fdopen(fd, "wb")
        self.committed = False

    def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)

    def commit(self, overwrite: bool) -> Path:
        """Move the complete file into place; the path it now has."""
        self.handle.flush()
        os.fchmod(self.handle.fileno(), _FILE_MODE)
        os.fsync(self.handle.fileno())
        self.handle.close()
        final = None
        if overwrite:
            # a directory of that name is never replaced: the file takes a free name
            with contextlib.suppress(IsADirectoryError):
                os.replace(self.temp, self.target)
                final = self.target
        if final is None:
            final = _link_to_free_name(self.temp, self.target)
            self.temp.unlink()
        self.committed = True
        return final

    def discard(self) -> None:
        """Close and remove the temporary file unless it was committed."""
        if self.committed:
            return
        self.handle.close()
        with contextlib.suppress(OSError):
            self.temp.unlink()


def _link_to_free_name(source: Path, target: Path) -> Path:
    """Hard-link ``source`` as ``target`` or the first free ``stem-N.suffix`` beside it."""
    for candidate in _candidate_names(target):
        try:
            os.link(source, candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free name for {target.name!r} in {target.parent}")


def _candidate_names(target: Path) -> Iterator[Path]:
    yield target
    name = target.name
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no extension, or a dot file such as ".env"
        stem, dot, suffix = name, "", ""
    for number in range(1, _MAX_NAME_TRIES):
        # past stem-99, random: a client sending one name again and again neither runs
        # out of names (500) nor makes each save try every number before (10,000 links)
        mark = number if number < _NUMBERED_NAMES else secrets.token_hex(4)
        tail = f"-{mark}{dot}{suffix}"
        room = _MAX_FILENAME_BYTES - len(tail.encode("utf-8"))
        short_stem = stem.encode("utf-8")[: max(room, 1)].decode("utf-8", "ignore")
        yield target.with_name(short_stem + tail)


class _MultipartReader:
    """Drives python-multipart over the request body in a background task."""

    def __init__(self, request: Request, limits: Limits, boundary: bytes) -> None:
        multipart = require(
            "python_multipart", feature="Multipart uploads", package="python-multipart"
        )
        self.request = request
        self.limits = limits
        self._wait_left = limits.body_timeout or 0.0  # of body_timeout: receive_budgeted
        self.receive: Receive = request._receive
        self.ready = asyncio.Event()
        self.done = asyncio.Event()
        self.error: tuple[int, str] | None = None
        self.discarding = False
        self.files: list[UploadedFile] = []
        self._received = 0
        self._parts = 0
        self._queued = 0  # file bytes waiting in queues
        self._text_bytes = 0  # text field bytes kept in memory
        self._room = asyncio.Event()
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
        self.parser.logger = _PARSER_LOG
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
        file.content = _ChunkQueue(self._queued_changed)
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
            self._text_bytes += end - start
            maximum = self.limits.max_form_field_size
            if maximum is not None and len(self._text) > maximum:
                raise too_large()
            buffer_limit = self.limits.max_buffer_size
            if buffer_limit is not None and self._text_bytes > buffer_limit:
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
            message, self._wait_left = await receive_budgeted(
                self.receive, self._wait_left, self.limits.body_timeout
            )
        except TimeoutError:
            raise timed_out() from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        return message.get("body", b""), message.get("more_body", False)

    async def _flush(self) -> None:
        """Queue file data, waiting (and letting the handler start) while buffers are full."""
        actions, self._actions = self._actions, []
        for file, data in actions:
            await self._wait_for_room(file)
            if not self._exposed(file):
                continue
            file.content.put_nowait(data)
            file._complete = data is None

    async def _wait_for_room(self, file: UploadedFile) -> None:
        """Wait while ``file``'s buffer or the request's buffer budget is full.

        A file buffers up to :data:`FILE_BUFFER_BYTES`; all files and text fields of the
        request together up to ``max_buffer_size`` (file data always gets some room).
        """
        queue = file.content
        assert isinstance(queue, _ChunkQueue)
        budget = self.limits.max_buffer_size
        while self._exposed(file) and (
            queue.nbytes >= FILE_BUFFER_BYTES
            or (budget is not None and self._queued and self._queued + self._text_bytes >= budget)
        ):
            self.ready.set()
            self._room.clear()
            await self._room.wait()

    def _queued_changed(self, delta: int) -> None:
        self._queued += delta
        if delta < 0:
            self._room.set()

    def _fail(self, status: int, detail: str) -> None:
        self.error = (status, detail)
        for file in self.files:
            queue = file.content
            if file._complete or not isinstance(queue, _ChunkQueue) or queue.error is not None:
                continue
            queue.fail(self.error)

    async def receive_after_body(self) -> Message:
        """``receive`` for the rest of the app: waits until the parser is done with it."""
        await self.done.wait()
        return await self.receive()

    async def finish(self, *, drain: bool = True) -> None:
        """Drain what the handler left unread and wait for the parser task to end.

        Without ``drain`` (the request was cancelled) the parser stops where it is,
        reading nothing more from the client.
        """
        self.discarding = True
        for file in self.files:
            queue = file.content
            if isinstance(queue, _ChunkQueue):
                queue.discard()
        self._room.set()
        task = self.task
        if task is None or task.done():
            return
        if not drain:
            task.cancel()
            await asyncio.wait([task])  # raises nothing of the task's; a new cancel ends it
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


async def finish_uploads(request: Request, *, cancelled: bool = False) -> None:
    """Drain unread file data and stop the parser (called after the handler).

    A ``cancelled`` request (a server's shutdown timeout, a timeout around the app) stops
    reading at once: draining would read the rest of the upload first, for as long as
    the client takes to send it, holding up the cancellation.
    """
    readers = {id(f._reader): f._reader for f in request.files.values() if _has_reader(f)}
    for reader in readers.values():
        await reader.finish(drain=not cancelled)


def _has_reader(value: object) -> bool:
    return isinstance(value, UploadedFile) and value._reader is not None
