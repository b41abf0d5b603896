"""MicroPie's middleware hooks (SPEC §7).

:class:`HttpMiddleware` objects in ``app.middlewares`` run around every HTTP handler;
:class:`WebSocketMiddleware` objects in ``app.ws_middlewares`` around every websocket
handler. These are hooks inside the app; Starlette middleware (``App(middleware=...)``)
wraps the whole app outside them.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC
from collections.abc import Callable
from typing import Any

from .request import Request, WebSocketRequest

__all__ = ["HttpMiddleware", "WebSocketMiddleware"]


def _refuse_sync_hooks(cls: type, hooks: tuple[str, ...]) -> None:
    """A hook written ``def`` instead of ``async def`` made every request a 500 saying
    only "object NoneType can't be used in 'await' expression": refused when the class
    is defined. A decorator's ``def`` wrapper, which returns the hook's coroutine, is
    taken: one marked by ``functools.wraps``, or one passing on ``*args``."""
    for name in hooks:
        hook = cls.__dict__.get(name)
        if (
            not inspect.isfunction(hook)
            or inspect.iscoroutinefunction(hook)
            or hasattr(hook, "__wrapped__")
        ):
            continue
        signature = inspect.signature(hook)
        kinds = {param.kind for param in signature.parameters.values()}
        if inspect.Parameter.VAR_POSITIONAL in kinds:
            setattr(cls, name, _awaited(cls, name, hook))
            continue
        params = ", ".join(signature.parameters)
        raise TypeError(
            f"{cls.__name__}.{name} must be a coroutine function: write "
            f"`async def {name}({params})` (a decorator's `def` wrapper returning the "
            f"hook's coroutine: mark it with `@functools.wraps(hook)`)"
        )


def _awaited(cls: type, name: str, wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator's ``def`` wrapper of a hook, awaited as the hook: one that returns no
    awaitable (its ``return`` forgotten) says so rather than failing the ``await``."""

    @functools.wraps(wrapper)
    async def hook(*args: Any, **kwargs: Any) -> Any:
        result = wrapper(*args, **kwargs)
        if not inspect.isawaitable(result):
            raise TypeError(
                f"{cls.__name__}.{name} returned {result!r}, not the hook's coroutine: "
                f"its decorator's wrapper must `return hook(*args, **kwargs)`"
            )
        return await result

    return hook


class HttpMiddleware(ABC):  # noqa: B024 - both hooks are optional
    """Hooks run before and after each HTTP handler, in list order.

    Override either hook. Returning ``None`` continues; returning a dict answers or
    overrides as each hook describes. Both are ``async def``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_sync_hooks(cls, ("before_request", "after_request"))

    async def before_request(self, request: Request) -> dict[str, Any] | None:
        """Return ``{"status_code", "body", "headers"?}`` to answer at once, else ``None``.

        Form and JSON bodies are already parsed, so ``request.form(...)`` works here.
        """
        return None

    async def after_request(
        self,
        request: Request,
        status_code: int,
        response_body: Any,
        extra_headers: list[tuple[str, str]],
    ) -> dict[str, Any] | None:
        """Return a dict with any of ``status_code``, ``body``, ``headers`` to override them.

        Runs once on every answer, error pages included, also on one refused before the
        ``before_request`` hooks ran (a body too large or malformed, a session store
        down): read what they set with ``getattr(request, name, None)``.
        """
        return None


class WebSocketMiddleware(ABC):  # noqa: B024 - both hooks are optional
    """Hooks run before and after each websocket handler, in list order (``async def``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_sync_hooks(cls, ("before_websocket", "after_websocket"))

    async def before_websocket(self, request: WebSocketRequest) -> dict[str, Any] | None:
        """Return ``{"code", "reason"}`` to refuse the connection, else ``None``."""
        return None

    async def after_websocket(self, request: WebSocketRequest) -> None:
        """Called when the websocket handler has finished."""
        return None
