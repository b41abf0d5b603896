"""micropie: MicroPie, the ultra-micro ASGI web framework, on Starlette.

Subclass :class:`App` and every public method becomes a URL::

    from micropie import App

    class MyApp(App):
        async def greet(self, name: str = "Guest"):
            return f"Hello, {name}!"

    app = MyApp()
"""

from __future__ import annotations

from .app import App
from .broadcast import (
    Broadcast,
    BroadcastError,
    BroadcastUnavailable,
    Subscriber,
    SubscriberOverflow,
)
from .csrf import CSRFMiddleware
from .exceptions import (
    ConnectionClosed,
    HTTPException,
    MissingDependencyError,
    MultipartFileError,
    RequestValidationError,
)
from .middleware import HttpMiddleware, WebSocketMiddleware
from .openapi import describe
from .request import Request, WebSocketRequest, current_request
from .routing import limits, methods
from .server import Server
from .sessions import (
    SESSION_TIMEOUT,
    CookieSessionBackend,
    InMemorySessionBackend,
    RedisSessionBackend,
    SessionBackend,
    SessionCookieTooLarge,
)
from .sse import EventSourceResponse, sse_event
from .uploads import UploadedFile
from .websockets import WebSocket

__version__ = "1.0.0"

__all__ = [
    "SESSION_TIMEOUT",
    "App",
    "Broadcast",
    "BroadcastError",
    "BroadcastUnavailable",
    "CSRFMiddleware",
    "ConnectionClosed",
    "CookieSessionBackend",
    "EventSourceResponse",
    "HTTPException",
    "HttpMiddleware",
    "InMemorySessionBackend",
    "MissingDependencyError",
    "MultipartFileError",
    "RedisSessionBackend",
    "Request",
    "RequestValidationError",
    "Server",
    "SessionBackend",
    "SessionCookieTooLarge",
    "Subscriber",
    "SubscriberOverflow",
    "UploadedFile",
    "WebSocket",
    "WebSocketMiddleware",
    "WebSocketRequest",
    "current_request",
    "describe",
    "limits",
    "methods",
    "sse_event",
]
