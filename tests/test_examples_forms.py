"""examples/forms through its ``app``."""

from __future__ import annotations

import pytest

from examples.forms.app import app
from tests.conftest import ClientFactory


def test_forms_shows_form(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/")
    assert response.status_code == 200
    assert '<form method="post" action="/">' in response.text


def test_forms_valid_post_redirects(client_factory: ClientFactory) -> None:
    data = {"name": "Ann Lee", "age": "30", "topic": ["routing", "sessions"], "subscribe": "yes"}
    response = client_factory(app).post("/", data=data, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/thanks?name=Ann+Lee&subscribed=yes"


def test_forms_invalid_post_shows_errors(client_factory: ClientFactory) -> None:
    data = {"name": "<b>", "age": "abc", "topic": ["routing", "evil"]}
    response = client_factory(app).post("/", data=data)
    assert response.status_code == 400
    assert "Age must be a whole number" in response.text
    assert "Unknown topic." in response.text
    assert 'value="&lt;b&gt;"' in response.text
    assert 'value="routing" checked' in response.text


@pytest.mark.parametrize("age", ["²", "٣", "9" * 5000, "0", "150", " 5", "-1"])
def test_forms_age_that_is_no_whole_number_in_range_is_400(
    client_factory: ClientFactory, age: str
) -> None:
    response = client_factory(app).post("/", data={"name": "Ann", "age": age})
    assert response.status_code == 400
    assert "Age must be a whole number" in response.text


def test_forms_thanks_escapes(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/thanks", params={"name": "<i>x</i>", "subscribed": "yes"})
    assert "Thank you, &lt;i&gt;x&lt;/i&gt;! You are subscribed." in response.text


def test_forms_thanks_requires_name(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/thanks")
    assert response.status_code == 400
    assert response.text == "400 Bad Request: Missing required parameter 'name'"
