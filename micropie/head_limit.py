"""uvicorn's ``httptools`` protocol with bounds on the request head: its size and time.

uvicorn's ``h11`` protocol refuses a request head that grows past
``--h11-max-incomplete-event-size`` (16 KiB); its ``httptools`` protocol, the one
``uvicorn[standard]`` picks, has no such bound: a client may send megabytes of request
line and headers (100 MB in one header was taken whole in a test) and the worker holds
them all. Neither times out a head sent a byte every few seconds (slowloris).
:class:`HttpToolsProtocol` is uvicorn's protocol with both bounds: a head longer than
``MICROPIE_MAX_HEAD_BYTES`` (default 64 KiB) is answered ``431 Request Header Fields
Too Large``, one not complete ``MICROPIE_HEAD_TIMEOUT`` seconds after it began (default
10) ``408 Request Timeout``, and the connection closed. Use it with
``uvicorn app:app --http micropie.head_limit:HttpToolsProtocol``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ._optional import require

__all__ = [
    "DEFAULT_HEAD_TIMEOUT",
    "DEFAULT_MAX_HEAD_BYTES",
    "HEAD_TIMED_OUT",
    "HEAD_TOO_LARGE",
    "HttpToolsProtocol",
    "head_bound_from_environ",
]

#: The longest request head (request line and headers) taken by default: 64 KiB.
DEFAULT_MAX_HEAD_BYTES = 64 * 1024
#: Seconds a request head may take to arrive, by default.
DEFAULT_HEAD_TIMEOUT = 10.0
#: The environment variables that set other bounds (bytes; seconds).
MAX_HEAD_ENV = "MICROPIE_MAX_HEAD_BYTES"
HEAD_TIMEOUT_ENV = "MICROPIE_HEAD_TIMEOUT"
HEAD_TOO_LARGE = b"431 Request Header Fields Too Large"
HEAD_TIMED_OUT = b"408 Request Timeout"
_END_OF_HEAD = b"\r\n\r\n"

_base: Any = require(
    "uvicorn.protocols.http.httptools_impl",
    feature="The httptools protocol with a head limit",
    package="uvicorn[standard]",
).HttpToolsProtocol


def head_bound_from_environ(name: str = MAX_HEAD_ENV) -> float:
    """The bound set by environment variable ``name``, else its default."""
    default = DEFAULT_MAX_HEAD_BYTES if name == MAX_HEAD_ENV else DEFAULT_HEAD_TIMEOUT
    text = os.environ.get(name, "")
    try:
        return float(text) if text else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None


class HttpToolsProtocol(_base):  # type: ignore[misc]
    """uvicorn's ``HttpToolsProtocol``, answering 431 to a request head over the size
    bound and 408 to one that takes longer than the time bound.

    The head is measured as it arrives, before httptools buffers it: the bytes read
    while a request's head is incomplete, up to the blank line that ends it. Its clock
    starts with the connection or with the first byte of the next request's head (the
    wait between requests is uvicorn's ``--timeout-keep-alive``).
    """

    max_head_bytes = head_bound_from_environ(MAX_HEAD_ENV)
    head_timeout = head_bound_from_environ(HEAD_TIMEOUT_ENV)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._reading_head = True
        self._head_tail = b""  # the last bytes read, for an end of head split across reads
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head and not self._count_head(data):
            self._refuse(HEAD_TOO_LARGE, f"Request head over {self.max_head_bytes:.0f} bytes")
            return
        super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True  # a next request on this connection starts its head
        self._head_bytes = 0
        self._head_tail = b""

    def _count_head(self, data: bytes) -> bool:
        """Count ``data`` into the head; whether the head is still within the bound."""
        if self._head_timer is None:
            self._start_head_clock()  # the first bytes of a next request's head
        seen = self._head_tail + data
        end = seen.find(_END_OF_HEAD)
        if end < 0:
            self._head_bytes += len(data)
            self._head_tail = seen[-(len(_END_OF_HEAD) - 1) :]
        else:
            self._head_bytes += end + len(_END_OF_HEAD) - len(self._head_tail)
            self._reading_head = False
            self._stop_head_clock()
        return self._head_bytes <= self.max_head_bytes

    def _start_head_clock(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._reading_head or (self.cycle is not None and not self.cycle.response_complete):
            return  # an answer is on its way: uvicorn's keep-alive timeout follows it
        if self._head_bytes:
            self._refuse(HEAD_TIMED_OUT, f"Request head not complete in {self.head_timeout:g} s")
        else:
            self.transport.close()  # connected and said nothing: nothing to answer

    def _refuse(self, answer: bytes, reason: str) -> None:
        """Answer ``answer`` (unless a response is under way) and close the connection."""
        self._stop_head_clock()
        if self.transport.is_closing():
            return
        self.logger.warning("%s: answered %s.", reason, answer[:3].decode())
        if self.cycle is None or self.cycle.response_complete:
            status_line = b"HTTP/1.1 " + answer + b"\r\n"
            self.transport.write(
                status_line + b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(answer), answer)
            )
        self.transport.close()
