"""Exceptions raised by micropie.

Exception tree::

    Exception
     ├── MissingDependencyError (ImportError)   an optional extra is not installed
     ├── MultipartFileError                     an upload broke while being read
     ├── ConnectionClosed                       the websocket peer has gone
     └── starlette.exceptions.HTTPException     turned into a response (4xx/5xx)
          └── RequestValidationError            a model parameter's body is invalid (422)
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

__all__ = [
    "ConnectionClosed",
    "HTTPException",
    "MissingDependencyError",
    "MultipartFileError",
    "RequestValidationError",
    "bad_request",
    "check_secret_key",
]


class MissingDependencyError(ImportError):
    """A feature needs an optional dependency; the message names the extra to install."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package: install it with "
            f'`pip install "micropie[{extra}]"`.'
        )


class MultipartFileError(Exception):
    """The multipart upload being read was malformed, cut short or over a limit."""


class ConnectionClosed(Exception):
    """The websocket peer has disconnected; ``code`` and ``reason`` say how."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        super().__init__(f"websocket closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


def check_secret_key(secret_key: Any, owner: str) -> None:
    """Refuse a missing or empty secret key (``None`` from an unset environment variable)
    with a message saying how to make one."""
    keys = [secret_key] if secret_key is None or isinstance(secret_key, str | bytes) else None
    if keys is None:
        try:
            keys = list(secret_key)
        except TypeError:
            raise TypeError(f"{owner} takes a secret key (str or bytes) or a list of them, "
                            f"not {type(secret_key).__name__}") from None  # fmt: skip
    if not keys or any(not key for key in keys):
        raise ValueError(
            f"{owner} needs a secret key, got {secret_key!r}: pass a long random string, "
            f'e.g. {owner}(os.environ["SECRET_KEY"]) after `export SECRET_KEY="$(python -c '
            f"'import secrets; print(secrets.token_urlsafe(32))')\"`"
        )


def bad_request(detail: str) -> HTTPException:
    """Build the 400 answer micropie gives for client input it cannot use."""
    return HTTPException(400, f"400 Bad Request: {detail}")


class RequestValidationError(HTTPException):
    """A model parameter could not be built from the body: answered 422 with ``errors``.

    ``errors`` is a list of ``{"loc": [...], "msg": str, "type": str}``; ``loc`` starts
    with ``"body"`` (and the parameter's name when the body held it under that key).
    """

    def __init__(self, errors: list[dict[str, Any]], loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(422, "422 Unprocessable Content")
        self.errors = [{**error, "loc": [*loc, *error["loc"]]} for error in errors]
