"""Models: typed values returned as JSON and typed parameters built from bodies (SPEC §13).

A *model* is a dataclass, a Pydantic model, a msgspec ``Struct``, a ``NamedTuple`` or a
``TypedDict``. Returned, one (or a list of them) answers JSON through the fast encoder
(:func:`model_encoder`, :func:`json_default`). As a parameter annotation, a dataclass,
Pydantic model or Struct is built from the request body by a :class:`BodyModel`, planned
once per handler; invalid input raises :class:`~micropie.exceptions.RequestValidationError`.

Pydantic and msgspec are optional (``micropie[typed]``): nothing here imports them unless
a type that belongs to them is in use.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import importlib
import inspect
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

from .converters import (
    ConstraintError,
    constraint_for,
    converter_for,
    is_class,
    is_list_annotation,
)
from .exceptions import RequestValidationError

if TYPE_CHECKING:
    from .request import Request

__all__ = [
    "BodyModel",
    "ErrorItem",
    "body_model",
    "checker",
    "is_model",
    "json_default",
    "model_encoder",
    "model_fields",
    "model_kind",
    "optional_inner",
    "record_fields",
]

#: One validation error as answered in a 422 body.
ErrorItem = dict[str, Any]
#: Builds a model from received data; ``(data, from_form)`` → value, or raises _Invalid.
Validator = Callable[[Any, bool], Any]
#: Encodes one value as JSON bytes.
Encoder = Callable[[Any], bytes]

PYDANTIC = "pydantic"
MSGSPEC = "msgspec"
DATACLASS = "dataclass"
NAMEDTUPLE = "namedtuple"
TYPEDDICT = "typeddict"
#: Kinds a parameter may be built from: every kind of model.
BODY_KINDS = frozenset({PYDANTIC, MSGSPEC, DATACLASS, NAMEDTUPLE, TYPEDDICT})
#: The kinds micropie checks field by field itself (Pydantic and msgspec check their own).
_RECORD_KINDS = frozenset({DATACLASS, NAMEDTUPLE, TYPEDDICT})


def _qualifiers(name: str) -> frozenset[Any]:
    """``typing``'s (and ``typing_extensions``') ``Required``-like form called ``name``."""
    modules: list[Any] = [typing]
    try:
        modules.append(importlib.import_module("typing_extensions"))
    except ImportError:  # pragma: no cover - Starlette depends on typing_extensions
        pass
    return frozenset(getattr(module, name) for module in modules if hasattr(module, name))


#: ``Required[T]`` / ``NotRequired[T]`` (/ ``ReadOnly[T]``) around a TypedDict field's type.
_REQUIRED = _qualifiers("Required")
_NOT_REQUIRED = _qualifiers("NotRequired")
_QUALIFIERS = _REQUIRED | _NOT_REQUIRED | _qualifiers("ReadOnly")

_EMPTY = inspect.Parameter.empty
_KINDS: dict[Any, str | None] = {}
_ENCODERS: dict[type, Encoder | None] = {}


# -- what a model is ------------------------------------------------------------------


def model_kind(annotation: Any) -> str | None:
    """Which kind of model the type ``annotation`` is, or ``None`` for anything else."""
    try:
        return _KINDS[annotation]
    except KeyError:
        pass
    except TypeError:  # unhashable annotations are never models
        return None
    kind = _KINDS[annotation] = _kind_of(annotation)
    return kind


def _kind_of(cls: Any) -> str | None:
    if not is_class(cls):
        return None
    if typing.is_typeddict(cls):
        return TYPEDDICT
    if "__pydantic_validator__" in dir(cls) and hasattr(cls, "__pydantic_fields__"):
        return PYDANTIC
    if hasattr(cls, "__struct_fields__") and hasattr(cls, "__struct_config__"):
        return MSGSPEC
    if dataclasses.is_dataclass(cls):
        return DATACLASS
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return NAMEDTUPLE
    return None


def is_model(value: Any) -> bool:
    """Whether ``value`` is a model instance, answered as JSON and never streamed."""
    return model_encoder(type(value)) is not None


def optional_inner(annotation: Any) -> Any | None:
    """``T`` for ``Optional[T]`` / ``T | None``, else ``None``."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(annotation)
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0]
    return None


