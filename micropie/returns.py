"""What a handler's return annotation does to its answer (SPEC §13).

A handler that declares a JSON type as its return (``-> User``, ``-> list[User]``,
``-> int``, ``-> tuple[int, User]``) answers what its OpenAPI document says: JSON of
that type. With Pydantic installed, the value is validated and serialized through the
annotation, as FastAPI's ``response_model`` does: fields the type does not declare are
left out (a ``UserWithPassword`` returned as ``-> User`` answers without the password),
dicts and objects with the declared attributes are accepted, and a value the annotation
does not allow is a server error (500, logged with the errors), never an answer that
contradicts the document. Annotations holding a type Pydantic does not handle as
micropie documents it (msgspec ``Struct``, ``NamedTuple``, ``TypedDict``), and models
without Pydantic, are checked and filtered the same way by micropie's own
:func:`~micropie.typed.checker`; a scalar without Pydantic is encoded as returned. A
generator handler under a JSON annotation is refused when planned (it streams).
A ``dict`` or ``list`` annotation holding no
model (``-> dict[str, Any]``, ``-> list[int]``) leaves the handler as it is: such a
value answers JSON already, and checking it would cost every request.

Nothing changes for handlers without a return annotation or annotated ``str``,
``bytes``, ``None``, ``Any``, a Starlette ``Response`` or a stream: MicroPie's answers.
``@describe(status=201)`` makes a plain return value answer with that status, as
FastAPI's ``status_code=201`` does (a returned ``(status, body)`` still chooses its own).
:func:`shape_returns` decides once, when the handler is planned.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from .converters import is_class, strip_annotated
from .streaming import dumps_json
from .typed import MSGSPEC, NAMEDTUPLE, TYPEDDICT, checker, model_kind, optional_inner

__all__ = [
    "DESCRIBE_ATTR",
    "JSONBody",
    "ReturnValueError",
    "answered_body",
    "described_status",
    "is_json_annotation",
    "return_annotation",
    "shape_returns",
]

#: Where ``@describe`` (micropie.openapi) keeps what it says of a handler.
DESCRIBE_ATTR = "__micropie_openapi__"
_EMPTY = inspect.Parameter.empty
_NOT_JSON: tuple[Any, ...] = (str, bytes, None, type(None), Any, object, _EMPTY)
_STREAMS = (
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.Generator,
    collections.abc.AsyncGenerator,
)
Encoder = Callable[[Any], bytes]


class JSONBody(bytes):
    """A body already encoded as JSON from the return annotation (answered
    ``application/json``)."""

    __slots__ = ()


class ReturnValueError(TypeError):
    """A handler returned a value its return annotation does not allow (a 500)."""


def return_annotation(func: Callable[..., Any]) -> Any:
    """The resolved return annotation of ``func`` (``inspect.Parameter.empty`` if none)."""
    target = getattr(func, "__func__", func)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:
        return _EMPTY
    return hints.get("return", _EMPTY)


def answered_body(annotation: Any) -> tuple[bool, int | None, Any]:
    """Whether ``annotation`` is a ``(status, body[, headers])`` tuple, the status when
    it is a ``Literal`` (``None`` for ``int``), and the body's annotation.

    A tuple of another shape (``tuple[int, ...]``) answers ``(False, None, Any)``: a
    returned tuple is a status and a body, never a JSON array.
    """
    if typing.get_origin(annotation) is not tuple:
        return False, None, annotation
    args = typing.get_args(annotation)
    if len(args) in (2, 3) and args[1] is not Ellipsis:
        if args[0] is int:
            return True, None, args[1]
        statuses = typing.get_args(args[0]) if typing.get_origin(args[0]) is typing.Literal else ()
        if len(statuses) == 1 and isinstance(statuses[0], int):
            return True, statuses[0], args[1]
    return False, None, Any


def is_json_annotation(annotation: Any) -> bool:
    """Whether a handler returning ``annotation`` answers JSON (what the document says):
    not text, nothing, anything, a Starlette response or a stream."""
    annotation = strip_annotated(annotation)
    annotation = optional_inner(annotation) or annotation
    if any(annotation is other for other in _NOT_JSON):
        return False
    origin = typing.get_origin(annotation) or annotation
    if is_class(origin) and issubclass(origin, Response):
        return False
    return origin not in _STREAMS


def shape_returns(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func``, or a wrapper answering its result as its return annotation and
    ``@describe(status=...)`` say."""
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        _refuse_json_stream(func)
        return func
    is_status, _, body = answered_body(return_annotation(func))
    status = described_status(func)
    shaped = is_json_annotation(body) and (_holds_model(body) or not _is_container(body))
    encode = _encoder(body, _name(func)) if shaped else None
    if encode is None and status is None:
        return func

    def reshape(result: Any) -> Any:
        if type(result) is tuple and len(result) in (2, 3) and isinstance(result[0], int):
            if encode is None or not is_status or not 200 <= result[0] < 300:
                return result  # an error answer's body is sent as returned
            return (result[0], _encoded(result[1], encode), *result[2:])
        if encode is not None:
            result = _encoded(result, encode)
        if status is None or result is None or isinstance(result, Response):
            return result
        return status, result

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def answer_as_annotated(*args: Any, **kwargs: Any) -> Any:
            return reshape(await func(*args, **kwargs))

        return answer_as_annotated

    @functools.wraps(func)
    def answer_as_annotated_sync(*args: Any, **kwargs: Any) -> Any:
        return reshape(func(*args, **kwargs))

    return answer_as_annotated_sync


