"""JSON Schemas of Python annotations, for the OpenAPI document (SPEC §13).

:class:`SchemaRegistry` turns an annotation into a JSON Schema (OpenAPI 3.1 dialect).
Models become named components referenced with ``$ref``: Pydantic models and msgspec
Structs are described by their own library, dataclasses, ``NamedTuple`` and
``TypedDict`` by their fields. Nothing here runs while requests are served.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import importlib
import inspect
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

from .converters import constraint_libraries, is_class
from .typed import (
    MSGSPEC,
    PYDANTIC,
    TYPEDDICT,
    model_fields,
    model_kind,
    record_fields,
)

__all__ = ["REF_PREFIX", "SchemaRegistry"]

REF_PREFIX = "#/components/schemas/"
Mode = Literal["validation", "serialization"]
JSONSchema = dict[str, Any]

#: A finite decimal number as text (what a ``Decimal`` parameter takes, and answers).
_DECIMAL = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_SCALARS: dict[Any, JSONSchema] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    decimal.Decimal: {"type": "string", "format": "decimal", "pattern": _DECIMAL},
    str: {"type": "string"},
    bytes: {"type": "string", "format": "binary"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
    type(None): {"type": "null"},
    dict: {"type": "object"},
    list: {"type": "array"},
}


class SchemaRegistry:
    """Builds schemas and collects the named ones under ``components.schemas``."""

    def __init__(self) -> None:
        #: Named schemas, to be placed at ``#/components/schemas``.
        self.components: dict[str, JSONSchema] = {}
        self._names: dict[tuple[Any, str], str] = {}

    def schema(self, annotation: Any, mode: Mode = "serialization") -> JSONSchema:
        """The JSON Schema of ``annotation`` (``{}`` when nothing can be said)."""
        if annotation is inspect.Parameter.empty or annotation is Any:
            return {}
        if isinstance(annotation, str):  # an annotation that could not be resolved
            return {}
        if typing.get_origin(annotation) is typing.Annotated:  # metadata may be unhashable
            return self._generic(annotation, mode)
        scalar = _SCALARS.get(annotation)
        if scalar is not None:
            return dict(scalar)
        kind = model_kind(annotation)
        if kind is not None:
            return {"$ref": REF_PREFIX + self._component(annotation, kind, mode)}
        if is_class(annotation) and issubclass(annotation, enum.Enum):
            return {"enum": [member.value for member in annotation]}
        return self._generic(annotation, mode)

    def _generic(self, annotation: Any, mode: Mode) -> JSONSchema:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is Union or origin is types.UnionType:
            return {"anyOf": [self.schema(arg, mode) for arg in args]}
        if origin is Literal:
            return {"enum": list(args)}
        if origin is typing.Annotated:
            schema = self.schema(args[0], mode)
            if "$ref" in schema:
                return schema
            return {**schema, **_constraints(annotation, args[1:], mode)}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.schema(args[0], mode)}
            prefix = [self.schema(arg, mode) for arg in args]
            count = len(prefix)
            return {"type": "array", "prefixItems": prefix, "minItems": count, "maxItems": count}
        if origin is dict or _is_abc(origin, Mapping):
            values = self.schema(args[1], mode) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": values}
        if origin in (list, set, frozenset) or _is_abc(origin, Sequence):
            items = self.schema(args[0], mode) if args else {}
            if origin in (set, frozenset):
                return {"type": "array", "items": items, "uniqueItems": True}
            return {"type": "array", "items": items}
        return {}

    # -- named models ---------------------------------------------------------------------

    def _component(self, cls: type, kind: str, mode: Mode) -> str:
        key = (cls, mode)
        name = self._names.get(key)
        if name is not None:
            return name
        name = cls.__name__
        self._names[key] = name  # set first: a model may refer to itself
        if kind == PYDANTIC:
            schema = self._pydantic(cls, mode)
        elif kind == MSGSPEC:
            schema = self._msgspec(cls)
        else:
            schema = self._by_fields(cls, kind, mode)
        existing = self.components.get(name)
        if existing is not None and existing != schema:
            name = f"{name}-{'Input' if mode == 'validation' else 'Output'}"
            self._names[key] = name
        self.components[name] = schema
        return name

    def _pydantic(self, cls: type, mode: Mode) -> JSONSchema:
        pydantic = importlib.import_module("pydantic")
        template = REF_PREFIX + "{model}"
        schema: JSONSchema = pydantic.TypeAdapter(cls).json_schema(ref_template=template, mode=mode)
        definitions = schema.pop("$defs", {})
        own = definitions.pop(cls.__name__, None)
        if own is not None and schema == {"$ref": REF_PREFIX + cls.__name__}:
            schema = own  # a model that refers to itself: pydantic puts it in $defs
        self.components.update(definitions)
        return schema

    def _msgspec(self, cls: type) -> JSONSchema:
        msgspec_json = importlib.import_module("msgspec.json")
        template = REF_PREFIX + "{name}"
        (ref,), components = msgspec_json.schema_components([cls], ref_template=template)
        name = ref["$ref"].removeprefix(REF_PREFIX)
        schema: JSONSchema = components.pop(name)
        self.components.update(components)
        return schema

    def _by_fields(self, cls: type, kind: str, mode: Mode) -> JSONSchema:
        fields = model_fields(cls)
        properties = {name: self.schema(annotation, mode) for name, annotation in fields.items()}
        schema: JSONSchema = {"title": cls.__name__, "type": "object", "properties": properties}
        required = [name for name in fields if _field_required(cls, kind, name, mode)]
        if required:
            schema["required"] = required
        own = cls.__dict__.get("__doc__")  # not a base's: dict's for a TypedDict
        doc = inspect.cleandoc(own) if isinstance(own, str) else None
        if doc and not _is_generated_doc(cls, doc):
            schema["description"] = doc
        return schema


def _constraints(annotation: Any, metadata: Sequence[Any], mode: Mode) -> JSONSchema:
    """The keywords (``minimum``, ``maxLength`` …) that ``Annotated`` metadata adds.

    Pydantic (``Field``, ``annotated_types``) and msgspec (``Meta``) describe their own
    constraints; the keywords of their schema for the annotated type are kept.
    """
    libraries = constraint_libraries(metadata)
    try:
        if libraries & {"pydantic", "annotated_types"}:
            pydantic = importlib.import_module("pydantic")
            schema = pydantic.TypeAdapter(annotation).json_schema(mode=mode)
        elif "msgspec" in libraries:
            schema = importlib.import_module("msgspec.json").schema(annotation)
        else:
            return {}
    except Exception:  # a type the library cannot describe: the base type's schema stands
        return {}
    return {key: value for key, value in schema.items() if key not in _NOT_CONSTRAINTS}


#: Keywords of a library's schema for an annotated type that are not its constraints.
_NOT_CONSTRAINTS = frozenset({"type", "$defs", "$ref", "anyOf", "allOf", "oneOf", "items", "enum"})


def _field_required(cls: type, kind: str, name: str, mode: Mode) -> bool:
    """Whether the field must be sent (validation) or is always present (serialization)."""
    if mode == "serialization" and kind != TYPEDDICT:  # a TypedDict key may be left out
        return True
    return dict(record_fields(cls, kind)).get(name, True)


def _is_generated_doc(cls: type, doc: str) -> bool:
    """Dataclasses and named tuples get a signature-like docstring when none is written."""
    return doc.startswith(f"{cls.__name__}(")


def _is_abc(origin: Any, abc: type) -> bool:
    return isinstance(origin, type) and issubclass(origin, abc) and origin not in (str, bytes)
