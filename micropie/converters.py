"""Annotation-driven conversion of bound values (SPEC §2).

:func:`converter_for` turns a parameter annotation into a function, built once per
handler, that converts a received value or raises ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import datetime
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any, Union

__all__ = ["Converter", "converter_for", "is_list_annotation"]

Converter = Callable[[Any], Any]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not an int")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"cannot convert {type(value).__name__} to int")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a float")
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"cannot convert {type(value).__name__} to float")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"not a boolean: {value!r}")


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"cannot convert {type(value).__name__} to str")


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"cannot convert {type(value).__name__} to bytes")


def _from_string(parse: Callable[[str], Any]) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return parse(value)

    return convert


_SIMPLE: dict[Any, Converter] = {
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    str: _to_str,
    bytes: _to_bytes,
    uuid.UUID: _from_string(uuid.UUID),
    datetime.datetime: _from_string(datetime.datetime.fromisoformat),
    datetime.date: _from_string(datetime.date.fromisoformat),
}


def _optional_inner(annotation: Any) -> Any | None:
    """``T`` for ``Optional[T]`` / ``T | None``, else ``None``."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0]
    return None


def is_list_annotation(annotation: Any) -> bool:
    """True for ``list[T]``/``List[T]`` (also inside ``Optional``): bind every value."""
    inner = _optional_inner(annotation)
    target = annotation if inner is None else inner
    return target is list or typing.get_origin(target) is list


def converter_for(annotation: Any) -> Converter | None:
    """The converter for ``annotation``, or ``None`` when values pass unchanged."""
    inner = _optional_inner(annotation)
    if inner is not None:
        convert_inner = converter_for(inner)
        if convert_inner is None:
            return None
        return _optional(convert_inner, inner)
    if annotation is list or typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        item = converter_for(args[0]) if args else None
        return _each(item)
    return _SIMPLE.get(annotation)


def _optional(convert: Converter, inner: Any) -> Converter:
    blank_is_none = inner is not str

    def convert_optional(value: Any) -> Any:
        if value is None or (blank_is_none and value == ""):
            return None
        return convert(value)

    return convert_optional


def _each(item: Converter | None) -> Converter:
    def convert_list(value: Any) -> list[Any]:
        values = value if isinstance(value, list) else [value]
        return values if item is None else [item(v) for v in values]

    return convert_list
