"""Every example app: each handler's URL, built with sample values, dispatches to that handler.

The URL comes from ``url_path_for`` (through the mount, for apps mounted in another) and
is requested for real; a ``before_request`` hook (``before_websocket`` for websockets),
standing in for the app's own hooks, answers with the name of the route dispatch chose,
so no handler runs.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from micropie import App, HttpMiddleware, WebSocketMiddleware
from micropie.routes import HandlerRoute, HandlerWebSocketRoute
from micropie.routing import Param

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: Tried in order for each path parameter; the first one its converter accepts is used.
SAMPLES = ["7", "2024-05-01", "2024-05-01T10:30:00", str(uuid.UUID(int=7, version=4)), "true"]
#: The close code the websocket hook refuses with (a private-use code).
ROUTE_NAME_CODE = 4321


def _example_apps() -> Iterator[tuple[str, Any, str]]:
    """(example, its app, the host its TrustedHostMiddleware accepts) per example."""
    for path in sorted(EXAMPLES.rglob("app.py")):
        module_name = ".".join(path.relative_to(EXAMPLES.parent).with_suffix("").parts)
        module = importlib.import_module(module_name)
        host = getattr(module, "ALLOWED_HOSTS", ["testserver"])[0]
        yield module_name.removeprefix("examples.").removesuffix(".app"), module.app, host


def _handler_routes(app: Any, path: str = "", name: str | None = "") -> Iterator[Any]:
    """(mount path, qualified name or None below an unnamed mount, route) per handler."""
    for route in getattr(app, "routes", None) or []:
        if isinstance(route, HandlerRoute | HandlerWebSocketRoute):
            yield path, None if name is None else name + route.name, route
        elif isinstance(route, Mount) and isinstance(route.routes, list):
            inner_name = None if name is None or route.name is None else f"{name}{route.name}:"
            yield from _handler_routes(route, path + route.path, inner_name)


def _cases() -> Iterator[Any]:
    for example, app, host in _example_apps():
        for number, (path, name, route) in enumerate(_handler_routes(app)):
            case_id = f"{example}:{route.path_format}:{number}"
            yield pytest.param(app, host, path, name, route, id=case_id)


def _sample(param: Param) -> str:
    for value in SAMPLES:
        try:
            if param.convert is None or param.convert(value) is not None:
                return value
        except (ValueError, TypeError, OverflowError):
            continue
    raise AssertionError(f"no sample value converts for {param}")


def _sample_params(route: Any) -> dict[str, Any]:
    plan = route.plan
    params: dict[str, Any] = {param.name: _sample(param) for param in plan.segment_params}
    if plan.var_positional is not None:
        params[plan.var_positional.name] = [_sample(plan.var_positional)] * 2
    return params


class AnswerWithRoute(HttpMiddleware):
    async def before_request(self, request):
        return {"status_code": 200, "body": request.scope["route"].name}


class RefuseWithRoute(WebSocketMiddleware):
    async def before_websocket(self, request):
        return {"code": ROUTE_NAME_CODE, "reason": request.scope["route"].name}


def _dispatched_http(client: TestClient, url: str, route: HandlerRoute) -> str:
    methods = route.methods or {"GET"}
    method = "GET" if "GET" in methods else sorted(methods)[0]
    response = client.request(method, url)
    assert response.status_code == 200, (url, response.status_code, response.text)
    return response.text


def _dispatched_websocket(client: TestClient, url: str) -> str:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(url):
        pass
    assert refused.value.code == ROUTE_NAME_CODE
    return refused.value.reason


@pytest.mark.parametrize(("app", "host", "mount_path", "name", "route"), list(_cases()))
def test_url_for_each_handler_dispatches_back_to_it(app, host, mount_path, name, route):
    params = _sample_params(route)
    url = mount_path + route.url_path_for(route.name, **params)
    if name is not None:  # every mount on the way is named: the outer app builds it too
        assert app.url_path_for(name, **params) == url
    owner: App = route.app_ref
    websocket = isinstance(route, HandlerWebSocketRoute)
    hooks: list[Any] = owner.ws_middlewares if websocket else owner.middlewares
    saved = list(hooks)
    hooks[:] = [RefuseWithRoute() if websocket else AnswerWithRoute()]
    client = TestClient(app, base_url=f"http://{host}")
    try:
        if websocket:
            assert _dispatched_websocket(client, url) == route.name
        else:
            assert _dispatched_http(client, url, route) == route.name
    finally:
        hooks[:] = saved
        client.close()


def test_every_example_app_has_routes_to_check():
    examples = {case.id.split(":")[0] for case in _cases()}
    assert len(examples) >= 20
    assert {"hello", "routing", "chat", "showcase", "mount_in_starlette"} <= examples
