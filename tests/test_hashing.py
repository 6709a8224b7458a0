"""builder.hashing: one canonical JSON, stable, exact, and loud about what JSON cannot hold."""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from builder.errors import BenchsmithError
from builder.hashing import (
    CanonicalJSONError,
    _encode_slow,
    canonical_json,
    content_hash,
    sha256_hex,
)

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | finite | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def shuffled(value: Any) -> Any:
    """The same data with every dict's keys in reverse insertion order."""
    if isinstance(value, dict):
        return {k: shuffled(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [shuffled(v) for v in value]
    return value


@given(json_values)
def test_stable_across_key_order_and_a_round_trip(value: Any) -> None:
    out = canonical_json(value)
    assert canonical_json(shuffled(value)) == out
    assert canonical_json(json.loads(out)) == out
    assert content_hash(shuffled(value)) == hashlib.sha256(out).hexdigest()


@given(json_values)
def test_byte_identical_to_orjson_sorted_keys(value: Any) -> None:
    """Ingest's record hashes were always taken over this encoding: they must not move."""
    assert canonical_json(value) == orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@given(json_values)
def test_the_big_integer_path_writes_everything_else_the_same(value: Any) -> None:
    assert _encode_slow(value, "$").encode("utf-8") == canonical_json(value)


@given(st.dictionaries(st.text(), json_values, max_size=6))
@example({", ": None, "k": ": "})
def test_compact_sorted_and_utf8(value: dict[str, Any]) -> None:
    out = canonical_json(value)
    # Separators are checked outside strings: a key may itself be ", " (hypothesis found it).
    bare = re.sub(rb'"(?:\\.|[^"\\])*"', b'""', out)
    assert b"\n" not in out and b": " not in bare and b", " not in bare
    assert list(json.loads(out)) == sorted(value)


@given(finite)
def test_floats_round_trip_exactly(x: float) -> None:
    back = json.loads(canonical_json(x))
    assert back == x and math.copysign(1.0, back) == math.copysign(1.0, x)
    assert orjson.loads(canonical_json({"x": x}))["x"] == x


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-7, b"1e-7"),  # stdlib json: 1e-07
        (1e-5, b"0.00001"),  # stdlib json: 1e-05
        (1e16, b"1e+16"),
        (0.1, b"0.1"),
        (1.0, b"1.0"),
        (-0.0, b"-0.0"),
        (2**63 - 1, b"9223372036854775807"),
        (2**64 - 1, b"18446744073709551615"),
        (True, b"true"),
        (None, b"null"),
    ],
)
def test_one_number_format(value: Any, text: bytes) -> None:
    assert canonical_json(value) == text


big_ints = st.integers(min_value=2**64) | st.integers(max_value=-(2**63) - 1)


@given(big_ints)
def test_integers_beyond_64_bits_are_exact(n: int) -> None:
    assert canonical_json(n) == str(n).encode()
    out = canonical_json({"b": [n, 1e-7, "é"], "a": n})
    assert out == b'{"a":%d,"b":[%d,1e-7,"\xc3\xa9"]}' % (n, n)
    assert json.loads(out) == {"a": n, "b": [n, 1e-7, "é"]}


def test_unicode_is_kept_not_escaped_or_normalised() -> None:
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    assert canonical_json(nfc) == '"café"'.encode()
    assert canonical_json(nfc) != canonical_json(nfd)
    assert content_hash({"t": nfc}) != content_hash({"t": nfd})
    assert canonical_json({"k": "日本語 😀\u00a0"}) == '{"k":"日本語 😀\u00a0"}'.encode()
    assert b"\\u" not in canonical_json("Ελληνικά — “quotes”")


@given(st.text())
def test_text_round_trips(s: str) -> None:
    try:
        out = canonical_json(s)
    except CanonicalJSONError:
        # only lone surrogates, which UTF-8 cannot carry
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in s)
        return
    assert json.loads(out) == s


def test_keys_sort_by_code_point() -> None:
    out = canonical_json({"b": 1, "a": 2, "é": 3, "z": 4, "😀": 5, "\uffff": 6, "B": 7})
    assert out == '{"B":7,"a":2,"b":1,"z":4,"é":3,"\uffff":6,"😀":5}'.encode()


def test_nested_lists_keep_their_order() -> None:
    assert (
        canonical_json([[3, 1], [], [{"b": 1, "a": [2, 1]}]]) == b'[[3,1],[],[{"a":[2,1],"b":1}]]'
    )
    assert canonical_json((1, (2,))) == canonical_json([1, [2]])


@pytest.mark.parametrize(
    ("value", "where", "shown"),
    [
        (float("nan"), "$", "nan"),
        ({"a": [1, {"b x": float("inf")}]}, "$.a[1]['b x']", "inf"),
        ({"n": None, "x": [None, -math.inf]}, "$.x[1]", "-inf"),
        ({"big": 2**70, "v": float("nan")}, "$.v", "nan"),
    ],
)
def test_nan_and_infinity_are_refused_naming_where(value: Any, where: str, shown: str) -> None:
    with pytest.raises(CanonicalJSONError) as e:
        canonical_json(value)
    assert str(e.value) == (
        f"{shown} at {where} has no JSON form (JSON has no NaN or Infinity); "
        "replace it with null or a finite number before hashing"
    )
    assert isinstance(e.value, BenchsmithError) and isinstance(e.value, ValueError)


def test_what_json_cannot_hold_is_refused_naming_where() -> None:
    with pytest.raises(CanonicalJSONError, match=r"^key 1 at \$\.a has type int; JSON object keys"):
        canonical_json({"a": {1: "x"}})
    with pytest.raises(CanonicalJSONError, match=r"^object value <object .*> at \$\[1\] has no"):
        canonical_json([1, object()])
    with pytest.raises(CanonicalJSONError, match=r"^str value '\\ud800' at \$\.t has no"):
        canonical_json({"t": "\ud800"})


def test_null_text_is_not_mistaken_for_nan() -> None:
    assert canonical_json({"a": "null", "b": None}) == b'{"a":"null","b":null}'


def test_sha256_hex() -> None:
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"") == sha256_hex("") == empty
    assert sha256_hex("é") == hashlib.sha256("é".encode()).hexdigest()


def test_content_hash_is_pinned() -> None:
    # Changing these changes every stored hash: records, specs, manifests.
    assert content_hash({"b": 1, "a": "é"}) == (
        "aa58fba8483623bed37c1b02edfccbdd9a53123837c20bfa4cb4049993a2872e"
    )
    assert content_hash({"x": 1e-7}) == hashlib.sha256(b'{"x":1e-7}').hexdigest()
