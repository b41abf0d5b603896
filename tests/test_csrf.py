"""CSRFMiddleware: session-bound signed tokens on unsafe methods (SPEC §7)."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from micropie import App, CSRFMiddleware
from micropie.csrf import FORBIDDEN_BODY, csrf_token

SECRET = "test-secret"


class Forms(App):
    async def form(self):
        return csrf_token(self.request)

    async def page(self):
        return await self._render_template("form.html")

    async def submit(self, name="?"):
        return f"saved {name}"

    async def index(self):
        return "home"


@pytest.fixture
def client(client_factory, tmp_path):
    (tmp_path / "form.html").write_text(
        '<form><input name="csrf_token" value="{{ csrf_token() }}"></form>'
    )
    app = Forms(templates_dir=tmp_path)
    CSRFMiddleware(SECRET).install(app)
    return client_factory(app)


def test_post_without_token_is_403(client):
    client.get("/form")
    response = client.post("/submit", data={"name": "ann"})
    assert (response.status_code, response.text) == (403, FORBIDDEN_BODY)


def test_post_without_any_session_is_403(client):
    response = client.post("/submit", data={"name": "ann", "csrf_token": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_valid_token_in_header_passes_every_unsafe_method(client, method):
    token = client.get("/form").text
    response = client.request(method.upper(), "/submit", headers={"X-CSRF-Token": token})
    assert (response.status_code, response.text) == (200, "saved ?")


def test_valid_token_in_form_field_passes(client):
    token = client.get("/form").text
    response = client.post("/submit", data={"name": "ann", "csrf_token": token})
    assert (response.status_code, response.text) == (200, "saved ann")


def test_valid_token_in_json_body_passes(client):
    token = client.get("/form").text
    response = client.post("/submit", json={"name": "bo", "csrf_token": token})
    assert response.text == "saved bo"


def test_valid_token_in_multipart_form_passes(client_factory):
    class Upload(App):
        async def form(self):
            return csrf_token(self.request)

        async def upload(self, photo):
            return f"{photo.filename} {len(await photo.read())}"

    app = Upload()
    CSRFMiddleware(SECRET).install(app)
    client = client_factory(app)
    token = client.get("/form").text
    files = {"photo": ("cat.jpg", b"x" * 200_000)}
    ok = client.post("/upload", data={"csrf_token": token}, files=files)
    assert (ok.status_code, ok.text) == (200, "cat.jpg 200000")
    assert client.post("/upload", files=files).status_code == 403


def test_token_is_reusable_within_the_session(client):
    token = client.get("/form").text
    for _ in range(2):
        assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 200


@pytest.mark.parametrize(
    "forged",
    [
        "not-a-token",
        "",
        URLSafeTimedSerializer("other-secret", salt="micropie.csrf").dumps("anything"),
        URLSafeTimedSerializer(SECRET, salt="another.salt").dumps("anything"),
    ],
)
def test_forged_token_is_403(client, forged):
    client.get("/form")
    response = client.post("/submit", data={"csrf_token": forged})
    assert response.status_code == 403


def test_tampered_token_is_403(client):
    token = client.get("/form").text
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.post("/submit", headers={"X-CSRF-Token": tampered})
    assert response.status_code == 403


def test_token_of_another_session_is_403(client_factory, client):
    other = client_factory(client.app)
    stolen = other.get("/form").text
    client.get("/form")
    response = client.post("/submit", headers={"X-CSRF-Token": stolen})
    assert response.status_code == 403
    assert other.post("/submit", headers={"X-CSRF-Token": stolen}).status_code == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_untouched(client, method):
    response = client.request(method, "/")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers  # no token asked for: no session started


def test_template_global_renders_a_valid_token(client):
    page = client.get("/page").text
    token = page.split('value="')[1].split('"')[0]
    assert client.post("/submit", data={"csrf_token": token}).status_code == 200


def test_expired_token_is_403(client_factory):
    app = Forms()
    CSRFMiddleware(SECRET, max_age=-1).install(app)
    client = client_factory(app)
    token = client.get("/form").text
    assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 403


def test_custom_field_and_header_names(client_factory):
    app = Forms()
    CSRFMiddleware(SECRET, field_name="_token", header_name="X-XSRF").install(app)
    client = client_factory(app)
    token = client.get("/form").text
    assert client.post("/submit", data={"_token": token}).status_code == 200
    assert client.post("/submit", headers={"X-XSRF": token}).status_code == 200
    assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 403


def test_token_survives_session_regeneration(client_factory):
    class Login(Forms):
        async def login(self):
            self.request.regenerate_session()
            self.session["user"] = "ann"
            return "in"

    app = Login()
    CSRFMiddleware(SECRET).install(app)
    client = client_factory(app)
    token = client.get("/form").text
    assert client.post("/login", headers={"X-CSRF-Token": token}).text == "in"
    assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 200


def test_csrf_token_without_middleware_says_how_to_install(client_factory, caplog):
    response = client_factory(Forms()).get("/form")
    assert response.status_code == 500
    assert "CSRFMiddleware(secret_key).install(app)" in caplog.text


def test_parent_middleware_guards_and_serves_tokens_to_a_subapp(client_factory):
    from examples.middleware.subapps.app import Mounts

    class Shop(App):
        async def token(self):
            return csrf_token()

        async def buy(self, item):
            return f"bought {item}"

    app = Forms()
    CSRFMiddleware(SECRET).install(app)
    app.middlewares.append(Mounts({"/shop": Shop()}))
    client = client_factory(app)
    token = client.get("/shop/token").text
    assert client.post("/shop/buy", data={"item": "tea"}).status_code == 403
    ok = client.post("/shop/buy", data={"item": "tea", "csrf_token": token})
    assert (ok.status_code, ok.text) == (200, "bought tea")
    assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 200
