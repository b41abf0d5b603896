"""Jinja2 template rendering for ``App._render_template`` (SPEC §3).

Templates render synchronously when nothing in them can be asynchronous: every context
value is plain data (strings, numbers, dicts, lists ...), no filter or test is a
coroutine function and no call made while rendering returns an awaitable. Anything else
(an object in the context, an ``async def`` global called by the template) renders
through Jinja2's async mode, which awaits what it meets; a template found to need it
keeps rendering that way. Both modes produce the same text.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import inspect
import os
import uuid
from types import BuiltinFunctionType, FunctionType, MethodType
from typing import Any

from starlette.datastructures import URL

from ._optional import require
from .csrf import csrf_token
from .request import current_request

__all__ = ["Templates", "url_for"]

#: Types whose values hold nothing a template could await or iterate asynchronously.
_PLAIN: frozenset[type] = frozenset(
    {str, int, float, bool, bytes, complex, type(None), datetime.date, datetime.datetime,
     datetime.time, datetime.timedelta, decimal.Decimal, uuid.UUID}
)  # fmt: skip
_SEQUENCES: frozenset[type] = frozenset({list, tuple, set, frozenset})
_MAX_DEPTH = 32
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _NeedsAsync(Exception):
    """Raised inside a synchronous render that met something to await."""


def _is_plain(value: Any, plain: frozenset[type], depth: int = 0) -> bool:
    """Whether ``value`` is of the ``plain`` types all the way down through containers
    (nested deeper than 32 levels counts as not plain)."""
    kind = type(value)
    if kind in plain:
        return True
    if kind is dict:
        items = value.values()
    elif kind in _SEQUENCES:
        items = value
    else:
        return False
    if depth >= _MAX_DEPTH:
        return False
    for item in items:
        kind = type(item)
        if kind in plain:
            continue
        if kind is dict:  # a row of a table: its fields are looked at here, without a call
            for field in item.values():
                if type(field) not in plain and not _is_plain(field, plain, depth + 2):
                    return False
        elif not _is_plain(item, plain, depth + 1):
            return False
    return True


def _is_async(value: Any) -> bool:
    return inspect.isawaitable(value) or hasattr(value, "__aiter__")


def _takes_no_context(obj: Any) -> bool:
    """Whether Jinja would call ``obj`` as it is: a function, bound method or builtin
    without ``pass_context`` / ``pass_eval_context`` / ``pass_environment``."""
    kind = type(obj)
    if kind is FunctionType:
        return "jinja_pass_arg" not in obj.__dict__
    if kind is MethodType:
        function = obj.__func__
        return type(function) is FunctionType and "jinja_pass_arg" not in function.__dict__
    return kind is BuiltinFunctionType


def _stop() -> None:
    raise StopIteration


def _sync_environment_class(jinja2: Any, immediate: frozenset[type]) -> Any:
    """An ``Environment`` whose calls refuse awaitable results (see :class:`Templates`),
    and which reads ``item.key`` of a dict without raising an ``AttributeError`` first."""
    base_call = jinja2.runtime.Context.call

    class _SyncContext(jinja2.runtime.Context):  # type: ignore[misc]
        def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            if _takes_no_context(__obj):
                # What Jinja's own call does for such a callable, minus its lookups.
                kwargs.pop("_block_vars", None)
                kwargs.pop("_loop_vars", None)
                try:
                    result = __obj(*args, **kwargs)
                except StopIteration:  # Jinja's answer to it: an undefined value
                    return base_call(__self, _stop)
            else:
                result = base_call(__self, __obj, *args, **kwargs)
            if type(result) not in immediate and _is_async(result):
                if inspect.iscoroutine(result):
                    result.close()  # never started: nothing of it ran
                raise _NeedsAsync
            return result

    base_getattr = jinja2.Environment.getattr

    class _SyncEnvironment(jinja2.Environment):  # type: ignore[misc]
        context_class = _SyncContext

        def getattr(self, obj: Any, attribute: str) -> Any:
            # ``item.name`` on a dict: the key, straight away, when dict has no such
            # attribute (Jinja's own lookup gets there through an AttributeError).
            if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
                return obj[attribute]
            return base_getattr(self, obj, attribute)

    return _SyncEnvironment


class Templates:
    """Jinja2 environments over one templates directory (created on first use).

    Autoescaping is on for ``.html``, ``.htm`` and ``.xml`` templates. Functions and
    values put in :attr:`globals` are visible in every template; ``url_for(name,
    **params)`` builds the URL of a handler of the app rendering it, and ``csrf_token()``
    gives the CSRF token (it needs a :class:`~micropie.CSRFMiddleware` in
    ``app.middlewares``). Compiled templates are cached; with ``auto_reload`` each render
    first checks whether the file changed on disk (a ``stat`` per render), otherwise a
    template is read once.
    """

    def __init__(
        self, directory: str | os.PathLike[str] = "templates", *, auto_reload: bool = False
    ) -> None:
        self.directory = directory
        self.auto_reload = auto_reload
        self.globals: dict[str, Any] = {"url_for": url_for, "csrf_token": csrf_token}
        self._env: Any = None
        self._async_env: Any = None
        self._async_templates: set[str] = set()  # names found to need the async mode
        self._async_filters = False
        self._filter_count = -1
        self._plain_types = _PLAIN

    @property
    def env(self) -> Any:
        """The synchronous ``jinja2.Environment`` (created on first use; needs jinja2).

        Filters, tests and globals set on it are shared with the async environment.
        """
        if self._env is None:
            jinja2 = require("jinja2", feature="Template rendering", package="jinja2")
            self._plain_types = _PLAIN | {jinja2.utils.markupsafe.Markup}
            immediate = self._plain_types | {jinja2.runtime.Undefined}
            self._env = _sync_environment_class(jinja2, immediate)(
                loader=jinja2.FileSystemLoader(os.fspath(self.directory)),
                autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
                auto_reload=self.auto_reload,
            )
            self._env.globals.update(self.globals)
            self.globals = self._env.globals
            self._async_env = self._env.overlay(enable_async=True)
            self._async_env.context_class = jinja2.runtime.Context
        return self._env

    async def render(self, name: str, /, **context: Any) -> str:
        """Render template ``name`` with ``context``."""
        env = self.env
        try:
            if name not in self._async_templates and self._plain(context):
                try:
                    rendered: str = env.get_template(name).render(context)
                    return rendered
                except _NeedsAsync:
                    self._async_templates.add(name)
            result: str = await self._async_env.get_template(name).render_async(context)
        except _not_found() as exc:
            raise self._not_found(exc) from None
        return result

    def render_sync(self, name: str, /, **context: Any) -> str:
        """Render template ``name`` with ``context`` without an event loop.

        Raises :class:`TypeError` when the template meets something to await.
        """
        try:
            rendered: str = self.env.get_template(name).render(context)
        except _not_found() as exc:
            raise self._not_found(exc) from None
        except _NeedsAsync:
            raise TypeError(
                f"template {name!r} calls something asynchronous: "
                "render it with await self._render_template(...) in an async handler"
            ) from None
        return rendered

    def _not_found(self, exc: Any) -> Exception:
        """Jinja2's ``TemplateNotFound``, saying where it looked and how to change it."""
        where = os.path.abspath(os.fspath(self.directory))
        message = (
            f"template {exc.name!r} not found in {where}"
            + (" (relative to the working directory)" if not os.path.isabs(self.directory) else "")
            + ": create it there, or pass App(templates_dir=...) the directory holding it, "
            "e.g. Path(__file__).parent / 'templates'"
        )
        error: Exception = _not_found()(exc.name, message)
        return error

    def _plain(self, context: dict[str, Any]) -> bool:
        """Whether a synchronous render of ``context`` meets nothing to await."""
        env = self._env
        count = len(env.filters) + len(env.tests)
        if count != self._filter_count:  # filters or tests were added: look again
            functions = [*env.filters.values(), *env.tests.values()]
            self._async_filters = any(inspect.iscoroutinefunction(f) for f in functions)
            self._filter_count = count
        return not self._async_filters and _is_plain(context, self._plain_types)


def _not_found() -> type[Exception]:
    """Jinja2's ``TemplateNotFound`` (jinja2 is imported once the environment exists)."""
    not_found: type[Exception] = importlib.import_module("jinja2").TemplateNotFound
    return not_found


def url_for(name: str, /, **params: Any) -> URL:
    """``url_for`` in templates: the URL of handler or route ``name`` for the current request."""
    return current_request.get().url_for(name, **params)
