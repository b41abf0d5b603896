"""SPEC §6: forged, tampered, expired and oversize session cookies; session fixation."""

from __future__ import annotations

import time
import uuid

import itsdangerous
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micropie import App, CookieSessionBackend, InMemorySessionBackend

SECRET = "server-secret-key"


class Accounts(App):
    async def hello(self):
        return "hello"

    async def login(self, user="alice"):
        self.request.regenerate_session()
        self.request.session["user"] = user
        return "in"

    async def visit(self):
        self.request.session["visits"] = self.request.session.get("visits", 0) + 1
        return str(self.request.session["visits"])

    async def whoami(self, user="anonymous"):
        return self.request.session.get("user", user)


def session_cookie(response) -> str | None:
    header = response.headers.get("set-cookie", "")
    if not header.startswith("session_id="):
        return None
    return header.split(";", 1)[0].removeprefix("session_id=")


def use(client, value: str) -> None:
    """Send exactly this session cookie from now on (the client keeps no other)."""
    client.cookies.clear()
    client.cookies.set("session_id", value)


def assert_still_serves(client):
    client.cookies.clear()
    response = client.get("/login", params={"user": "bob"})
    use(client, session_cookie(response))
    assert client.get("/whoami").text == "bob"


@pytest.fixture(params=["memory", "cookie"])
def make_client(request, client_factory):
    def make(**options):
        backend = (
            InMemorySessionBackend() if request.param == "memory" else CookieSessionBackend(SECRET)
        )
        return client_factory(Accounts(backend, **options))

    return make


FORGED = [
    str(uuid.uuid4()),
    str(uuid.uuid4()).upper(),
    str(uuid.uuid1()),
    "../../etc/passwd",
    "admin",
    "",
    "x" * 100_000,
    '"quoted"',
    "eyJ1c2VyIjoiYWRtaW4ifQ.AAAAAA.forgedsignature",
]


@pytest.mark.parametrize("forged", FORGED, ids=range(len(FORGED)))
def test_forged_session_cookie_is_never_adopted(make_client, forged):
    client = make_client()
    use(client, forged)
    assert client.get("/whoami").text == "anonymous"
    response = client.get("/login")
    issued = session_cookie(response)
    assert issued and issued != forged
    assert_still_serves(client)


def test_cookie_signed_with_another_key_is_ignored(client_factory):
    client = client_factory(Accounts(CookieSessionBackend(SECRET)))
    attacker = CookieSessionBackend("attacker-key")
    use(client, attacker.encode({"user": "admin"}))
    assert client.get("/whoami").text == "anonymous"
    assert_still_serves(client)


@pytest.mark.parametrize("position", [0, 10, -3, -10])
def test_tampered_cookie_session_is_ignored(client_factory, position):
    client = client_factory(Accounts(CookieSessionBackend(SECRET)))
    genuine = session_cookie(client.get("/login", params={"user": "mallory"}))
    chars = list(genuine)
    chars[position] = "A" if chars[position] != "A" else "B"
    use(client, "".join(chars))
    assert client.get("/whoami").text == "anonymous"
    assert_still_serves(client)


def test_cookie_session_payload_swapped_under_a_valid_signature_is_ignored(client_factory):
    client = client_factory(Accounts(CookieSessionBackend(SECRET)))
    genuine = session_cookie(client.get("/login", params={"user": "mallory"}))
    payload, timestamp, signature = genuine.rsplit(".", 2)
    forged_payload = itsdangerous.URLSafeSerializer("x").dump_payload({"user": "admin"}).decode()
    use(client, f"{forged_payload}.{timestamp}.{signature}")
    assert client.get("/whoami").text == "anonymous"
    assert_still_serves(client)


