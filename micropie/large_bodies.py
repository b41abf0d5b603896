"""Large parsed bodies without event-loop stalls: collector, freeing, encoding (SPEC §2).

A 16 MiB JSON body of small containers becomes millions of Python objects. Three
things about them would stop every thread for seconds, and each is handled here:

- Building them triggers full garbage collections over an ever larger heap. While a
  large body is parsed the cyclic collector is off; then :func:`gc.freeze` moves what
  is alive out of its sight until the last request holding such a body ends.
- Freeing them at once is one long C call. :func:`release` takes them apart in a worker
  thread, a few hundred at a time, touching only containers nothing else references.
- Encoding them for ``body_params`` in one ``orjson.dumps`` call is another:
  :func:`dumps_in_chunks` encodes a large array or object a slice at a time.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio

__all__ = ["dumps_in_chunks", "parse_collector_off", "parse_frozen", "release"]

T = TypeVar("T")
#: Containers are taken apart and encoded this many items at a time.
BATCH = 512


class _Collector:
    """Counts parses in progress (collector off) and requests holding frozen objects."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.parsing = 0
        self.was_enabled = True
        self.frozen = 0


_collector = _Collector()


def parse_frozen(parse: Callable[[], T]) -> T:
    """``parse()`` with the cyclic collector off, what is alive frozen afterwards.

    Call :func:`release` when the request holding the result ends (only on success).
    """
    with _collector_off():
        result = parse()
        with _collector.lock:
            gc.freeze()
            _collector.frozen += 1
        return result


def parse_collector_off(parse: Callable[[], T]) -> T:
    """``parse()`` with the cyclic collector off, for a result micropie does not keep
    (a websocket message handed to its handler): nothing frozen, nothing to release."""
    with _collector_off():
        return parse()


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    """The cyclic collector off while any parse is in progress (in any thread)."""
    with _collector.lock:
        if _collector.parsing == 0:
            _collector.was_enabled = gc.isenabled()
            gc.disable()
        _collector.parsing += 1
    try:
        yield
    finally:
        with _collector.lock:
            _collector.parsing -= 1
            if _collector.parsing == 0 and _collector.was_enabled:
                gc.enable()


async def release(values: list[Any]) -> None:
    """Free ``values`` (parsed by :func:`parse_frozen`) in a worker thread, then unfreeze.

    The caller must hold no other reference to them.
    """
    try:
        await anyio.to_thread.run_sync(_take_apart, values)
    finally:
        with _collector.lock:
            _collector.frozen -= 1
            if _collector.frozen == 0:
                gc.unfreeze()


def _take_apart(stack: list[Any]) -> None:
    """Empty the containers on ``stack`` a batch at a time, descending into large ones.

    A container something else still references (``getrefcount`` above the two of
    this loop) is left alone: only what was ours alone is changed.
    """
    while stack:
        value = stack.pop()
        if sys.getrefcount(value) > 2:
            continue
        if isinstance(value, list):
            _empty_list(value, stack)
        elif isinstance(value, dict):
            _empty_dict(value, stack)
        del value


def _empty_list(value: list[Any], stack: list[Any]) -> None:
    while value:
        batch = value[-BATCH:]
        del value[-BATCH:]
        stack.extend(item for item in batch if _is_large(item))
        del batch
        time.sleep(0)  # let a waiting thread (the event loop) take the GIL


def _empty_dict(value: dict[Any, Any], stack: list[Any]) -> None:
    while value:
        batch = [value.popitem()[1] for _ in range(min(BATCH, len(value)))]
        stack.extend(item for item in batch if _is_large(item))
        del batch
        time.sleep(0)


def _is_large(value: Any) -> bool:
    return isinstance(value, list | dict) and len(value) > BATCH


def dumps_in_chunks(value: Any, dumps: Callable[[Any], bytes]) -> bytes:
    """``dumps(value)`` for compact JSON, encoding a large top-level container by slices."""
    if isinstance(value, list) and len(value) > BATCH:
        return b"[" + b",".join(_inner(dumps(value[i : i + BATCH])) for i in _starts(value)) + b"]"
    if isinstance(value, dict) and len(value) > BATCH:
        items = list(value.items())
        parts = (_inner(dumps(dict(items[i : i + BATCH]))) for i in _starts(items))
        return b"{" + b",".join(parts) + b"}"
    return dumps(value)


def _starts(items: list[Any]) -> range:
    return range(0, len(items), BATCH)


def _inner(encoded: bytes) -> bytes:
    return encoded[1:-1]