def _refuse_json_stream(func: Callable[..., Any]) -> None:
    """A generator handler streams what it yields; a JSON return annotation on it
    (``-> list[User]``) would document an answer it never gives, unchecked."""
    annotation = return_annotation(func)
    if annotation is _EMPTY or not is_json_annotation(answered_body(annotation)[2]):
        return
    name = _name(func).rpartition(".")[2]
    raise TypeError(
        f"handler {name!r} is a generator, so its answer is streamed as it yields, but its "
        f"return annotation {annotation!r} says it answers that JSON value: return the value "
        f"instead of yielding it (`return [...]`), or annotate the stream "
        f"(`-> AsyncIterator[str]`)"
    )


def _is_container(annotation: Any) -> bool:
    """``dict``/``list`` types, which answer JSON as returned (no cost added to them)."""
    annotation = strip_annotated(annotation)
    annotation = optional_inner(annotation) or annotation
    return (typing.get_origin(annotation) or annotation) in (dict, list)


def _holds_model(annotation: Any) -> bool:
    """Whether a model type (whose undeclared fields are left out) is in ``annotation``."""
    annotation = strip_annotated(annotation)
    if model_kind(annotation) is not None:
        return True
    return any(_holds_model(arg) for arg in typing.get_args(annotation))


def described_status(func: Callable[..., Any]) -> int | None:
    """The status ``@describe(status=...)`` gave ``func``, if any."""
    described = getattr(getattr(func, "__func__", func), DESCRIBE_ATTR, None)
    status: int | None = getattr(described, "status", None)
    return status


def _name(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__qualname__", repr(func)))


def _encoded(value: Any, encode: Encoder) -> Any:
    """``value`` as JSON; ``None`` (204) and responses are answered as they are.

    A returned generator is read into a list and checked as one (as Pydantic takes any
    iterable for a list): streamed, it answered its items' text, unchecked. An async
    generator cannot be read here: it is refused, naming the fix.
    """
    if value is None or isinstance(value, Response | JSONBody):
        return value
    if inspect.iscoroutine(value):
        return value  # a forgotten await, which the answer names
    if inspect.isasyncgen(value):
        raise ReturnValueError(
            "a handler returned an async generator where its return annotation says it "
            "answers JSON: return the values (`return [...]`), or annotate the stream "
            "(`-> AsyncIterator[str]`)"
        )
    if inspect.isgenerator(value):
        value = list(value)
    return JSONBody(encode(value))


def _encoder(annotation: Any, handler: str) -> Encoder:
    """Pydantic's validation and serialization of ``annotation`` when it can have them,
    else micropie's own check of the models in it, else micropie's JSON encoder."""
    if not _outside_pydantic(annotation):
        pydantic_encode = _pydantic_encoder(annotation, handler)
        if pydantic_encode is not None:
            return pydantic_encode
    if not _holds_model(annotation):
        return dumps_json  # a scalar without Pydantic: answered as returned
    check = checker(annotation)

    def encode_checked(value: Any) -> bytes:
        checked, errors = check(value)
        if errors:
            raise _not_allowed(handler, annotation, errors)
        return dumps_json(checked)

    return encode_checked


def _pydantic_encoder(annotation: Any, handler: str) -> Encoder | None:
    try:
        pydantic = __import__("pydantic")
        adapter = pydantic.TypeAdapter(annotation)
    except Exception:  # not installed, or a type Pydantic has no schema for (a Struct)
        return None
    validation_error = pydantic.ValidationError
    validate = functools.partial(adapter.validate_python, from_attributes=True)
    dump = functools.partial(adapter.dump_json, by_alias=True)  # as documented, FastAPI's way

    def encode_as_annotated(value: Any) -> bytes:
        try:
            return dump(validate(value))  # type: ignore[no-any-return]
        except validation_error as exc:
            raise _not_allowed(handler, annotation, exc.errors(include_url=False)) from None

    return encode_as_annotated


def _not_allowed(handler: str, annotation: Any, errors: Any) -> ReturnValueError:
    return ReturnValueError(
        f"{handler} returned a value its return annotation {annotation!r} does not allow: {errors}"
    )


def _outside_pydantic(annotation: Any) -> bool:
    """Whether ``annotation`` holds a type Pydantic answers otherwise than micropie
    documents it: a ``NamedTuple`` (an array to Pydantic), a ``TypedDict`` (refused
    from ``typing`` before Python 3.12) or a msgspec ``Struct`` (unknown to Pydantic)."""
    annotation = strip_annotated(annotation)
    if model_kind(annotation) in (NAMEDTUPLE, TYPEDDICT, MSGSPEC):
        return True
    return any(_outside_pydantic(arg) for arg in typing.get_args(annotation))
