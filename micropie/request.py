"""The request objects handlers see as ``self.request`` (SPEC §5).

:class:`Request` adapts a Starlette request to MicroPie's meanings: ``path_params`` is a
list of segments, ``query_params`` and ``body_params`` map names to lists of strings,
``get_json`` is the parsed JSON body. Everything is read lazily from the ASGI scope, so
a request pays only for what its handler looks at. The Starlette request stays
reachable as :attr:`Request.starlette`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar, overload

from starlette.datastructures import URL, Address
from starlette.requests import Request as StarletteRequest
from starlette.requests import cookie_parser
from starlette.types import Message, Receive, Scope, Send

from .urlencoded import parse_urlencoded

__all__ = [
    "STATE_HEADERS",
    "HeaderDict",
    "Request",
    "WebSocketRequest",
    "Announced",
    "announced",
    "current_request",
    "parse_query_string",
    "raw_headers",
    "route_path",
]


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _no_send(message: Message) -> None:
    raise RuntimeError("this request has no send channel")


def parse_query_string(raw: bytes | str) -> dict[str, list[str]]:
    """Parse a query string into ``{name: [values]}``, never failing on bad bytes."""
    if not raw:
        return {}
    return parse_urlencoded(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)


def raw_headers(
    scope: Scope, first: bytes, second: bytes | None = None
) -> tuple[bytes | None, bytes | None]:
    """The raw values of headers ``first`` and ``second`` (lower-case names), or ``None``.

    Names match in any case and repeats are joined as :attr:`Request.headers` joins them,
    without decoding every header into that dict.
    """
    one: bytes | list[bytes] | None = None
    two: bytes | list[bytes] | None = None
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.lower()
        if name == first:
            one = raw_value if one is None else _repeated(one, raw_value)
        elif name == second:
            two = raw_value if two is None else _repeated(two, raw_value)
    return _joined(first, one), _joined(second, two)


def _repeated(values: bytes | list[bytes], value: bytes) -> list[bytes]:
    """The values of a header sent again, kept to be joined once: joining as they come
    copied the whole so far each time (100,000 repeats held the event loop for 20 s)."""
    if isinstance(values, bytes):
        return [values, value]
    values.append(value)
    return values


def _joined(name: bytes | None, values: bytes | list[bytes] | None) -> bytes | None:
    if isinstance(values, list):
        return (b"; " if name == b"cookie" else b", ").join(values)
    return values


_ABSENT: Any = object()
_T = TypeVar("_T")


class HeaderDict(dict[str, str]):
    """The request headers: a ``dict`` keyed by lower-case names, looked up in any case.

    ``headers["content-type"]``, ``headers.get("Content-Type")`` and
    ``"User-Agent" in headers`` all work; iteration and ``items()`` give the lower-case
    names. A lower-case lookup costs one ``dict`` lookup; other cases one more.
    """

    __slots__ = ()

    def __missing__(self, name: str) -> str:
        lower = name.lower() if isinstance(name, str) else name
        if lower == name:
            raise KeyError(name)
        return self[lower]

    @overload
    def get(self, name: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, name: str, default: str, /) -> str: ...
    @overload
    def get(self, name: str, default: _T, /) -> str | _T: ...

    def get(self, name: str, default: Any = None, /) -> Any:
        """The value of header ``name`` (any case), or ``default``."""
        value = dict.get(self, name, _ABSENT)
        if value is _ABSENT:
            return dict.get(self, name.lower(), default) if isinstance(name, str) else default
        return value

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or (
            isinstance(name, str) and dict.__contains__(self, name.lower())
        )


#: The request headers that announce a body or a session: those :func:`announced` reads.
STATE_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"cookie"})
_ANNOUNCING = STATE_HEADERS | {b"content-type"}

#: What :func:`announced` reads from a request's headers, in one pass: whether a body
#: comes, the ``Cookie`` header (``None``: none), and the raw ``Content-Type`` and
#: ``Content-Length`` (type ``None``: read them with the general reading instead).
Announced = tuple[bool, bytes | None, bytes | None, bytes | None]


def announced(scope: Scope) -> Announced:
    """Whether the request announces a body, its cookies, and its body's raw type and length.

    One pass over the lower-case names ASGI servers send. A type that is missing or sent
    twice, or a length sent twice, gives the type as ``None``: the body step then reads
    both headers in any case, repeats joined (as :attr:`Request.headers` shows them).
    Cookie headers sent more than once are joined by ``; ``.
    """
    has_body = repeated = False
    content_type = length = None
    cookie: bytes | list[bytes] | None = None
    for name, value in scope["headers"]:
        if name in _ANNOUNCING:  # one set lookup for each of the other headers
            if name == b"content-type":
                repeated = repeated or content_type is not None
                content_type = value
            elif name == b"content-length":
                repeated = repeated or length is not None
                length = value
                has_body = value.strip() not in (b"", b"0")
            elif name == b"cookie":
                cookie = value if cookie is None else _repeated(cookie, value)
            else:
                has_body = True
    if not has_body and scope.get("http_version") == "2":  # HTTP/2 may frame bodies itself
        has_body = scope["method"] not in ("GET", "HEAD", "OPTIONS")
    return has_body, _joined(b"cookie", cookie), None if repeated else content_type, length


def route_path(scope: Scope) -> str:
    """The request path below the app's mount point (``root_path`` removed)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        if path == root_path:
            return "/"
        if path[len(root_path)] == "/":
            return path[len(root_path) :]
    return path


