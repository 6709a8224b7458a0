"""Text normalisation for exact dedup and n-gram tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.curate.text import normalize_text, words


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("  leading and trailing\t\n", "leading and trailing"),
        ("e-mail «quoted» — dash", "email quoted dash"),
        ("Straße", "strasse"),  # casefold, not lower
        ("ＡＢＣ ①", "abc 1"),  # NFKC: full-width letters, circled digit
        ("Cafe\u0301", "café"),  # combining accent composed
        ("a + b = $5", "a + b = $5"),  # symbols (S*) are kept
        ("", ""),
        ("...", ""),
    ],
)
def test_normalize_text_examples(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_text_equates_trivial_variants() -> None:
    a = "This package provides the libfoo library."
    b = "  this PACKAGE provides\nthe libfoo library "
    assert normalize_text(a) == normalize_text(b)


def test_normalize_text_recomposes_after_removing_punctuation() -> None:
    # Deleting "." brings the combining accent next to "e"; the result must be the
    # composed form, or a second call would change it.
    out = normalize_text("e.\u0301")
    assert out == "é"
    assert normalize_text(out) == out


@given(st.text())
def test_normalize_text_is_idempotent(s: str) -> None:
    once = normalize_text(s)
    assert normalize_text(once) == once


@given(st.text())
def test_normalize_text_has_no_edge_or_double_spaces(s: str) -> None:
    out = normalize_text(s)
    assert out == out.strip()
    assert "  " not in out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("don't stop", ["don", "t", "stop"]),
        ("libfoo-dev 2.4.1", ["libfoo", "dev", "2", "4", "1"]),
        ("Ελληνικά και Русский", ["ελληνικά", "και", "русский"]),
        ("snake_case ＦＵＬＬ", ["snake_case", "full"]),
        ("  ...  ", []),
    ],
)
def test_words(raw: str, expected: list[str]) -> None:
    assert words(raw) == expected


@given(st.text())
def test_words_are_lowercase_tokens_without_spaces(s: str) -> None:
    for w in words(s):
        assert w
        assert not any(ch.isspace() for ch in w)
        assert w.casefold() == w