def model_fields(cls: type) -> dict[str, Any]:
    """A model's field names and their annotations, in declaration order."""
    kind = model_kind(cls)
    if kind == PYDANTIC:
        fields: Mapping[str, Any] = cls.__pydantic_fields__  # type: ignore[attr-defined]
        return {name: info.annotation for name, info in fields.items()}
    if kind == MSGSPEC:
        structs = importlib.import_module("msgspec.structs")
        return {info.name: info.type for info in structs.fields(cls)}
    hints = typing.get_type_hints(cls, include_extras=True)
    if kind == DATACLASS:
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}
    if kind == NAMEDTUPLE:
        return {name: hints.get(name, Any) for name in cls._fields}  # type: ignore[attr-defined]
    if kind == TYPEDDICT:
        return {name: _unqualified(hint) for name, hint in hints.items()}
    raise TypeError(f"{cls!r} is not a model")


# -- models answered as JSON ----------------------------------------------------------


def model_encoder(cls: type) -> Encoder | None:
    """The JSON encoder for instances of ``cls`` when it is a model, else ``None``.

    Pydantic and msgspec types use their own encoders; dataclasses and named tuples go
    through micropie's JSON encoder (orjson when installed). Decided once per type.
    """
    try:
        return _ENCODERS[cls]
    except KeyError:
        encoder = _ENCODERS[cls] = _encoder_for(cls)
        return encoder


def _encoder_for(cls: type) -> Encoder | None:
    kind = model_kind(cls)
    if kind is None or kind == TYPEDDICT:  # a TypedDict value is a plain dict
        return None
    if kind == PYDANTIC:
        serializer = cls.__pydantic_serializer__  # type: ignore[attr-defined]
        # by alias, as the OpenAPI document names the fields and FastAPI answers them
        to_json: Encoder = functools.partial(serializer.to_json, by_alias=True)
        return to_json
    if kind == MSGSPEC:
        msgspec_json = importlib.import_module("msgspec.json")
        encode: Encoder = msgspec_json.Encoder().encode
        return encode
    from .streaming import dumps_json

    return dumps_json


