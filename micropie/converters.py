"""Annotation-driven conversion of bound values (SPEC §2).

:func:`converter_for` turns a parameter annotation into a function, built once per
handler, that converts a received value or raises ``ValueError``/``TypeError``.
Besides the scalars of SPEC §2, an ``Enum`` takes one of its values, a ``Literal`` one
of its choices, and ``Annotated[T, ...]`` converts as ``T`` and then checks the
constraints Pydantic (``Field``, ``annotated_types``) or msgspec (``Meta``) put in it.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import importlib
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union

__all__ = [
    "BOOL_DESCRIPTION",
    "BOOL_SPELLINGS",
    "ConstraintError",
    "Converter",
    "constraint_for",
    "constraint_libraries",
    "converter_for",
    "is_class",
    "is_list_annotation",
    "repeated_item",
    "strip_annotated",
]

Converter = Callable[[Any], Any]


class ConstraintError(ValueError):
    """A value of the right type that a constraint refuses (an enum, a literal, an
    ``Annotated`` limit); ``message`` says which, ``kind`` is the validator's error type."""

    def __init__(self, message: str, kind: str = "constraint") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


#: The (true, false) spellings a ``bool`` parameter accepts as text, in any case: those
#: Pydantic accepts (what FastAPI users send); an empty value is false as well.
BOOL_SPELLINGS = (("true", "false"), ("1", "0"), ("yes", "no"), ("y", "n"), ("on", "off"),
                  ("t", "f"))  # fmt: skip
#: How the OpenAPI document describes a ``bool`` parameter received as text.
BOOL_DESCRIPTION = (
    "A boolean: "
    + ", ".join(f"{yes}/{no}" for yes, no in BOOL_SPELLINGS)
    + " (any case); an empty value is false"
)
_TRUE = frozenset(yes for yes, _ in BOOL_SPELLINGS)
_FALSE = frozenset(no for _, no in BOOL_SPELLINGS) | {""}


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


def _to_decimal(value: Any) -> decimal.Decimal:
    """A finite ``Decimal`` from text or a JSON number (NaN and infinities refused, as
    Pydantic refuses them for ``Decimal``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
        raise TypeError(f"cannot convert {type(value).__name__} to Decimal")
    try:
        number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
    except decimal.InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return number


def _from_string(parse: Callable[[str], Any]) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return parse(value)

    return convert


def _iso(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` that also reads a ``Z`` (UTC) suffix, which Python 3.10's
    ``fromisoformat`` does not."""

    def parse_iso(text: str) -> Any:
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        return parse(text)

    return parse_iso


_SIMPLE: dict[Any, Converter] = {
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    str: _to_str,
    bytes: _to_bytes,
    decimal.Decimal: _to_decimal,
    uuid.UUID: _from_string(uuid.UUID),
    datetime.datetime: _from_string(_iso(datetime.datetime.fromisoformat)),
    datetime.date: _from_string(datetime.date.fromisoformat),
    datetime.time: _from_string(_iso(datetime.time.fromisoformat)),
}
#: Collections a repeated field (``?id=1&id=2``) fills, each value converted on its own.
_COLLECTIONS: dict[Any, Callable[[list[Any]], Any]] = {
    list: list,
    set: set,
    frozenset: frozenset,
    tuple: tuple,
}


def is_class(annotation: Any) -> bool:
    """True for a class; false for ``list[int]`` and other generic aliases, which Python
    3.10 also counts as instances of ``type`` (``issubclass`` then raises)."""
    return isinstance(annotation, type) and typing.get_origin(annotation) is None


def _optional_inner(annotation: Any) -> Any | None:
    """``T`` for ``Optional[T]`` / ``T | None``, else ``None``."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0]
    return None


def strip_annotated(annotation: Any) -> Any:
    """``T`` for ``Annotated[T, ...]`` (also inside ``Optional``), else ``annotation``."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    inner = _optional_inner(annotation)
    if inner is not None and typing.get_origin(inner) is typing.Annotated:
        return typing.get_args(inner)[0] | None
    return annotation


