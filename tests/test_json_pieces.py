"""micropie.json_pieces: a large JSON body parsed in pieces equals one whole parse.

The pieces are made tiny here, so small generated documents are cut everywhere: inside
strings full of brackets, commas and quotes, inside nested values, between members.
Whatever the text, ``loads_in_pieces`` either returns exactly what ``orjson.loads``
returns or says it could not (and the caller then parses the body whole).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micropie import json_pieces
from micropie.json_pieces import PiecesFailed, TooDeep, has_long_digits, loads_in_pieces

SETTINGS = settings(max_examples=400, deadline=None)

tricky_text = st.text(alphabet='[]{},:"\\ ax\u00e9\n', max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    tricky_text,
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(tricky_text, inner, max_size=6)
    ),
    max_leaves=40,
)
spacing = st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")])


@pytest.fixture(autouse=True)
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_pieces, "PIECE_BYTES", 8)


def same_as_whole(text: bytes) -> None:
    """``loads_in_pieces(text)`` is ``orjson.loads(text)``, or refuses to answer."""
    try:
        expected: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        with pytest.raises(PiecesFailed):
            loads_in_pieces(text)
        return
    try:
        result = loads_in_pieces(text)
    except PiecesFailed:
        return  # allowed: the caller parses whole
    assert result == expected
    assert orjson.dumps(result) == orjson.dumps(expected)  # same order, same types


@SETTINGS
@given(documents, spacing)
def test_pieces_equal_the_whole_parse(document: Any, separators: tuple[str, str]) -> None:
    same_as_whole(json.dumps(document, separators=separators, ensure_ascii=False).encode())


@SETTINGS
@given(documents, st.data())
def test_damaged_documents_are_never_misread(document: Any, data: st.DataObject) -> None:
    text = json.dumps(document).encode()
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    damage = data.draw(st.sampled_from([b"", b",", b"]", b"}", b'"', b"\\", b"[", b"{"]))
    cut = data.draw(st.integers(min_value=0, max_value=2))
    same_as_whole(text[:position] + damage + text[position + cut :])


def test_a_large_array_of_small_containers_is_split_into_many_parses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    parse = orjson.loads

    def counting(data: Any) -> Any:
        calls.append(len(data))
        return parse(data)

    monkeypatch.setattr(json_pieces, "PIECE_BYTES", 1024)
    monkeypatch.setattr(json_pieces.orjson, "loads", counting)
    document = {"items": [{"a": [i, "]"], "b": {"c": "x,{"}} for i in range(2000)], "n": 1}
    text = orjson.dumps(document)
    assert loads_in_pieces(text) == document
    assert len(calls) > len(text) // 2048
    assert max(calls) < 4 * 1024


@pytest.mark.parametrize(
    "text",
    [b"[1,,2]", b"[1,2,]", b"[,1]", b'{"a":1,}', b'{"a":1,,"b":2}', b"[1] x", b"[" * 3],
)
def test_malformed_bodies_are_refused(text: bytes) -> None:
    with pytest.raises(PiecesFailed):
        loads_in_pieces(text * 1 + b" " * 16)


def test_nesting_past_orjsons_limit_is_refused_in_pieces() -> None:
    deep = b"[" * 254 + b"]" * 254
    assert loads_in_pieces(b"[1," + deep[1:-1] + b"]") is not None  # 254 levels
    with pytest.raises(TooDeep):  # final: the whole parse would refuse it too
        loads_in_pieces(b"[1," + deep + b"]")  # 255 levels


def test_integers_orjson_cannot_hold_are_left_to_the_whole_parse() -> None:
    with pytest.raises(PiecesFailed):
        loads_in_pieces(b"[1, 2, 123456789012345678901234567890, 3]")


@given(
    st.binary(max_size=200),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=3 * 64 * 1024),
)
def test_long_digit_runs_are_found_wherever_they_fall(noise: bytes, digits: int, at: int) -> None:
    """Runs across the boundary of two scanning steps are found; shorter ones are not."""
    text = b"x" * at + b"7" * digits + noise.replace(b"7", b"x")
    expected = re.search(rb"[0-9]{19}", text) is not None
    assert has_long_digits(text) is expected
    assert has_long_digits(b"1" * 40 + text, 40) is expected  # start honoured
    assert has_long_digits(text + b"1" * 40, 0, len(text)) is expected  # end honoured