def json_default(value: Any) -> Any:
    """Plain JSON data for a model nested in a body (the JSON encoders' ``default``)."""
    kind = model_kind(type(value))
    if kind == PYDANTIC:
        serializer = type(value).__pydantic_serializer__
        return serializer.to_python(value, mode="json", by_alias=True)
    if kind == MSGSPEC:
        return importlib.import_module("msgspec").to_builtins(value)
    if kind == DATACLASS:
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if kind == NAMEDTUPLE:
        return value._asdict()
    if isinstance(value, datetime.date | datetime.time):
        return iso_text(value)
    if isinstance(value, uuid.UUID | decimal.Decimal):  # a Decimal as text, as Pydantic
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, enum.Enum):  # orjson writes its value; json only a str/int one's
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def iso_text(value: datetime.date | datetime.time) -> str:
    """``value`` in ISO 8601, a zero UTC offset written ``Z`` as Pydantic, msgspec and
    FastAPI's typed answers write it (``isoformat`` writes ``+00:00``)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# -- models built from the request body --------------------------------------------------


class _Invalid(Exception):
    """Raised by a validator: the errors, located relative to the model."""

    def __init__(self, errors: list[ErrorItem]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class BodyModel:
    """How one model parameter is built from the body; planned once per handler.

    A JSON object holding a key named like the parameter gives that key's value,
    unless the model itself has a field of that name; otherwise the whole body is
    the model's data, except for one of several model parameters (``keyed``), which
    only its key gives. A form body is always the whole model.
    """

    name: str
    annotation: Any
    default: Any
    nullable: bool
    embeddable: bool
    list_fields: frozenset[str]
    validate: Validator
    #: One of several model parameters: a JSON object body must hold its key.
    keyed: bool = False

    def bind(self, request: Request) -> Any:
        """The validated model for ``request``; raises ``RequestValidationError`` (422)."""
        json_object = request._json_object
        loc: tuple[str, ...] = ("body",)
        form = False
        if json_object is not None:
            data: Any = json_object
            if self.embeddable and self.name in json_object:
                data = json_object[self.name]
                loc = ("body", self.name)
            elif self.keyed:
                if self.default is not _EMPTY:
                    return self.default
                missing = _error([], "Field required", "missing")
                raise RequestValidationError([missing], ("body", self.name))
        elif not isinstance(request.get_json, dict):  # a JSON body that is not an object
            data = request.get_json
        elif request.body_params:
            data = self._form_data(request.body_params)
            form = True
        elif self.default is not _EMPTY:
            return self.default
        else:
            raise RequestValidationError([_error([], _no_body(request), "missing")], loc)
        if data is None and self.nullable:
            return None
        try:
            return self.validate(data, form)
        except _Invalid as exc:
            raise RequestValidationError(exc.errors, loc) from None

    def _form_data(self, fields: dict[str, list[str]]) -> dict[str, Any]:
        many = self.list_fields
        return {key: values if key in many else values[0] for key, values in fields.items()}


def _no_body(request: Request) -> str:
    """The message of a model missing from the body: a body of a type micropie does not
    read (JSON posted as ``text/plain``, or with no ``Content-Type``) is named."""
    headers = request.headers
    if headers.get("content-length") in (None, "0") and "transfer-encoding" not in headers:
        return "Field required"
    kind = headers.get("content-type")
    sent = f"as {kind!r}" if kind else "without a Content-Type"
    return (
        f"Field required: the body was sent {sent}, which is not read; send JSON with "
        f"Content-Type: application/json (or a form)"
    )


def body_model(name: str, annotation: Any, default: Any) -> BodyModel | None:
    """The :class:`BodyModel` for a parameter, or ``None`` when it is not a model type."""
    inner = optional_inner(annotation)
    target = annotation if inner is None else inner
    item = _list_item(target)
    kind = model_kind(target if item is None else item)
    if kind not in BODY_KINDS and not _is_mapping(target):
        return None
    if item is not None or kind is None:
        # list[Model]: a JSON array body; dict[K, V]: a JSON object body; or either
        # under the body key of the parameter's name
        return BodyModel(
            name=name,
            annotation=target,
            default=default,
            nullable=inner is not None,
            embeddable=True,
            list_fields=frozenset(),
            validate=_validator(target, kind),
        )
    fields = model_fields(target)
    return BodyModel(
        name=name,
        annotation=target,
        default=default,
        nullable=inner is not None,
        embeddable=name not in fields,
        list_fields=frozenset(key for key, value in fields.items() if is_list_annotation(value)),
        validate=_validator(target, kind),
    )


def _is_mapping(annotation: Any) -> bool:
    """Whether ``annotation`` is ``dict[K, V]``: a JSON object of ``V`` values."""
    return typing.get_origin(annotation) is dict and len(typing.get_args(annotation)) == 2


def _list_item(annotation: Any) -> Any | None:
    """``T`` for ``list[T]``, else ``None``."""
    if typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        return args[0] if len(args) == 1 else None
    return None


def _error(loc: list[str | int], msg: str, kind: str) -> ErrorItem:
    return {"loc": loc, "msg": msg, "type": kind}


def _validator(cls: type, kind: str | None) -> Validator:
    if kind == PYDANTIC:
        return _pydantic_validator(cls)
    if kind == MSGSPEC:
        return _msgspec_validator(cls)
    check = _check_for(cls, {})

    def validate_dataclass(data: Any, form: bool) -> Any:
        errors: list[ErrorItem] = []
        value = check(data, [], errors)
        if errors:
            raise _Invalid(errors)
        return value

    return validate_dataclass


def _pydantic_validator(cls: Any) -> Validator:
    """Validation by Pydantic of a model, or of a list of models (through a TypeAdapter)."""
    pydantic = importlib.import_module("pydantic")
    validator = getattr(cls, "__pydantic_validator__", None)
    if validator is None or _list_item(cls) is not None:
        validate_python = pydantic.TypeAdapter(cls).validate_python
    else:
        validate_python = validator.validate_python

    def validate_pydantic(data: Any, form: bool) -> Any:
        try:
            return validate_python(data)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            raise _Invalid([_error(list(e["loc"]), e["msg"], e["type"]) for e in errors]) from None

    return validate_pydantic


def _msgspec_validator(cls: type) -> Validator:
    msgspec = importlib.import_module("msgspec")

    def validate_msgspec(data: Any, form: bool) -> Any:
        try:
            return msgspec.convert(data, cls, strict=not form, from_attributes=True)
        except msgspec.ValidationError as exc:
            raise _Invalid([_msgspec_error(str(exc))]) from None

    return validate_msgspec


def _msgspec_error(message: str) -> ErrorItem:
    """msgspec's one-line error (``Expected `int`, got `str` - at `$.a[0]```) as an item."""
    text, _, where = message.partition(" - at `$")
    loc = _msgspec_loc(where.rstrip("`"))
    missing = "missing required field `"
    if missing in text:
        loc.append(text.split(missing, 1)[1].rstrip("`"))
        return _error(loc, "Field required", "missing")
    return _error(loc, text, "invalid")