def _collection(annotation: Any) -> tuple[Callable[[list[Any]], Any], Any] | None:
    """``(container, item annotation)`` for ``list[T]``, ``set[T]``, ``frozenset[T]`` and
    ``tuple[T, ...]`` (item ``None`` when not given), else ``None``."""
    origin = typing.get_origin(annotation) or annotation
    container = _COLLECTIONS.get(origin)
    if container is None:
        return None
    args = typing.get_args(annotation)
    if _fixed_tuple_items(annotation):
        return None  # each position has its own type
    return container, (args[0] if args else None)


def repeated_item(annotation: Any) -> Any:
    """The item type of a repeated field's annotation (``list[T]``, ``set[T]``,
    ``frozenset[T]``, ``tuple[T, ...]``: ``T``, ``str`` when not given), else ``None``."""
    collection = _collection(strip_annotated(annotation))
    if collection is None:
        return None
    return str if collection[1] is None else collection[1]


def _fixed_tuple_items(annotation: Any) -> tuple[Any, ...]:
    """The item types of a fixed-length tuple (``tuple[int, str]``), else ``()``."""
    if typing.get_origin(annotation) is not tuple:
        return ()
    args = typing.get_args(annotation)
    return () if len(args) == 2 and args[1] is Ellipsis else args


def is_list_annotation(annotation: Any) -> bool:
    """True for ``list[T]``, ``set[T]``, ``frozenset[T]`` and ``tuple[T, ...]`` (also
    inside ``Optional``): bind every value."""
    annotation = strip_annotated(annotation)
    inner = _optional_inner(annotation)
    target = annotation if inner is None else inner
    target = strip_annotated(target)
    return _collection(target) is not None or bool(_fixed_tuple_items(target))