def test_expired_cookie_session_is_ignored(client_factory):
    class OldSigner(itsdangerous.TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 7200

    client = client_factory(Accounts(CookieSessionBackend(SECRET), session_timeout=3600))
    old = itsdangerous.URLSafeTimedSerializer(
        SECRET, salt="micropie.session", signer=OldSigner
    ).dumps({"user": "admin"})
    use(client, old)
    assert client.get("/whoami").text == "anonymous"
    assert_still_serves(client)


def test_expired_memory_session_is_ignored(client_factory):
    client = client_factory(Accounts(session_timeout=1))
    use(client, session_cookie(client.get("/login")))
    assert client.get("/whoami").text == "alice"
    time.sleep(1.1)
    assert client.get("/whoami").text == "anonymous"
    assert_still_serves(client)


def test_oversize_cookie_header_is_ignored(make_client):
    client = make_client()
    use(client, "A" * 1_000_000)
    response = client.get("/visit")
    assert (response.status_code, response.text) == (200, "1")
    assert len(session_cookie(response)) < 4096
    assert_still_serves(client)


def test_attacker_planted_id_is_replaced_at_login(client_factory):
    """Fixation: the attacker plants an id of their own; the victim's login must not use it."""
    app = Accounts()
    attacker = client_factory(app)
    planted = session_cookie(attacker.get("/visit"))
    victim = client_factory(app)
    use(victim, planted)
    issued = session_cookie(victim.get("/login", params={"user": "victim"}))
    assert issued and issued != planted
    use(attacker, planted)
    assert attacker.get("/whoami").text == "anonymous"
    use(victim, issued)
    assert victim.get("/whoami").text == "victim"


def test_fresh_session_gets_a_fresh_id_without_regenerate(client_factory):
    """Fixation defence without any call: a populated empty session gets a new id."""
    client = client_factory(Accounts())
    planted = str(uuid.uuid4())
    use(client, planted)
    issued = session_cookie(client.get("/visit"))
    assert issued and issued != planted


def test_session_values_cannot_be_supplied_by_the_client(client_factory):
    client = client_factory(Accounts())
    assert client.get("/whoami", params={"user": "admin"}).text == "admin"
    use(client, session_cookie(client.get("/login", params={"user": "eve"})))
    assert client.get("/whoami", params={"user": "admin"}).text == "eve"


def test_a_huge_cookie_header_is_searched_off_the_event_loop(make_client, monkeypatch):
    """A Cookie header of millions of cookies (uvicorn's httptools lets 10 MB through)
    held the event loop for seconds while all were parsed; only cookies that mention
    ``session_id`` are parsed now, in a worker thread when the header is large."""
    import asyncio

    from micropie import sessions

    searched_on_loop: list[bool] = []
    search = sessions._cookie_value

    def recording_search(header: str, name: str) -> str | None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread runs no event loop
            searched_on_loop.append(False)
        else:
            searched_on_loop.append(True)
        return search(header, name)

    monkeypatch.setattr(sessions, "_cookie_value", recording_search)
    client = make_client()
    cookie = session_cookie(client.get("/login", params={"user": "carol"}))
    decoys = "; ".join(f"x_session_id_{number}=v" for number in range(100_000))
    client.cookies.clear()
    response = client.get("/whoami", headers={"Cookie": f"{decoys}; session_id={cookie}; a=b"})
    assert response.text == "carol"
    assert searched_on_loop == [False]
    assert_still_serves(client)


#: Cookie headers built from the pieces that matter: separators, blanks, quotes, escapes
#: and the session cookie's name (also inside other names and values).
COOKIE_TEXT = st.lists(
    st.sampled_from([" ", ";", "=", '"', "\\", "a", "\t", "\x1c", "session_id", "\\073"]),
    max_size=30,
).map("".join)


@given(header=COOKIE_TEXT)
def test_the_session_cookie_is_read_as_cookie_parser_reads_it(header):
    from starlette.requests import cookie_parser

    from micropie.sessions import _cookie_value

    assert _cookie_value(header, "session_id") == cookie_parser(header).get("session_id")
