"""Query strings and urlencoded forms parse exactly as ``urllib.parse.parse_qs`` does
(``keep_blank_values=True``, ``errors="replace"``), for any bytes, within the form limits."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micropie import App
from micropie.urlencoded import TooManyFields, parse_urlencoded
from tests.conftest import ClientFactory
from tests.security.raw import call

FORM = [(b"content-type", b"application/x-www-form-urlencoded")]

#: Text made mostly of what the parser treats specially, so escapes and separators meet.
special_text = st.text(alphabet=st.sampled_from("&=+%;aZ09fF é\x00\udcff€"), max_size=40)
#: Any bytes, with the special ones frequent.
raw_bytes = st.one_of(
    st.binary(max_size=60),
    st.lists(
        st.sampled_from([b"&", b"=", b"+", b"%", b";", b"%2", b"%C3", b"%a9", b"a", b"\xff"]),
        max_size=20,
    ).map(b"".join),
)


def stdlib(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True, errors="replace")


@given(raw_bytes)
def test_any_bytes_parse_as_parse_qs(raw: bytes) -> None:
    text = raw.decode("utf-8", "replace")
    assert parse_urlencoded(text) == stdlib(text)


@given(special_text)
def test_any_text_parses_as_parse_qs(text: str) -> None:
    assert parse_urlencoded(text) == stdlib(text)


@given(st.text(alphabet="&a=", min_size=1, max_size=12), st.integers(0, 6))
def test_field_limit_counts_as_parse_qs(text: str, max_fields: int) -> None:
    try:
        expected = parse_qs(text, keep_blank_values=True, max_num_fields=max_fields)
    except ValueError:
        with pytest.raises(TooManyFields):
            parse_urlencoded(text, max_fields)
    else:
        assert parse_urlencoded(text, max_fields) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1&a=2&b", {"a": ["1", "2"], "b": [""]}),
        ("=x&&y=", {"": ["x"], "y": [""]}),
        ("a+b=c+d&e=%2B%26", {"a b": ["c d"], "e": ["+&"]}),
        ("a=1;b=2", {"a": ["1;b=2"]}),
        ("x=%zz%4&y=%C3%A9%FF", {"x": ["%zz%4"], "y": ["é\ufffd"]}),
    ],
)
def test_known_cases(text: str, expected: dict[str, list[str]]) -> None:
    assert parse_urlencoded(text) == expected


class Show(App):
    async def query(self):
        return {"query": self.request.query_params}

    async def form(self):
        return {"form": self.request.body_params}


@given(raw_bytes)
def test_query_params_and_form_fields_of_any_bytes(raw: bytes) -> None:
    app = Show()
    expected = stdlib(raw.decode("utf-8", "replace"))
    assert json.loads(call(app, b"/query", query_string=raw).body) == {"query": expected}
    length = (b"content-length", str(len(raw)).encode())
    answer = call(app, b"/form", method="POST", headers=[*FORM, length], body=raw)
    assert json.loads(answer.body) == {"form": expected}


def test_form_limits_hold(client_factory: ClientFactory) -> None:
    client = client_factory(Show(max_form_parts=3, max_form_field_size=4))
    headers = {"content-type": "application/x-www-form-urlencoded"}

    def post(body: str) -> tuple[int, str]:
        response = client.post("/form", content=body, headers=headers)
        return response.status_code, response.text

    assert post("a=1&b=2&c=3")[0] == 200
    assert post("a=1&b=2&c=3&") == (413, "413 Payload Too Large")  # empty fields count
    assert post("a=%41%42%43%44&b") == (200, '{"form":{"a":["ABCD"],"b":[""]}}')
    assert post("a=%41%42%43%44%45") == (413, "413 Payload Too Large")