def _msgspec_loc(path: str) -> list[str | int]:
    loc: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            index = part[1:-1]
            loc.append(int(index) if index.lstrip("-").isdigit() else index)
        else:
            loc.append(part)
    return loc


# -- micropie's own validation of plain dataclasses ---------------------------------------

#: Checks one value at a location, appending errors; returns the converted value.
_Check = Callable[[Any, list[str | int], list[ErrorItem]], Any]

_TYPE_NAMES: dict[Any, str] = {
    int: "integer",
    float: "number",
    bool: "boolean",
    str: "string",
    bytes: "string",
    uuid.UUID: "UUID",
    datetime.date: "date",
    datetime.datetime: "datetime",
    datetime.time: "time",
    decimal.Decimal: "decimal",
}


def checker(annotation: Any) -> Callable[[Any], tuple[Any, list[ErrorItem]]]:
    """micropie's own check of a value against ``annotation``: the value converted to it
    (records built from mappings or from objects' attributes, undeclared fields left out)
    and the errors, empty when the value fits."""
    check = _check_for(annotation, {})

    def check_value(value: Any) -> tuple[Any, list[ErrorItem]]:
        errors: list[ErrorItem] = []
        return check(value, [], errors), errors

    return check_value


def _check_for(annotation: Any, building: dict[type, _Check]) -> _Check:
    """The check for one annotation: nested dataclasses, Optional, lists, §2 scalars,
    and the constraints of ``Annotated`` (Pydantic ``Field``, msgspec ``Meta``)."""
    if typing.get_origin(annotation) is typing.Annotated:
        base = _check_for(typing.get_args(annotation)[0], building)
        constrain = constraint_for(annotation)
        return base if constrain is None else _constrained_check(base, constrain)
    kind = model_kind(annotation)
    if kind in _RECORD_KINDS:
        return _record_check(annotation, building)
    if kind in (PYDANTIC, MSGSPEC):
        return _delegated_check(_validator(annotation, kind))
    inner = optional_inner(annotation)
    if inner is not None:
        return _nullable_check(_check_for(inner, building))
    if annotation is list or typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        return _list_check(_check_for(args[0], building) if args else None)
    if _is_mapping(annotation):
        key, value = typing.get_args(annotation)
        return _mapping_check(_check_for(key, building), _check_for(value, building))
    if typing.get_origin(annotation) in (set, frozenset):
        args = typing.get_args(annotation)
        item = _check_for(args[0], building) if args else None
        return _set_check(typing.get_origin(annotation), item)
    convert = converter_for(annotation)
    if convert is None:
        return _accept
    check = _scalar_check(convert, _TYPE_NAMES.get(annotation, "value"))
    return _typed_check(annotation, check) if annotation in _FROM_TEXT else check


