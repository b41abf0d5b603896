"""The cookie session's hot steps give what the general forms they replace give (issue 17):
the session cookie's value as Starlette's ``cookie_parser`` reads it, HMAC-SHA1 as
:func:`hmac.digest`, the JSON itsdangerous writes, copies of session data, and the
headers a response may send (seeded Hypothesis examples, like every property test here)."""

from __future__ import annotations

import copy
import hmac
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import cookie_parser

from micropie.responses import _UNSENDABLE, sendable_value
from micropie.sessions import _clone, _compact_json, _cookie_value, _KeyedSHA1

NAME = "session_id"
pieces = st.sampled_from(
    [NAME, "x" + NAME, NAME + "x", "=", ";", " ", "\t", '"', "\\", "a", "1", "é", "v=w", ","]
)
cookie_headers = st.lists(pieces, max_size=12).map("".join)


@given(cookie_headers)
def test_session_cookie_read_as_cookie_parser_reads_it(header: str):
    assert _cookie_value(header, NAME) == cookie_parser(header).get(NAME)


@given(st.binary(max_size=100), st.binary(max_size=300))
def test_keyed_sha1_is_hmac_sha1(key: bytes, message: bytes):
    assert _KeyedSHA1(key).digest(message) == hmac.digest(key, message, "sha1")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_session_json_is_what_itsdangerous_writes(data: dict[str, Any]):
    assert _compact_json(data) == json.dumps(data, separators=(",", ":"))


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_session_copies_share_nothing_changeable(data: dict[str, Any]):
    copied = _clone(data)
    assert copied == copy.deepcopy(data) or copied != copied  # (NaN is unequal to itself)
    assert type(copied) is dict and copied is not data
    _walk_apart(copied, data)


def _walk_apart(one: Any, other: Any) -> None:
    if isinstance(one, dict | list):
        assert one is not other
        items = zip(one.values(), other.values()) if isinstance(one, dict) else zip(one, other)
        for left, right in items:
            _walk_apart(left, right)


@given(st.text(max_size=30))
def test_header_values_checked_as_the_search_checks_them(value: str):
    stripped = value.strip(" \t")
    expected = None if _UNSENDABLE.search(stripped) else stripped
    assert sendable_value("x-any", value) == expected
