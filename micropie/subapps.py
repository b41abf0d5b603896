"""Handing a request over to another ASGI app from a middleware hook (SPEC §7).

A ``before_request`` hook that sets ``request._subapp`` (and ``request._subapp_path``,
optionally ``request._subapp_mount_path``) sends the request to that app below an
extended ``root_path``. An already-read body is replayed to it, the session goes in
``scope["session"]``, and a micropie sub-app takes over the parsed body, files and
session of the parent request. The outermost handing-off app saves the session.
"""

from __future__ import annotations

import logging

from starlette.types import Message, Receive, Scope

from .request import Request, route_path
from .responses import Headers
from .sessions import SessionManager

__all__ = ["PARENT_REQUEST_KEY", "adopt_parent_state", "hand_off"]

logger = logging.getLogger("micropie")

#: Scope key under which a micropie sub-app finds the request that handed it over.
PARENT_REQUEST_KEY = "micropie.parent_request"
_ROUTING_KEYS = frozenset({"path_params", "raw_path", "router", "endpoint", "route"})


async def hand_off(request: Request, sessions: SessionManager) -> None:
    """Call ``request._subapp`` with the sub-scope, replaying the body, saving the session."""
    sub_scope = _sub_scope(request)
    if request._body == b"" and request.files and not _is_micropie(request._subapp):
        _warn_empty_multipart(request)
    if PARENT_REQUEST_KEY in request.scope:  # handed to us: the outermost app saves the session
        await request._subapp(sub_scope, _replay_body(request), request._send)
        return

    async def send_with_session(message: Message) -> None:
        if message["type"] == "http.response.start":
            _take_back_session(request)
            headers: Headers = []
            if request._session_managed:
                await sessions.commit(request, headers)
            if headers:
                raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
                message = {**message, "headers": [*message.get("headers", []), *raw]}
        await request._send(message)

    await request._subapp(sub_scope, _replay_body(request), send_with_session)


_empty_multipart_warned = False


def _warn_empty_multipart(request: Request) -> None:
    """Say once per process (then at debug level) that a hand-off lost a parsed
    multipart body: it is the app's set-up, and every client upload would repeat it."""
    global _empty_multipart_warned
    level = logging.DEBUG if _empty_multipart_warned else logging.WARNING
    _empty_multipart_warned = True
    logger.log(
        level,
        "%r: a parsed multipart body reaches a non-micropie app empty "
        "(said once; later ones at debug level)",
        request,
    )


def _sub_scope(request: Request) -> Scope:
    """The scope the sub-app sees: its path below the mount point, ``root_path`` extended."""
    scope = request.scope
    sub_path = "/" + (request._subapp_path or "").lstrip("/")
    mount = request._subapp_mount_path
    if mount is None:  # the part of the route path before the sub-app's path
        path, tail = route_path(scope).rstrip("/"), sub_path.rstrip("/")
        mount = path[: len(path) - len(tail)] if path.endswith(tail) else ""
    root_path = scope.get("root_path", "") + ("/" + mount.strip("/")).rstrip("/")
    sub_scope = {key: value for key, value in scope.items() if key not in _ROUTING_KEYS}
    sub_scope.update(path=root_path + sub_path, root_path=root_path, app_root_path=root_path)
    sub_scope["session"] = request.session
    sub_scope[PARENT_REQUEST_KEY] = request
    if sub_scope["path"] == scope["path"] and "raw_path" in scope:
        sub_scope["raw_path"] = scope["raw_path"]
    return sub_scope


def _take_back_session(request: Request) -> None:
    """Pick up what a micropie sub-app did to the session before saving it."""
    inner = request._child_request
    if inner is not None:
        request.session = inner.session
        request._session_regenerate |= inner._session_regenerate
        request._session_managed &= inner._session_managed


def _is_micropie(app: object) -> bool:
    from .app import App

    return isinstance(app, App)


def adopt_parent_state(request: Request, parent: Request) -> None:
    """Take over the parsed body, files and session of the app that handed off."""
    parent._child_request = request
    request.body_params = parent.body_params
    request.get_json = parent.get_json
    request._json_object = parent._json_object
    request.files = parent.files
    request.session = parent.session
    request._session_cookie_sent = parent._session_cookie_sent
    request._limits = parent._limits
    request._body = parent._body
    request._body_complete = parent._body_complete


def _replay_body(request: Request) -> Receive:
    """A ``receive`` that first replays an already-read body."""
    body = request._body
    original = request._receive
    if body is None and not request._body_complete:
        return original
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}
        return await original()

    return receive
