"""Parsing a large JSON body in pieces, so other threads run in between (SPEC §2).

orjson holds the GIL for a whole parse: seconds for 16 MiB of small containers on a
busy machine, during which the event loop cannot answer anyone. :func:`loads_in_pieces`
parses a large array or object as consecutive groups of its elements, each group one
``orjson.loads`` call of about :data:`PIECE_BYTES`, and descends into a member too
large for one piece (``{"items": [...]}``).

The result is what one ``orjson.loads`` of the whole body gives. A group is cut at a
comma where counting brackets says the container's own level is; orjson then checks
each group as a complete run of elements. The first group starts right after the
container's opening bracket and each next one right after the previous, so every group
starts outside any string at the container's level: a cut that was wrong (inside a
string or a nested value) leaves its group unterminated and orjson refuses it. When
any piece fails, :class:`PiecesFailed` tells the caller to parse the body whole.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson

__all__ = ["PIECE_BYTES", "PiecesFailed", "TooDeep", "has_long_digits", "loads_in_pieces"]

#: About this many bytes are parsed per ``orjson.loads`` call.
PIECE_BYTES = 32 * 1024
_CUT_TRIES = 64
_WHITESPACE = b" \t\r\n"
_OPEN = {ord("["): ord("]"), ord("{"): ord("}")}
_KEY = re.compile(rb'[ \t\r\n]*"(?:[^"\\]|\\.)*"[ \t\r\n]*:')
#: A run of digits that may be an integer orjson cannot hold exactly (over 64 bits).
_DIGIT_RUN = b"0" * 19
_DIGITS_AS_ZERO = bytes(ord("0") if byte in b"0123456789" else ord(" ") for byte in range(256))
#: Bytes searched for such a run per step (a translated copy of each).
_SCAN_BYTES = 64 * 1024
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_COMMA = ord(",")
T = TypeVar("T")


def has_long_digits(text: bytes, start: int = 0, end: int | None = None) -> bool:
    """Whether ``text[start:end]`` holds a run of 19 or more ASCII digits.

    Searched :data:`_SCAN_BYTES` at a time, so a thread scanning a large body lets
    another (the event loop) run in between.
    """
    end = len(text) if end is None else end
    if start == 0 and end == len(text) <= _SCAN_BYTES:  # a small body: one step, no slice
        return text.translate(_DIGITS_AS_ZERO).find(_DIGIT_RUN) >= 0  # cheaper than `in`
    overlap = len(_DIGIT_RUN) - 1
    for position in range(start, end, _SCAN_BYTES):
        window = text[position : min(end, position + _SCAN_BYTES + overlap)]
        if window.translate(_DIGITS_AS_ZERO).find(_DIGIT_RUN) >= 0:
            return True
    return False


class PiecesFailed(ValueError):
    """The body could not be parsed in pieces: parse it whole for the real answer."""


class TooDeep(ValueError):
    """A piece nests deeper than orjson encodes: so does the body, whatever else it holds.

    A piece that parsed starts and ends where the whole parse would put them, so its
    depth is the body's; the whole parse would refuse it too (Bad JSON either way).
    """


def loads_in_pieces(text: bytes) -> Any:
    """``orjson.loads(text)`` in pieces; :class:`PiecesFailed` when that is not possible.

    Also fails for integers orjson cannot hold exactly, so the caller's whole parse
    decides them; nesting deeper than orjson can encode (254 levels) raises
    :class:`TooDeep` at once, sparing the whole parse a body it would refuse anyway.
    """
    start, end = _strip(text, 0, len(text))
    try:
        return _value(text, start, end, 0)
    except TooDeep:
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        raise PiecesFailed(str(exc)) from None


def _strip(text: bytes, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _WHITESPACE:
        start += 1
    while end > start and text[end - 1] in _WHITESPACE:
        end -= 1
    return start, end


def _value(text: bytes, start: int, end: int, level: int) -> Any:
    """The JSON value ``text[start:end]`` inside ``level`` containers."""
    closer = _OPEN.get(text[start]) if start < end else None
    if end - start <= PIECE_BYTES or closer is None:
        return _checked(_parse(text, start, end), level)
    if text[end - 1] != closer:
        raise ValueError("unbalanced container")
    if closer == ord("]"):
        items: list[Any] = []
        for group in _groups(text, start + 1, end - 1, level + 1, _array_group):
            items.extend(group)
        return items
    members: dict[str, Any] = {}
    for member_group in _groups(text, start + 1, end - 1, level + 1, _object_group):
        members.update(member_group)
    return members


def _groups(
    text: bytes, start: int, end: int, level: int, parse: Callable[[bytes, int, int, int], T]
) -> Iterator[T]:
    """A container's inside ``text[start:end]`` parsed a group of elements at a time.

    Cuts come from counting brackets; when a group fails to parse (a string full of
    brackets misled the count) it is cut again by reading its tokens.
    """
    position = start
    while True:
        cut = _cut_after(text, position, position + PIECE_BYTES, end)
        if cut is None and end - position > PIECE_BYTES:
            cut = _cut_after(text, position, position, end)
        group_end = end if cut is None else cut
        try:
            group = parse(text, position, group_end, level)
        except TooDeep:
            raise
        except ValueError:
            exact = _exact_cut(text, position, end)
            if exact == cut:
                raise
            group_end = end if exact is None else exact
            group = parse(text, position, group_end, level)
        if _strip(text, position, group_end)[0] == group_end and (position, group_end) != (
            start,
            end,
        ):
            raise ValueError("empty element")  # "[1,,2]", "[,1]" or a trailing comma
        yield group
        if group_end == end:
            return
        position = group_end + 1
        time.sleep(0)  # let a waiting thread (the event loop) take the GIL


def _array_group(text: bytes, start: int, end: int, level: int) -> list[Any]:
    """Elements ``text[start:end]`` of an array inside ``level`` containers (its own included)."""
    first, last = _strip(text, start, end)
    closer = _OPEN.get(text[first]) if first < last else None
    if last - first > 2 * PIECE_BYTES and closer is not None:  # too large for one piece
        comma = _cut_after(text, first, first, last)
        if comma is not None:  # several elements: the first ones are small
            return _array_group(text, first, comma, level) + _array_group(
                text, comma + 1, last, level
            )
        if text[last - 1] != closer:  # followed by other elements
            comma = _last_cut(text, first, last)
            return _array_group(text, first, comma, level) + _array_group(
                text, comma + 1, last, level
            )
        return [_value(text, first, last, level)]
    group: list[Any] = _checked(_parse_wrapped(b"[", text, start, end, b"]"), level - 1)
    return group


def _object_group(text: bytes, start: int, end: int, level: int) -> dict[str, Any]:
    """Members ``text[start:end]`` of an object inside ``level`` containers."""
    key = _KEY.match(text, start, end) if end - start > 2 * PIECE_BYTES else None
    first, last = _strip(text, key.end(), end) if key is not None else (end, end)
    closer = _OPEN.get(text[first]) if first < last else None
    if key is not None and closer is not None:  # a member too large for one piece
        comma = _cut_after(text, start, start, end)
        if comma is not None:  # several members: the first ones are small
            return {
                **_object_group(text, start, comma, level),
                **_object_group(text, comma + 1, end, level),
            }
        name = orjson.loads(text[key.start() : key.end() - 1])
        if not isinstance(name, str):
            raise ValueError("malformed member")
        if text[last - 1] != closer:  # followed by other members
            comma = _last_cut(text, first, last)
            return {
                name: _value(text, first, comma, level),
                **_object_group(text, comma + 1, last, level),
            }
        return {name: _value(text, first, last, level)}
    group: dict[str, Any] = _checked(_parse_wrapped(b"{", text, start, end, b"}"), level - 1)
    return group


def _last_cut(text: bytes, start: int, end: int) -> int:
    """The last comma in ``text[start:end]`` whose suffix balances its brackets (by count)."""
    comma = text.rfind(b",", start, end)
    depth = _depth(text, comma, end) if comma >= 0 else 1
    for _ in range(_CUT_TRIES):
        if comma < 0:
            break
        if depth == 0:
            return comma
        previous = text.rfind(b",", start, comma)
        if previous < 0:
            break
        depth += _depth(text, previous, comma)
        comma = previous
    raise ValueError("no place to cut")


def _cut_after(text: bytes, position: int, target: int, end: int) -> int | None:
    """A comma at or after ``target`` at the level of ``position`` (by bracket count)."""
    comma = text.find(b",", target, end)
    if comma < 0:
        return None
    depth = _depth(text, position, comma)
    for _ in range(_CUT_TRIES):
        if depth == 0:
            return comma
        following = text.find(b",", comma + 1, end)
        if following < 0:
            return None
        depth += _depth(text, comma, following)
        comma = following
    return None


def _exact_cut(text: bytes, position: int, end: int) -> int | None:
    """The first comma at least PIECE_BYTES after ``position`` at its level, by tokens.

    Gives up (``None``) after ``4 * PIECE_BYTES`` bytes.
    """
    target = position + PIECE_BYTES
    limit = min(end, position + 4 * PIECE_BYTES)
    depth = 0
    for token in _TOKEN.finditer(text, position, limit):
        char = token.group()[0]
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
        elif char == _COMMA and depth == 0 and token.start() >= target:
            return token.start()
    return None


def _depth(text: bytes, start: int, end: int) -> int:
    opened = text.count(b"[", start, end) + text.count(b"{", start, end)
    return opened - text.count(b"]", start, end) - text.count(b"}", start, end)


def _parse(text: bytes, start: int, end: int) -> Any:
    if has_long_digits(text, start, end):
        raise ValueError("an integer orjson may not hold exactly")
    try:
        return orjson.loads(memoryview(text)[start:end])
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # read from where the whole parse would: as deep
            raise TooDeep(f"JSON nested too deeply ({exc})") from None
        raise


def _parse_wrapped(opener: bytes, text: bytes, start: int, end: int, closer: bytes) -> Any:
    return _parse(opener + memoryview(text)[start:end] + closer, 0, end - start + 2)


def _checked(value: Any, level: int) -> Any:
    """``value`` if it nests no deeper than orjson encodes when ``level`` containers enclose it."""
    wrapped = value
    for _ in range(level):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:  # past its depth limit, the only error it can have
        raise TooDeep("JSON nested too deeply") from None
    return value
