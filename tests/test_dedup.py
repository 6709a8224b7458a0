"""Exact and near-duplicate detection on real package descriptions."""

from __future__ import annotations

import string
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.curate.dedup import (
    ExactDeduper,
    _normalized,
    close_pairs,
    exact_key,
    near_duplicates,
)
from builder.curate.embed import Embedder, get_embedder
from builder.curate.text import normalize_text
from builder.errors import ModelMissingError
from tests.conftest import missing


@pytest.fixture(scope="module")
def static() -> Iterator[Embedder]:
    try:
        yield get_embedder("static")
    except ModelMissingError as e:
        missing(str(e))


@pytest.fixture(scope="module")
def texts(sample_rows: list[dict[str, object]]) -> list[str]:
    return [str(r["description"]) for r in sample_rows[:1000]]


def test_exact_duplicates_ignore_case_spacing_and_punctuation(texts: list[str]) -> None:
    base = texts[3]
    variants = [
        base.upper(),
        "  " + base.replace(" ", "   ") + "\n",
        base.replace(".", "").replace(",", "") + "!!",
    ]
    d = ExactDeduper()
    assert d.add(0, base) is None
    assert [d.add(i, v) for i, v in enumerate(variants, start=1)] == [0, 0, 0]
    assert d.add(9, texts[4]) is None  # a different description is not a duplicate
    assert len(d) == 2


@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits, min_size=1), max_size=8))
def test_exact_key_ignores_case_spacing_and_punctuation(words: list[str]) -> None:
    text = " ".join(words)
    variants = [
        text.upper(),
        text.lower(),
        "  " + "   ".join(words) + "\n",
        ", ".join(words) + "!",
        "(" + " - ".join(words) + ")",
    ]
    assert {exact_key(v) for v in variants} == {exact_key(text)}
    if words:
        assert exact_key(text + " extra") != exact_key(text)


@settings(deadline=None)  # the first normalize_text call builds its regex (~0.25 s)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_equals_normalize_text(text: str) -> None:
    assert _normalized(text) == normalize_text(text)


def test_near_duplicates_collapse_to_one(static: Embedder, texts: list[str]) -> None:
    """A lightly edited copy of a description joins its group; one member is kept."""
    originals = texts[:300]
    edited = [
        originals[10] + " This package is part of the suite.",
        originals[10].replace("the ", "a ", 1) + " (transitional)",
        originals[42] + " Documentation package.",
    ]
    x = static.encode(originals + edited)
    nd = near_duplicates(x, 0.92, seed=5)
    groups = {int(i): g for g, m in enumerate(nd.groups) for i in m}
    n = len(originals)
    assert groups[n] == groups[n + 1] == groups[10]
    assert groups[n + 2] == groups[42]
    for members in nd.groups:
        assert nd.keep[members].sum() == 1  # exactly one representative per group
    assert nd.keep.sum() == len(x) - sum(len(m) - 1 for m in nd.groups)
    # No kept pair is still at or above the threshold.
    kept = np.flatnonzero(nd.keep)
    assert close_pairs(x[kept], 0.92) == []


def test_protected_member_wins_its_group(static: Embedder, texts: list[str]) -> None:
    x = static.encode([texts[7], texts[7] + " Transitional package.", texts[500]])
    assert x[0] @ x[2] < 0.9
    protected = np.array([False, True, False])
    nd = near_duplicates(x, 0.92, protected=protected)
    assert nd.keep.tolist() == [False, True, True]
    assert nd.groups[0][0] == 1  # the representative is listed first


def test_clustered_search_finds_what_brute_force_finds(static: Embedder, texts: list[str]) -> None:
    """Recall of the cluster-then-compare search against the all-pairs truth."""
    x = static.encode(texts)
    truth = set(close_pairs(x, 0.92))
    assert len(truth) > 100  # Debian descriptions have many near-identical siblings
    nd = near_duplicates(x, 0.92, seed=13, cell_size=64)
    found = nd.pairs
    assert found <= len(truth)
    assert found / len(truth) >= 0.97
    # Every true pair ends up in one group (transitivity recovers the few missed pairs).
    group = nd.group_of()
    joined = sum(1 for i, j in truth if i in group and group[i] == group.get(j))
    assert joined / len(truth) >= 0.99


def test_deterministic_and_small_inputs(static: Embedder, texts: list[str]) -> None:
    x = static.encode(texts[:200])
    a = near_duplicates(x, 0.92, seed=3)
    b = near_duplicates(x, 0.92, seed=3)
    assert np.array_equal(a.keep, b.keep)
    assert [g.tolist() for g in a.groups] == [g.tolist() for g in b.groups]
    assert near_duplicates(x[:1], 0.92).keep.tolist() == [True]
    assert near_duplicates(x[:0], 0.92).keep.tolist() == []


def test_close_pairs_matches_definition() -> None:
    x = np.array([[1, 0], [0.99, 0.141], [0, 1], [1, 0]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert close_pairs(x, 0.98) == [(0, 1), (0, 3), (1, 3)]
    assert close_pairs(x, 1.0) == [(0, 3)]
