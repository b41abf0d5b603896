"""examples/middleware/*: each middleware pattern through its ``app`` (SPEC §7)."""

from __future__ import annotations

import gc
import importlib
import logging
import time

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect

from tests.conftest import ClientFactory


def example(name: str):
    return importlib.import_module(f"examples.middleware.{name}.app")


# -- csrf -------------------------------------------------------------------------------


def test_csrf_form_round_trip(client_factory: ClientFactory) -> None:
    module = example("csrf")
    client = client_factory(module.app)
    page = client.get("/")
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    signed = client.post(
        "/sign", data={"message": "hi <b>", "csrf_token": token}, follow_redirects=False
    )
    assert signed.status_code == 303
    assert "<li>hi &lt;b&gt;</li>" in client.get("/").text


def test_csrf_refuses_missing_and_foreign_tokens(client_factory: ClientFactory) -> None:
    app = example("csrf").app
    client, other = client_factory(app), client_factory(app)
    assert client.post("/sign", data={"message": "x"}).status_code == 403
    foreign = other.get("/token").json()["csrf_token"]
    client.get("/")
    response = client.post("/sign", data={"message": "x"}, headers={"X-CSRF-Token": foreign})
    assert (response.status_code, response.text) == (
        403,
        "403 Forbidden: CSRF token missing or invalid",
    )
    own = client.get("/token").json()["csrf_token"]
    ok = client.post(
        "/sign", data={"message": "x"}, headers={"X-CSRF-Token": own}, follow_redirects=False
    )
    assert ok.status_code == 303


# -- rate limiting ----------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(client_factory: ClientFactory) -> None:
    module = example("rate_limit")
    module.app.middlewares[0].hits.clear()
    client = client_factory(module.app)
    assert [client.get("/").status_code for _ in range(5)] == [200] * 5
    limited = client.get("/")
    assert (limited.status_code, limited.text) == (429, "429 Too Many Requests")
    assert 1 <= int(limited.headers["retry-after"]) <= 10


def test_rate_limit_window_slides(client_factory: ClientFactory) -> None:
    limiter = example("rate_limit").RateLimiter(limit=1, window=0.2)
    app = type(example("rate_limit").app)()
    app.middlewares.append(limiter)
    client = client_factory(app)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 429
    time.sleep(0.25)
    assert client.get("/").status_code == 200


def test_rate_limit_forgets_clients_idle_for_a_window(client_factory: ClientFactory) -> None:
    """Every new address used to stay in the table for good: a client cycling through
    addresses (IPv6 gives one millions) grew it without bound."""
    now = [0.0]
    limiter = example("rate_limit").RateLimiter(limit=2, window=10.0, clock=lambda: now[0])
    app = type(example("rate_limit").app)()
    app.middlewares.append(limiter)
    client = client_factory(app)
    for number in range(1000):
        client.get("/", headers={"x-test": str(number)})
        limiter.hits[f"2001:db8::{number}"] = limiter.hits.pop("testclient")  # a new address
        now[0] += 0.1
    assert len(limiter.hits) <= 101  # only the addresses seen within the last window
    now[0] += 10.0
    assert client.get("/").status_code == 200
    assert list(limiter.hits) == ["testclient"]
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 429  # the limit still holds


# -- after hooks rewriting responses ------------------------------------------------------


def test_rewrite_response_hooks(client_factory: ClientFactory) -> None:
    client = client_factory(example("rewrite_response").app)
    ok = client.get("/item/1")
    assert ok.json() == {"id": 1, "name": "teapot"}
    assert ok.headers["x-frame-options"] == "DENY"
    missing = client.get("/item/99")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no item 99", "status": 404}
    assert missing.headers["x-content-type-options"] == "nosniff"
    text = client.get("/item/2?format=text")
    assert text.text == "id: 2\nname: kettle\n"
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    brew = client.get("/brew")
    assert (brew.status_code, brew.json()["status"], brew.headers["x-brewed"]) == (418, 418, "no")
    nowhere = client.get("/nowhere")
    assert nowhere.json() == {"error": "404 Not Found", "status": 404}
    refused = client.post("/item/1", content=b"{", headers={"Content-Type": "application/json"})
    assert refused.json() == {"error": "400 Bad Request: Bad JSON", "status": 400}
    assert refused.headers["x-frame-options"] == "DENY"


# -- hook order ---------------------------------------------------------------------------


def test_hook_order_headers_and_trail(client_factory: ClientFactory, caplog) -> None:
    client = client_factory(example("hook_order").app)
    with caplog.at_level(logging.INFO, logger="micropie.examples.hook_order"):
        response = client.get("/", headers={"X-Request-Id": "abc123"})
    assert response.text == "request abc123"
    assert response.headers["x-request-id"] == "abc123"
    assert response.headers["server-timing"].startswith("app;dur=")
    assert response.headers["x-trail"] == (
        "request-id,timer,access-log,handler,request-id,timer,access-log"
    )
    assert "abc123 GET / 200" in caplog.text
    assert len(client.get("/").headers["x-request-id"]) == 32


def test_hook_order_hooks_cover_a_body_refused_before_them(
    client_factory: ClientFactory, caplog
) -> None:
    client = client_factory(example("hook_order").app)
    headers = {"X-Request-Id": "abc123", "Content-Type": "application/json"}
    with caplog.at_level(logging.INFO):
        response = client.post("/", content=b"{", headers=headers)
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "abc123"
    assert response.headers["x-trail"] == "request-id,timer,access-log"
    assert "server-timing" not in response.headers  # nothing was timed
    assert "abc123 POST / 400" in caplog.text
    assert "hook raised" not in caplog.text


