"""The public namespace of ``micropie``, pinned: a change here is an API change."""

from __future__ import annotations
import __future__

import micropie

EXPECTED = [
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


def test_all_is_pinned():
    assert micropie.__all__ == EXPECTED


def _isort_style(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted():
    assert micropie.__all__ == sorted(micropie.__all__, key=_isort_style)


def test_every_name_in_all_is_importable():
    for name in micropie.__all__:
        assert getattr(micropie, name) is not None


def test_no_public_name_left_out_of_all():
    public = {
        name
        for name, value in vars(micropie).items()
        if not name.startswith("_") and not isinstance(value, type(micropie) | __future__._Feature)
    }
    assert public <= set(micropie.__all__)


def test_version_is_a_string():
    assert isinstance(micropie.__version__, str)