def converter_for(annotation: Any) -> Converter | None:
    """The converter for ``annotation``, or ``None`` when values pass unchanged."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _annotated(annotation)
    inner = _optional_inner(annotation)
    if inner is not None:
        convert_inner = converter_for(inner)
        if convert_inner is None:
            return None
        return _optional(convert_inner, inner)
    collection = _collection(annotation)
    if collection is not None:
        container, item = collection
        return _each(None if item is None else converter_for(item), container)
    items = _fixed_tuple_items(annotation)
    if items:
        return _positions(items)
    if typing.get_origin(annotation) is Literal:
        return _choice(typing.get_args(annotation))
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return _union(typing.get_args(annotation))
    if is_class(annotation) and issubclass(annotation, enum.Enum):
        return _member(annotation)
    return _SIMPLE.get(annotation)


def _optional(convert: Converter, inner: Any) -> Converter:
    blank_is_none = inner is not str

    def convert_optional(value: Any) -> Any:
        if value is None or (blank_is_none and value == ""):
            return None
        return convert(value)

    return convert_optional


def _union(members: tuple[Any, ...]) -> Converter | None:
    """``A | B | ...``, as Pydantic's smart mode reads it: a value already of a member's
    type stays as it is (a text stays text when ``str`` is a member), else the first
    member that converts it wins (``?x=1.5`` for ``int | float`` is ``1.5``); ``None`` or a
    blank value is ``None`` when ``None`` is a member."""
    types_ = tuple(member for member in members if member is not type(None))
    nullable = len(types_) < len(members)
    found = [converter_for(member) for member in types_]
    converters = [convert for convert in found if convert is not None]
    if len(converters) < len(found):
        return None  # a member micropie does not convert: the value passes unchanged
    exact = tuple(member for member in types_ if is_class(member))

    def convert_union(value: Any) -> Any:
        if value is None or (nullable and value == ""):
            if nullable:
                return None
        elif type(value) in exact:
            return value
        for convert in converters:
            try:
                return convert(value)
            except (ValueError, TypeError, OverflowError):
                continue
        raise ValueError(f"{value!r} is none of {types_!r}")

    return convert_union


def _each(item: Converter | None, container: Callable[[list[Any]], Any] = list) -> Converter:
    def convert_list(value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        converted = values if item is None else [item(v) for v in values]
        return converted if container is list else container(converted)

    return convert_list


def _positions(items: tuple[Any, ...]) -> Converter:
    """A fixed-length tuple from repeated values (``?p=1&p=2`` for ``tuple[int, int]``):
    exactly one value per position, each converted as its position says. One text value
    is split at commas (``/pair/1,2``: OpenAPI's form of an array in a path segment)."""
    converters = [converter_for(item) for item in items]
    count = len(items)

    def convert_tuple(value: Any) -> tuple[Any, ...]:
        values = value if isinstance(value, list) else [value]
        if count > 1 and len(values) == 1 and isinstance(values[0], str):
            values = values[0].split(",")
        if len(values) != count:
            kind = "too_short" if len(values) < count else "too_long"
            raise ConstraintError(f"expected {count} values, got {len(values)}", kind)
        return tuple(v if c is None else c(v) for c, v in zip(converters, values, strict=True))

    return convert_tuple


def _choice(choices: tuple[Any, ...]) -> Converter:
    """A ``Literal``: one of ``choices``, given as itself or as its text (path, query, form)."""
    by_text = {str(choice): choice for choice in choices}
    expected = _one_of(choices)

    def convert_choice(value: Any) -> Any:
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return choice
        if isinstance(value, str) and value in by_text:
            return by_text[value]
        raise ConstraintError(expected, "enum")

    return convert_choice


def _one_of(choices: tuple[Any, ...]) -> str:
    """``Input should be 'a', 'b' or 'c'``, as Pydantic words it."""
    shown = [repr(choice) for choice in choices]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    return f"Input should be {listed}"


def _member(cls: type[enum.Enum]) -> Converter:
    """An ``Enum``: the member whose value is given, as itself or as its text."""
    convert_value = _choice(tuple(member.value for member in cls))

    def convert_member(value: Any) -> enum.Enum:
        if isinstance(value, cls):
            return value
        return cls(convert_value(value))

    return convert_member


def _annotated(annotation: Any) -> Converter | None:
    """``Annotated[T, ...]``: converted as ``T``, then checked by the library of its metadata."""
    base, *metadata = typing.get_args(annotation)
    convert = converter_for(base)
    check = _constraint_check(annotation, metadata)
    if check is None:
        return convert
    if convert is None:
        return check

    def convert_checked(value: Any) -> Any:
        return check(convert(value))

    return convert_checked


def constraint_for(annotation: Any) -> Converter | None:
    """The check of an ``Annotated[T, ...]``'s constraints on a ``T`` value, or ``None``.

    It returns the value, or raises :class:`ConstraintError` naming the limit.
    """
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    return _constraint_check(annotation, list(typing.get_args(annotation)[1:]))


def constraint_libraries(metadata: Sequence[Any]) -> set[str]:
    """The top-level packages whose classes ``Annotated`` metadata is made of, bases
    included: FastAPI's ``Query(ge=1)`` is a Pydantic ``FieldInfo``."""
    return {
        cls.__module__.partition(".")[0]
        for item in metadata
        for cls in type(item).__mro__
        if cls is not object
    }


def _constraint_check(annotation: Any, metadata: list[Any]) -> Converter | None:
    """A check of ``annotation``'s constraints by the library they come from, if any."""
    libraries = constraint_libraries(metadata)
    if libraries & {"pydantic", "annotated_types"}:
        try:
            pydantic = importlib.import_module("pydantic")
        except ImportError:
            return None
        try:
            validate: Converter = pydantic.TypeAdapter(annotation).validate_python
        except Exception:  # a type Pydantic cannot validate: converted as the base type only
            return None

        def check_pydantic(value: Any) -> Any:
            try:
                return validate(value)
            except pydantic.ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                raise ConstraintError(first["msg"], first["type"]) from None

        return check_pydantic
    if "msgspec" in libraries:
        msgspec = importlib.import_module("msgspec")

        def check_msgspec(value: Any) -> Any:
            try:
                return msgspec.convert(value, annotation, strict=False)
            except msgspec.ValidationError as exc:
                raise ConstraintError(str(exc).partition(" - at `$")[0]) from None

        return check_msgspec
    return None
