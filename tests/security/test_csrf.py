"""SPEC §7: CSRF bypass attempts against CSRFMiddleware all answer 403."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from micropie import App, CSRFMiddleware
from micropie.csrf import FORBIDDEN_BODY, csrf_token

SECRET = "csrf-secret"
FORBIDDEN = (403, FORBIDDEN_BODY)


class Bank(App):
    async def token(self):
        return csrf_token(self.request)

    async def transfer(self, amount="0"):
        self.request.session["sent"] = amount
        return f"sent {amount}"

    async def balance(self):
        return self.request.session.get("sent", "none")


@pytest.fixture
def app():
    bank = Bank()
    CSRFMiddleware(SECRET).install(bank)
    return bank


@pytest.fixture
def victim(app, client_factory):
    """A client with a session and its valid token in ``victim.token``."""
    client = client_factory(app)
    client.token = client.get("/token").text
    return client


def assert_untouched_and_serving(client):
    assert client.get("/balance").text == "none"
    response = client.post("/transfer", data={"amount": "1", "csrf_token": client.token})
    assert (response.status_code, response.text) == (200, "sent 1")


def test_no_token_is_403(victim):
    response = victim.post("/transfer", data={"amount": "100"})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


def test_token_from_another_session_is_403(app, victim, client_factory):
    attacker = client_factory(app)
    stolen = attacker.get("/token").text
    response = victim.post("/transfer", data={"amount": "100", "csrf_token": stolen})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


def test_token_without_any_session_is_403(app, victim, client_factory):
    stranger = client_factory(app)
    response = stranger.post("/transfer", data={"amount": "100", "csrf_token": victim.token})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


def test_token_in_query_string_only_is_403(victim):
    response = victim.post("/transfer", params={"csrf_token": victim.token, "amount": "100"})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


def test_token_in_cookie_only_is_403(victim):
    victim.cookies.set("csrf_token", victim.token)
    response = victim.post("/transfer", data={"amount": "100"})
    assert (response.status_code, response.text) == FORBIDDEN
    victim.cookies.delete("csrf_token")
    assert_untouched_and_serving(victim)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-HTTP-Method-Override": "GET"},
        {"X-HTTP-Method": "GET"},
        {"X-Method-Override": "HEAD"},
    ],
)
def test_method_override_header_does_not_skip_the_check(victim, headers):
    response = victim.post("/transfer", data={"amount": "100"}, headers=headers)
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


@pytest.mark.parametrize("override", ["GET", "HEAD", "OPTIONS"])
def test_method_override_form_field_does_not_skip_the_check(victim, override):
    response = victim.post("/transfer", data={"amount": "100", "_method": override})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "null",
        "x" * 10_000,
        URLSafeTimedSerializer("wrong-key", salt="micropie.csrf").dumps("guess"),
        URLSafeTimedSerializer(SECRET, salt="another.salt").dumps("guess"),
        URLSafeTimedSerializer(SECRET, salt="micropie.csrf").dumps("guessed-secret"),
    ],
    ids=["empty", "null", "huge", "wrong-key", "wrong-salt", "guessed-secret"],
)
def test_forged_token_is_403(victim, forged):
    response = victim.post("/transfer", data={"amount": "100"}, headers={"X-CSRF-Token": forged})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_unsafe_methods_without_token_are_403(victim, method):
    response = victim.request(method, "/transfer", params={"amount": "100"})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


def test_json_body_with_non_string_token_is_403(victim):
    response = victim.post("/transfer", json={"amount": "100", "csrf_token": [victim.token]})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


def test_token_in_a_file_part_is_403(victim):
    files = {"csrf_token": ("t.txt", victim.token.encode(), "text/plain")}
    response = victim.post("/transfer", data={"amount": "100"}, files=files)
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)


def test_expired_token_is_403(client_factory):
    bank = Bank()
    CSRFMiddleware(SECRET, max_age=-1).install(bank)
    client = client_factory(bank)
    token = client.get("/token").text
    response = client.post("/transfer", data={"amount": "100", "csrf_token": token})
    assert (response.status_code, response.text) == FORBIDDEN


def test_safe_methods_pass_without_token(victim):
    assert victim.get("/balance").status_code == 200
    assert victim.head("/balance").status_code == 200


@pytest.mark.parametrize(
    "method",
    ["PROPFIND", "PROPPATCH", "PURGE", "REPORT", "LOCK", "UNLOCK", "QUERY", "MKCOL",
     "COPY", "MOVE", "SEARCH", "LINK", "BREW"],
)  # fmt: skip
def test_every_method_but_the_safe_ones_needs_a_token(victim, method):
    response = victim.request(method, "/transfer", params={"amount": "100"})
    assert (response.status_code, response.text) == FORBIDDEN
    assert_untouched_and_serving(victim)
    ok = victim.request(method, "/transfer", headers={"X-CSRF-Token": victim.token})
    assert ok.status_code == 200


def test_trace_and_options_pass_without_token(victim):
    assert victim.request("TRACE", "/balance").status_code == 200
    assert victim.options("/balance").status_code == 200


def test_csrf_token_in_templates_when_appended_the_micropie_way(client_factory, tmp_path):
    (tmp_path / "form.html").write_text('<input name="csrf_token" value="{{ csrf_token() }}">')

    class Page(Bank):
        async def page(self):
            return await self._render_template("form.html")

    bank = Page(templates_dir=tmp_path)
    bank.middlewares.append(CSRFMiddleware(SECRET))
    client = client_factory(bank)
    page = client.get("/page")
    assert page.status_code == 200
    token = page.text.split('value="')[1].split('"')[0]
    response = client.post("/transfer", data={"amount": "5", "csrf_token": token})
    assert (response.status_code, response.text) == (200, "sent 5")