# -- reading the form in before_request ---------------------------------------------------


def test_honeypot_reads_the_form(client_factory: ClientFactory) -> None:
    client = client_factory(example("honeypot").app)
    assert 'name="website"' in client.get("/").text
    long_ago = str(time.time() - 60)
    human = client.post("/contact", data={"message": "hello", "shown_at": long_ago})
    assert (human.status_code, human.text) == (200, "Thanks, we got: hello")
    bot = client.post("/contact", data={"message": "buy", "website": "x", "shown_at": long_ago})
    assert (bot.status_code, bot.text) == (400, "400 Bad Request: spam detected")
    fast = client.post("/contact", data={"message": "hi", "shown_at": str(time.time())})
    assert fast.text == "400 Bad Request: too fast, try again"
    as_json = client.post("/contact", json={"message": "js", "shown_at": long_ago})
    assert as_json.text == "Thanks, we got: js"


# -- explicit routing ---------------------------------------------------------------------


def test_explicit_routing_patterns(client_factory: ClientFactory) -> None:
    client = client_factory(example("explicit_routing").app)
    assert client.get("/users/1").json() == {"id": 1, "name": "ann"}
    assert client.get("/users/1/posts/hello").json() == {"user": 1, "post": "hello"}
    assert client.get("/users/42").status_code == 404
    assert client.get("/users/abc").status_code == 404
    assert client.get("/_get_user/1").status_code == 404
    created = client.post("/users", data={"name": "cy"})
    assert created.status_code == 201
    assert created.json()["name"] == "cy"
    assert "cy" in client.get("/users").json()["users"].values()
    refused = client.delete("/users/1")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET")
    assert client.get("/").text.startswith("Try")


# -- sub-applications ---------------------------------------------------------------------


def test_subapps_paths_body_and_session(client_factory: ClientFactory) -> None:
    client = client_factory(example("subapps").app)
    assert client.get("/blog").json() == {"blog": "home", "user": "stranger", "root_path": "/blog"}
    client.get("/login/ann")
    assert client.get("/blog/").json()["user"] == "ann"
    assert client.get("/blog/post/3").json() == {"post": 3, "url": "http://testserver/blog/post/3"}
    comment = client.post("/blog/comment/3", data={"text": "nice"})
    assert comment.json() == {"post": 3, "comments": [[3, "nice"]]}
    assert client.get("/api/me").json() == {"user": "ann", "url": "http://testserver/api/me"}
    echo = client.post("/api/echo", data={"a": "1"})
    assert echo.json() == {"path": "/api/echo", "body": "a=1"}
    assert client.get("/api/nope").status_code == 404


def test_subapps_comments_kept_in_the_session_are_bounded(client_factory: ClientFactory) -> None:
    """Each comment went into the session whole and for good: a client posting 1 MiB
    ones grew its session (in the showcase's shared store) by 1 MiB a request."""
    subapps = example("subapps")
    client = client_factory(subapps.app)
    too_long = client.post("/blog/comment/1", data={"text": "x" * (subapps.MAX_COMMENT_CHARS + 1)})
    assert too_long.status_code == 400
    for number in range(subapps.MAX_COMMENTS + 5):
        response = client.post("/blog/comment/1", data={"text": f"c{number}"})
    kept = response.json()["comments"]
    assert kept == [[1, f"c{n}"] for n in range(5, subapps.MAX_COMMENTS + 5)]


# tests/support.py run_uvicorn leaves its log file open (ResourceWarning when collected).
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.server
def test_subapps_under_uvicorn(uvicorn_server) -> None:
    server = uvicorn_server("examples.middleware.subapps.app:app")
    gc.collect()  # collect that file here, not during a later test
    with httpx.Client(base_url=server.url) as client:
        client.get("/login/bo")
        assert client.get("/blog").json()["user"] == "bo"
        assert client.get("/api/me").json() == {"user": "bo", "url": f"{server.url}/api/me"}
        assert client.post("/api/echo", content=b"raw").json()["body"] == "raw"


# -- websocket middleware -----------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong", "%C3%A9", "secret-token%00"])
def test_websocket_auth_refuses_other_tokens(client_factory: ClientFactory, token: str) -> None:
    """A non-ASCII token closed 1011 (hmac.compare_digest refuses such text)."""
    client = client_factory(example("websocket_auth").app)
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(f"/echo?token={token}") as ws:
            ws.receive_text()
    assert (refused.value.code, refused.value.reason) == (1008, "invalid token")


def test_websocket_auth(client_factory: ClientFactory) -> None:
    client = client_factory(example("websocket_auth").app)
    with client.websocket_connect("/echo?token=secret-token") as ws:
        assert ws.receive_text() == "hello ann"
        ws.send_text("hi")
        assert ws.receive_text() == "ann: hi"


# -- Starlette middleware -----------------------------------------------------------------


def test_starlette_middleware_example(client_factory: ClientFactory) -> None:
    app = example("starlette_middleware").app
    client = client_factory(app, base_url="http://localhost")
    response = client.get(
        "/report", headers={"Accept-Encoding": "gzip", "Origin": "http://localhost:3000"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert len(response.json()["rows"]) == 200
    assert "content-encoding" not in client.get("/", headers={"Accept-Encoding": "gzip"}).headers
    evil = client_factory(app, base_url="http://evil.example").get("/")
    assert (evil.status_code, evil.text) == (400, "Invalid host header")
