"""Cross-site request forgery protection (SPEC §7).

:class:`CSRFMiddleware` keeps a random secret in the session and hands out tokens that
are that secret signed with itsdangerous. Every request whose method is not safe
(``POST``, ``PUT``, ``PATCH``, ``DELETE``, WebDAV's ``PROPFIND`` or ``LOCK``, ``QUERY``,
any other) must send a token back, in the ``csrf_token`` form (or JSON) field or the
``X-CSRF-Token`` header, that was signed for this session; anything else is answered
``403``. The safe methods ``GET``, ``HEAD``, ``OPTIONS`` and ``TRACE`` are never checked,
so keep them free of side effects.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Any

from ._optional import require
from .exceptions import check_secret_key
from .middleware import HttpMiddleware
from .request import Request, current_request

if TYPE_CHECKING:
    from .app import App

__all__ = ["CSRFMiddleware", "csrf_token"]

#: Methods never checked (RFC 9110 §9.2.1 "safe"); every other method needs a token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: The answer to a request without a valid token.
FORBIDDEN_BODY = "403 Forbidden: CSRF token missing or invalid"
#: Session key holding the per-session secret the tokens sign.
SESSION_KEY = "_csrf"

_REQUEST_ATTRIBUTE = "_csrf_middleware"
_PARENT_REQUEST_KEY = "micropie.parent_request"


class CSRFMiddleware(HttpMiddleware):
    """Require a session-bound, signed token on every request with an unsafe method.

    Attach it with :meth:`install` (or append it to ``app.middlewares``)::

        app = MyApp()
        CSRFMiddleware("a long random secret").install(app)

    In a template: ``<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">``;
    in a handler: ``micropie.csrf.csrf_token(self.request)``; for ``fetch()`` calls send
    the token in the ``X-CSRF-Token`` header. In a multipart form put the token field
    before the file inputs: fields after a large file arrive after the check.
    ``max_age`` (seconds) also expires tokens; by default a token lives as long as its
    session. Needs ``itsdangerous`` (``micropie[standard]``).
    """

    def __init__(
        self,
        secret_key: str | bytes,
        *,
        field_name: str = "csrf_token",
        header_name: str = "X-CSRF-Token",
        max_age: int | None = None,
        salt: str = "micropie.csrf",
    ) -> None:
        check_secret_key(secret_key, "CSRFMiddleware")
        itsdangerous = require("itsdangerous", feature="CSRFMiddleware", package="itsdangerous")
        self._serializer = itsdangerous.URLSafeTimedSerializer(secret_key, salt=salt)
        self._bad_data: type[Exception] = itsdangerous.BadData
        self.field_name = field_name
        self.header_name = header_name.lower()
        self.max_age = max_age

    def install(self, app: App) -> CSRFMiddleware:
        """Add this middleware to ``app.middlewares``; templates then have ``csrf_token()``."""
        app.middlewares.append(self)
        return self

    def token(self, request: Request) -> str:
        """A token for ``request``'s session (starting the session when needed)."""
        secret = request.session.get(SESSION_KEY)
        if not isinstance(secret, str):
            secret = request.session[SESSION_KEY] = secrets.token_urlsafe(32)
        token: str = self._serializer.dumps(secret)
        return token

    def is_valid(self, request: Request, token: Any) -> bool:
        """Whether ``token`` was issued for ``request``'s session (and has not expired)."""
        expected = request.session.get(SESSION_KEY)
        if not token or not isinstance(token, str) or not isinstance(expected, str):
            return False
        try:
            secret = self._serializer.loads(token, max_age=self.max_age)
        except self._bad_data:
            return False
        return isinstance(secret, str) and hmac.compare_digest(secret, expected)

    async def before_request(self, request: Request) -> dict[str, Any] | None:
        setattr(request, _REQUEST_ATTRIBUTE, self)
        if request.method in SAFE_METHODS:
            return None
        token = request.headers.get(self.header_name) or request.form(self.field_name)
        if self.is_valid(request, token):
            return None
        headers = [("content-type", "text/plain; charset=utf-8")]
        return {"status_code": 403, "body": FORBIDDEN_BODY, "headers": headers}


def csrf_token(request: Request | None = None) -> str:
    """The CSRF token for ``request`` (default: the current one), for forms and headers.

    Raises :class:`RuntimeError` when no :class:`CSRFMiddleware` handled the request.
    """
    request = current_request.get() if request is None else request
    seen: Request | None = request
    while seen is not None:
        middleware = getattr(seen, _REQUEST_ATTRIBUTE, None)
        if middleware is not None:
            token: str = middleware.token(request)
            return token
        seen = seen.scope.get(_PARENT_REQUEST_KEY)  # a sub-app: look at the app that handed off
    raise RuntimeError(
        "csrf_token() needs CSRFMiddleware: call CSRFMiddleware(secret_key).install(app)"
    )