def _header_dict(scope: Scope) -> HeaderDict:
    """The headers of ``scope`` as :attr:`Request.headers` shows them."""
    headers = HeaderDict()
    repeats: dict[str, list[str]] | None = None  # joined once at the end (linear time)
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        previous = dict.get(headers, name)  # the name is lower case: a plain lookup
        if previous is None:
            headers[name] = value
        elif repeats is None:
            repeats = {name: [previous, value]}
        elif name in repeats:
            repeats[name].append(value)
        else:
            repeats[name] = [previous, value]
    if repeats is not None:
        for name, values in repeats.items():
            headers[name] = ("; " if name == "cookie" else ", ").join(values)
    return headers


class Request:
    """One HTTP request, with MicroPie's attribute meanings.

    Middleware may set any attribute of its own on it; handlers reach it as
    ``self.request`` (or through :data:`current_request`).
    """

    # Set by middleware for explicit routing and sub-application hand-off (SPEC §7).
    _route_handler: str | None = None
    _ws_route_handler: str | None = None
    _subapp: Any = None
    _subapp_path: str | None = None
    _subapp_mount_path: str | None = None
    # Session bookkeeping owned by micropie.sessions.
    _session_id: str | None = None
    _session_snapshot: Any = None
    _session_regenerate: bool = False
    _session_cookie_sent: bool = False
    # False once a before_request hook replaced ``session``: that hook keeps it.
    _session_managed: bool = True
    # The parsed query string, once asked for (a property: cached_property locks on 3.11).
    _query_params: dict[str, list[str]] | None = None
    # The JSON object body, when the body was one (keeps JSON types for binding).
    _json_object: dict[str, Any] | None = None
    # Body reading state (micropie.body) and the limits in force for this request.
    _body_complete: bool = False
    _frozen_body: int = 0  # bytes of a large parsed body kept (body.release_body)
    _response_started: bool = False
    # Hook progress: after_request runs once on every answer, also on one refused before
    # the before_request hooks ran (a body too large, a session store down).
    _after_hooks_started: bool = False
    _context_token: Token[Request] | None = None
    # The request of a micropie sub-app this request was handed to (micropie.subapps).
    _child_request: Request | None = None

    # The request's own dicts, made when first read (a plain GET reads none of them).
    # ``_body_params`` ``None`` also means a JSON object body not yet mirrored.
    _body_params: dict[str, list[str]] | None = None
    _get_json: Any = _ABSENT  # a JSON body may be ``null``
    _body: bytes | None = None
    # Read once, when first asked for. Properties rather than cached_property: that one
    # stores into the instance __dict__, which CPython 3.11 then makes a shared-key dict
    # whose specialized attribute reads fail (every later request.x a generic lookup),
    # and it takes a lock on each first read.
    _headers: HeaderDict | None = None
    _cookies: dict[str, str] | None = None
    _url: URL | None = None
    _starlette: StarletteRequest | None = None

    if TYPE_CHECKING:
        # Attributes of the app's own (``request.user = ...`` in a hook, read as
        # ``self.request.user`` in a handler) type-check in user code under mypy --strict
        # and pyright; at run time they are ordinary instance attributes.
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...

    def __init__(self, scope: Scope, receive: Receive = _empty_receive, send: Send = _no_send):
        # micropie.fast_path.app_call sets these itself, without calling __init__
        # (tests/test_fast_path.py checks the two agree): everything else is a class default.
        self.scope = scope
        self._receive = receive
        self._send = send
        self.path_params: list[str] = []
        # Read on every request, so instance attributes rather than class defaults (3.11
        # specializes neither reads nor writes of those): the limits in force
        # (micropie.body), and the session and files dicts, made when first read.
        self._limits: Any = None
        self._session: dict[str, Any] | None = None
        self._files: dict[str, Any] | None = None

    @property
    def method(self) -> str:
        """The HTTP method, upper case (``"GET"`` for websockets)."""
        method: str = self.scope.get("method", "GET")
        return method

    @property
    def headers(self) -> HeaderDict:
        """Request headers by lower-case name, looked up in any case (``get("User-Agent")``).

        Repeated headers are joined by ``, `` (cookies by ``; ``); assignable.
        """
        headers = self._headers
        if headers is None:
            headers = self._headers = _header_dict(self.scope)
        return headers

    @headers.setter
    def headers(self, headers: HeaderDict) -> None:
        self._headers = headers

    @property
    def get_json(self) -> Any:
        """The parsed JSON body (``{}`` when the request has none)."""
        data = self._get_json
        if data is _ABSENT:
            data = self._get_json = {}
        return data

    @get_json.setter
    def get_json(self, data: Any) -> None:
        self._get_json = data

    @property
    def session(self) -> dict[str, Any]:
        """The session data (``{}`` until set or loaded); assignable."""
        session = self._session
        if session is None:
            session = self._session = {}
        return session

    @session.setter
    def session(self, session: dict[str, Any]) -> None:
        self._session = session

    @property
    def files(self) -> dict[str, Any]:
        """Uploaded files by field name (``{}`` for a request without any); assignable."""
        files = self._files
        if files is None:
            files = self._files = {}
        return files

    @files.setter
    def files(self, files: dict[str, Any]) -> None:
        self._files = files

    @property
    def body_params(self) -> dict[str, list[str]]:
        """Form fields as ``{name: [values]}``; a JSON object body's top-level keys mirror
        its values as strings (as it is when first read)."""
        params = self._body_params
        if params is None:
            if self._json_object is None:  # no body fields: an empty dict, made once
                params = self._body_params = {}
            else:  # a JSON object body, mirrored only when asked for
                from .body import mirror_json

                params = self._body_params = mirror_json(self._json_object)
        return params

    @body_params.setter
    def body_params(self, params: dict[str, list[str]]) -> None:
        self._body_params = params

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent with the request; assignable."""
        cookies = self._cookies
        if cookies is None:
            header = raw_headers(self.scope, b"cookie")[0]
            cookies = self._cookies = cookie_parser(header.decode("latin-1")) if header else {}
        return cookies

    @cookies.setter
    def cookies(self, cookies: dict[str, str]) -> None:
        self._cookies = cookies

    @property
    def query_params(self) -> dict[str, list[str]]:
        """Query string as ``{name: [values]}``."""
        params = self._query_params
        if params is None:
            params = self._query_params = parse_query_string(self.scope.get("query_string", b""))
        return params

    @query_params.setter
    def query_params(self, params: dict[str, list[str]]) -> None:
        self._query_params = params

    @property
    def url(self) -> URL:
        """The full request URL; assignable."""
        url = self._url
        if url is None:
            url = self._url = URL(scope=self.scope)
        return url

    @url.setter
    def url(self, url: URL) -> None:
        self._url = url

    @property
    def root_path(self) -> str:
        """Where the app is mounted (``""`` at the server root); prefix it to build links."""
        root_path: str = self.scope.get("root_path", "")
        return root_path

    def url_for(self, name: str, /, **params: Any) -> URL:
        """The absolute URL of this app's handler or route ``name``, below its mount point.

        Path parameters fill the handler's template, other parameters it binds go to the
        query string; Starlette's ``NoMatchFound`` when nothing has that name.
        """
        app = self.scope.get("app")
        if app is None:
            raise RuntimeError("url_for needs the request of an app (scope['app'] is unset)")
        base = {**self.scope, "path": self.root_path.rstrip("/") + "/", "query_string": b""}
        url: URL = app.url_path_for(name, **params).make_absolute_url(URL(scope=base))
        return url

    @property
    def route_path(self) -> str:
        """The path below where the app is mounted (``root_path`` removed)."""
        return route_path(self.scope)

    @property
    def client(self) -> Address | None:
        """``(host, port)`` of the client, when the server tells it."""
        client = self.scope.get("client")
        return None if client is None else Address(*client)

    @property
    def starlette(self) -> StarletteRequest:
        """The underlying :class:`starlette.requests.Request`; assignable."""
        request = self._starlette
        if request is None:
            request = self._starlette = StarletteRequest(self.scope, self._receive, self._send)
            if self._body is not None:
                request._body = self._body
        return request

    @starlette.setter
    def starlette(self, request: StarletteRequest) -> None:
        self._starlette = request

    async def body(self) -> bytes:
        """The raw request body (read once, within the app's size and time limits)."""
        if self._body is None:
            from .body import read_body

            self._body = await read_body(self, None)
        return self._body

    def query(self, name: str, default: Any = None) -> Any:
        """The first query-string value for ``name``, or ``default``."""
        values = self.query_params.get(name)
        return values[0] if values else default

    def form(self, name: str, default: Any = None) -> Any:
        """The first form (or JSON-mirrored) body value for ``name``, or ``default``."""
        values = self.body_params.get(name)
        return values[0] if values else default

    def json(self, name: str | None = None, default: Any = None) -> Any:
        """The parsed JSON body, or one top-level key of it (``default`` when absent)."""
        if name is None:
            return self.get_json
        if isinstance(self.get_json, dict):
            return self.get_json.get(name, default)
        return default

    def regenerate_session(self) -> None:
        """Move the session data to a fresh id when the response is sent (fixation defence)."""
        self._session_regenerate = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.scope.get('path', '')!r}>"


class WebSocketRequest(Request):
    """The request behind a websocket connection (``self.request`` in ``ws_`` handlers)."""


#: The request being handled in the current task; ``App.request`` reads it.
current_request: ContextVar[Request] = ContextVar("micropie.current_request")
