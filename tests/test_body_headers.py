"""The body step's header reading and the JSON encoding of answers give what their
general forms give (seeded Hypothesis examples, like every property test here)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.exceptions import HTTPException

from micropie.body import _body_headers_joined, body_headers
from micropie.request import announced
from micropie.streaming import _dumps_stdlib, dumps_json
from micropie.typed import json_default

NAMES = [b"content-type", b"content-length", b"host", b"cookie", b"transfer-encoding", b"x-a"]
COOKIES = [b"a=1", b"session_id=x; b=2", b""]
VALUES = [
    b"application/json",
    b"Application/JSON ; charset=utf-8",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=b",
    b"text/plain",
    b"12",
    b"0012",
    b" 7 ",
    b"",
    b"1" * 25,
    b"\xb2",
    b"-3",
    b"x",
]
header = st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES))
#: A name in another case, as a server that does not lower them would send it.
any_case_header = st.tuples(
    st.sampled_from([b"Content-Type", b"CONTENT-LENGTH", b"Content-Length", b"Host"]),
    st.sampled_from(VALUES),
)


def _read(read: Any, headers: list[tuple[bytes, bytes]]) -> Any:
    try:
        return read({"headers": headers})
    except HTTPException as exc:
        return exc.status_code, exc.detail


@given(st.lists(header, max_size=6))
def test_lower_case_headers_read_as_the_general_reading(headers: list[tuple[bytes, bytes]]):
    assert _read(body_headers, headers) == _read(_body_headers_joined, headers)


@given(st.lists(header, max_size=4), st.lists(any_case_header, max_size=2))
def test_names_in_another_case_read_when_the_lower_case_type_is_missing(
    headers: list[tuple[bytes, bytes]], others: list[tuple[bytes, bytes]]
):
    mixed = headers + others
    names = [name for name, _ in headers]
    if names.count(b"content-type") == 1 and names.count(b"content-length") <= 1:
        expected = _read(_body_headers_joined, headers)  # the lower-case names decide
    else:  # no lower-case type, or one sent twice: every case read, repeats joined
        expected = _read(_body_headers_joined, mixed)
    assert _read(body_headers, mixed) == expected


def _body_and_cookie(scope: dict[str, Any]) -> tuple[bool, bytes | None]:
    """What the request announces, read header by header: the reading before issue 17's
    one pass (the last length decides; the lower-case cookie headers, joined)."""
    has_body = False
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            has_body = True
        elif name == b"content-length":
            has_body = value.strip() not in (b"", b"0")
    if not has_body and scope.get("http_version") == "2":
        has_body = scope["method"] not in ("GET", "HEAD", "OPTIONS")
    cookies = [value for name, value in scope["headers"] if name == b"cookie"]
    return has_body, b"; ".join(cookies) if cookies else None


@given(
    st.lists(header | st.tuples(st.just(b"cookie"), st.sampled_from(COOKIES)), max_size=6),
    st.lists(any_case_header | st.just((b"Cookie", b"c=3")), max_size=2),
    st.sampled_from(["1.1", "2"]),
    st.sampled_from(["GET", "POST", "OPTIONS"]),
)
def test_one_pass_reads_body_and_cookies_as_header_by_header(
    headers: list[tuple[bytes, bytes]], others: list[tuple[bytes, bytes]], version, method
):
    scope = {"headers": headers + others, "http_version": version, "method": method}
    has_body, cookie, _, _ = announced(scope)
    assert (has_body, cookie) == _body_and_cookie(scope)  # lower-case names only


def _reference(value: Any) -> bytes:
    """The encoding before: orjson with OPT_NON_STR_KEYS, json for what orjson refuses."""
    try:
        return orjson.dumps(value, default=json_default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return _dumps_stdlib(value)


class Key(str):
    """A ``str`` subclass as a key: orjson takes it only with OPT_NON_STR_KEYS."""


keys = st.one_of(
    st.text(max_size=5),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=3).map(Key),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@given(values)
def test_json_answers_encode_as_before(value: Any):
    assert dumps_json(value) == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {1: "one", "two": 2},
        {Key("k"): [1, {None: True}]},
        {"big": 2**70, 3: "x"},
        [{"a": {"b": {1: 2}}}],
    ],
)
def test_json_answers_with_keys_that_are_no_str(value: Any):
    assert dumps_json(value) == _reference(value)
    assert json.loads(dumps_json(value)) == json.loads(_reference(value))