def _accept(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
    return value


def _scalar_check(convert: Callable[[Any], Any], name: str) -> _Check:
    message = f"Input should be a valid {name}"

    def check_scalar(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        try:
            return convert(value)
        except ConstraintError as exc:  # an enum or literal: name the choices
            errors.append(_error(loc, exc.message, exc.kind))
            return None
        except (ValueError, TypeError, OverflowError):
            errors.append(_error(loc, message, "invalid"))
            return None

    return check_scalar


#: Types whose converters read only text: a value already of the type is taken as it is.
_FROM_TEXT = frozenset({uuid.UUID, datetime.datetime, datetime.date, datetime.time})


def _typed_check(cls: type, check: _Check) -> _Check:
    """``check``, taking a value already of type ``cls`` as it is (a returned ``UUID``
    or ``datetime``, which the converter, reading text, would refuse)."""

    def check_typed(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        if isinstance(value, cls):
            return value
        return check(value, loc, errors)

    return check_typed


def _constrained_check(check: _Check, constrain: Callable[[Any], Any]) -> _Check:
    def check_constrained(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        before = len(errors)
        converted = check(value, loc, errors)
        if len(errors) > before:
            return None
        try:
            return constrain(converted)
        except ConstraintError as exc:
            errors.append(_error(loc, exc.message, exc.kind))
            return None

    return check_constrained


def _nullable_check(check: _Check) -> _Check:
    def check_nullable(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        return None if value is None else check(value, loc, errors)

    return check_nullable


def _list_check(item: _Check | None) -> _Check:
    def check_list(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        if not isinstance(value, list | tuple):
            errors.append(_error(loc, "Input should be a valid list", "list_type"))
            return None
        if item is None:
            return list(value)
        return [item(v, [*loc, i], errors) for i, v in enumerate(value)]

    return check_list


def _set_check(kind: type, item: _Check | None) -> _Check:
    def check_set(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        if not isinstance(value, list | tuple | set | frozenset):
            errors.append(_error(loc, "Input should be a valid set", "set_type"))
            return None
        if item is None:
            return kind(value)
        return kind(item(v, [*loc, i], errors) for i, v in enumerate(value))

    return check_set


def _mapping_check(key: _Check, item: _Check) -> _Check:
    def check_mapping(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        if not isinstance(value, Mapping):
            errors.append(_error(loc, "Input should be a valid dictionary", "dict_type"))
            return None
        return {key(k, [*loc, k], errors): item(v, [*loc, k], errors) for k, v in value.items()}

    return check_mapping


def _delegated_check(validate: Validator) -> _Check:
    def check_delegated(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        try:
            return validate(value, False)
        except _Invalid as exc:
            errors.extend({**e, "loc": [*loc, *e["loc"]]} for e in exc.errors)
            return None

    return check_delegated


def _record_check(cls: type, building: dict[type, _Check]) -> _Check:
    """Check a mapping into a dataclass, ``NamedTuple`` (also from a JSON array, by
    position) or ``TypedDict``: required fields present, each field's type."""
    if cls in building:
        return building[cls]
    kind = model_kind(cls)
    checks: list[tuple[str, bool, _Check]] = []
    positional: tuple[str, ...] = getattr(cls, "_fields", ()) if kind == NAMEDTUPLE else ()

    def check_record(value: Any, loc: list[str | int], errors: list[ErrorItem]) -> Any:
        if positional and isinstance(value, list) and len(value) <= len(positional):
            value = dict(zip(positional, value, strict=False))
        elif not isinstance(value, Mapping) and not isinstance(value, _NOT_RECORDS):
            value = _attributes(value, checks)  # a returned object: its fields' attributes
        if not isinstance(value, Mapping):
            errors.append(_error(loc, "Input should be an object", "model_type"))
            return None
        kwargs: dict[str, Any] = {}
        before = len(errors)
        for name, required, check in checks:
            if name in value:
                kwargs[name] = check(value[name], [*loc, name], errors)
            elif required:
                errors.append(_error([*loc, name], "Field required", "missing"))
        if len(errors) > before:
            return None
        return kwargs if kind == TYPEDDICT else cls(**kwargs)

    building[cls] = check_record
    hints = typing.get_type_hints(cls, include_extras=True)
    for name, required in record_fields(cls, kind):
        checks.append((name, required, _check_for(_unqualified(hints.get(name, Any)), building)))
    return check_record


#: Values never read as a record from their attributes (JSON's own kinds).
_NOT_RECORDS = (str, bytes, int, float, list, type(None))


def _attributes(value: Any, checks: list[tuple[str, bool, _Check]]) -> dict[str, Any]:
    """The record fields an object has as attributes (a dataclass, model, named tuple or
    ORM row returned where a record type is declared), as Pydantic's ``from_attributes``."""
    missing = object()
    found = ((name, getattr(value, name, missing)) for name, _, _ in checks)
    return {name: field for name, field in found if field is not missing}


def record_fields(cls: type, kind: str | None) -> list[tuple[str, bool]]:
    """A dataclass's, NamedTuple's or TypedDict's fields a client sends, and whether each
    is required."""
    if kind == DATACLASS:
        return [
            (f.name, f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls)
            if f.init
        ]
    if kind == NAMEDTUPLE:
        defaults = getattr(cls, "_field_defaults", {})
        return [(name, name not in defaults) for name in getattr(cls, "_fields", ())]
    # From the resolved hints: with postponed annotations, ``__required_keys__`` cannot
    # tell a ``NotRequired`` field.
    required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
    fields = []
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        required = name in required_keys
        while typing.get_origin(hint) in _QUALIFIERS:
            origin = typing.get_origin(hint)
            required = (
                True if origin in _REQUIRED else False if origin in _NOT_REQUIRED else required
            )
            hint = typing.get_args(hint)[0]
        fields.append((name, required))
    return fields


def _unqualified(annotation: Any) -> Any:
    """``T`` for a TypedDict field's ``Required[T]``/``NotRequired[T]``, else ``annotation``."""
    while typing.get_origin(annotation) in _QUALIFIERS:
        annotation = typing.get_args(annotation)[0]
    return annotation
