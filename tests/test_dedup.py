"""Exact and near-duplicate detection: the keep rule, the blocked pair search against an
exhaustive check, on crafted chains, random clustered vectors and real package descriptions."""

from __future__ import annotations

import string
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from builder.curate import cell_search
from builder.curate.dedup import ExactDeduper, _normalized, close_pairs, exact_key
from builder.curate.embed import Embedder, get_embedder
from builder.curate.keep_rule import Pairs, greedy_keep
from builder.curate.pair_search import near_duplicates, similar_pairs
from builder.curate.text import normalize_text
from builder.errors import ModelMissingError
from tests.support.common import missing


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
    assert _normalized(text) == normalize_text(text).encode("utf-8")


def test_ascii_fast_path_on_every_ascii_character() -> None:
    # Each character alone and between two words: separators, punctuation, controls.
    for c in map(chr, range(128)):
        for text in (c, f"Ab{c}cD", f"x {c}{c} y"):
            assert _normalized(text) == normalize_text(text).encode("utf-8"), repr(text)


def _naive_greedy(n: int, pairs: Pairs, order: np.ndarray, protected: np.ndarray) -> np.ndarray:
    """The keep rule, one point at a time, straight from its definition."""
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for i, j in zip(pairs.i.tolist(), pairs.j.tolist(), strict=True):
        neighbours[i].add(j)
        neighbours[j].add(i)
    keep = np.zeros(n, dtype=bool)
    keep[protected] = True
    for v in order.tolist():
        if not protected[v]:
            keep[v] = not any(keep[u] for u in neighbours[v])
    return keep


def _pairs(edges: list[tuple[int, int]], n: int) -> Pairs:
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    return Pairs.of(a, b, np.full(len(edges), 0.95, dtype=np.float32), n)


def _arc(angles_deg: list[float], dim: int = 8) -> np.ndarray:
    """Unit vectors on a great circle at the given angles (cosine = cos of the difference)."""
    t = np.radians(np.asarray(angles_deg))
    x = np.zeros((len(t), dim), dtype=np.float32)
    x[:, 0], x[:, 1] = np.cos(t), np.sin(t)
    return x


def test_chain_removes_only_what_a_kept_record_duplicates() -> None:
    """a ~ b ~ c with a, c below the threshold: keeping a removes b, and c stays."""
    x = _arc([0, 20, 40])  # cos(a, b) = cos(b, c) = 0.940, cos(a, c) = 0.766
    pairs = similar_pairs(x, 0.92)
    assert list(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)) == [(0, 1), (1, 2)]
    kept = greedy_keep(3, pairs, np.array([0, 1, 2]))
    assert kept.keep.tolist() == [True, False, True]
    assert kept.duplicate_of.tolist() == [-1, 0, -1]
    assert kept.similarity[1] == pytest.approx(np.cos(np.radians(20)), abs=1e-6)
    # By centrality b, the middle one, comes first: it stays and removes both ends.
    nd = near_duplicates(x, 0.92)
    assert nd.keep.tolist() == [False, True, False]
    assert nd.duplicate_of.tolist() == [1, -1, 1]
    assert [g.tolist() for g in nd.groups] == [[1, 0, 2]]


def test_long_chain_is_not_one_group() -> None:
    """Six links (as 'four, 4, iv' ~ … ~ 'ten, 10, X' in WordNet) never join the ends."""
    x = _arc([0, 20, 40, 60, 80, 100, 120])
    kept = greedy_keep(7, similar_pairs(x, 0.92), np.arange(7))
    assert kept.keep.tolist() == [True, False, True, False, True, False, True]
    # Both kept neighbours are 20° away; the tie goes to one of them.
    assert all(kept.duplicate_of[v] in (v - 1, v + 1) for v in (1, 3, 5))
    # From the other end: the same records stay (the chain is symmetric).
    kept = greedy_keep(7, similar_pairs(x, 0.92), np.arange(7)[::-1])
    assert kept.keep.tolist() == [True, False, True, False, True, False, True]
    # Starting at the second record instead keeps 1, 3, 5 and removes both ends.
    kept = greedy_keep(7, similar_pairs(x, 0.92), np.array([1, 0, 2, 3, 4, 5, 6]))
    assert kept.keep.tolist() == [False, True, False, True, False, True, False]
    assert kept.duplicate_of[[0, 6]].tolist() == [1, 5]


def test_protected_points_stay_and_come_first() -> None:
    x = _arc([0, 21, 40, 45])
    pairs = similar_pairs(x, 0.92)
    assert list(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)) == [(0, 1), (1, 2), (2, 3)]
    protected = np.array([False, False, True, True])
    kept = greedy_keep(4, pairs, np.arange(4), protected=protected)
    # 2 and 3 are a pair yet both stay; 1 is removed (a protected point is kept before it).
    assert kept.keep.tolist() == [True, False, True, True]
    assert kept.duplicate_of[1] == 2  # the more similar of its kept neighbours (19° vs 21°)


def test_greedy_keep_rejects_a_bad_order() -> None:
    with pytest.raises(ValueError, match=r"permutation of range\(3\)"):
        greedy_keep(3, Pairs.empty(), np.array([0, 0, 1]))


@settings(deadline=None, max_examples=60)
@given(
    n=st.integers(2, 90),
    density=st.floats(0.0, 0.3),
    chain=st.integers(0, 90),
    seed=st.integers(0, 2**32 - 1),
)
def test_greedy_keep_matches_the_definition(n: int, density: float, chain: int, seed: int) -> None:
    """Rounds, then one at a time past _MAX_ROUNDS: always the one-at-a-time greedy."""
    rng = np.random.default_rng(seed)
    edges = {(int(a), int(b)) for a, b in rng.integers(0, n, (int(density * n * n / 2), 2))}
    # A chain in priority order needs one round per link: longer ones take the fallback.
    order = rng.permutation(n)
    edges |= {(int(order[i]), int(order[i + 1])) for i in range(min(chain, n - 1))}
    pairs = _pairs(sorted(edges), n)
    protected = rng.random(n) < 0.1
    kept = greedy_keep(n, pairs, order, protected=protected)
    assert kept.keep.tolist() == _naive_greedy(n, pairs, order, protected).tolist()
    neighbours = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    for v in np.flatnonzero(~kept.keep).tolist():
        d = int(kept.duplicate_of[v])
        assert kept.keep[d] and (min(v, d), max(v, d)) in neighbours


def _clustered(seed: int, n: int, centres: int, spread: float, dim: int) -> np.ndarray:
    """Unit vectors scattered around a few random centres: many pairs near any threshold."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + spread * rng.normal(size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


@settings(deadline=None, max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 240),
    centres=st.integers(1, 12),
    spread=st.floats(0.02, 0.4),
    dim=st.integers(3, 24),
    threshold=st.floats(0.8, 0.995),
    cell_size=st.sampled_from([4, 8, 16, 32]),
)
def test_rule_holds_against_an_exhaustive_check(
    seed: int, n: int, centres: int, spread: float, dim: int, threshold: float, cell_size: int
) -> None:
    """Every removed point has a kept point at cosine ≥ threshold and no two kept points are
    that similar: checked against all pairs, through the blocked search (small cells force
    many cells and probes; reach 0.5 is exact by the bisector argument)."""
    x = _clustered(seed, n, centres, spread, dim)
    sims = x @ x.T
    tol = 1e-5  # float32 rounding: a pair this close to the threshold may go either way
    pairs = similar_pairs(x, threshold, cell_size=cell_size, reach=0.5, seed=seed % 1000)
    found = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    iu, ju = np.triu_indices(n, 1)
    sure = sims[iu, ju] >= threshold + tol
    assert set(zip(iu[sure].tolist(), ju[sure].tolist(), strict=True)) <= found
    assert all(sims[i, j] >= threshold - tol for i, j in found)
    assert np.allclose(pairs.sim, sims[pairs.i, pairs.j], atol=1e-5)

    nd = near_duplicates(x, threshold, cell_size=cell_size, reach=0.5, seed=seed % 1000)
    kept = np.flatnonzero(nd.keep)
    gone = np.flatnonzero(~nd.keep)
    assert (sims[np.ix_(kept, kept)] - np.eye(len(kept)) < threshold + tol).all()
    assert nd.keep[nd.duplicate_of[gone]].all()
    assert (sims[gone, nd.duplicate_of[gone]] >= threshold - tol).all()
    # The named kept point is the most similar kept neighbour.
    if len(gone):
        assert np.allclose(sims[np.ix_(gone, kept)].max(axis=1), nd.similarity[gone], atol=1e-5)


@settings(deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 400),
    threshold=st.floats(0.8, 0.99),
    cell_size=st.sampled_from([8, 32]),
)
def test_every_removal_has_a_kept_match_at_any_reach(
    seed: int, n: int, threshold: float, cell_size: int
) -> None:
    """Whatever pairs the search misses, a removal is always backed by a kept point."""
    x = _clustered(seed, n, 6, 0.15, 16)
    nd = near_duplicates(x, threshold, cell_size=cell_size, reach=0.1, max_searches=1)
    gone = np.flatnonzero(~nd.keep)
    assert nd.keep[nd.duplicate_of[gone]].all()
    sims = (x[gone] * x[nd.duplicate_of[gone]]).sum(axis=1)
    assert (sims >= threshold - 1e-5).all()


def test_near_duplicates_of_edited_copies(static: Embedder, texts: list[str]) -> None:
    """A lightly edited copy of a description is removed in favour of a kept look-alike."""
    originals = texts[:300]
    edited = [
        originals[10] + " This package is part of the suite.",
        originals[10].replace("the ", "a ", 1) + " (transitional)",
        originals[42] + " Documentation package.",
    ]
    x = static.encode(originals + edited)
    lengths = [len(t) for t in originals + edited]
    nd = near_duplicates(x, 0.92, seed=5, lengths=lengths)
    n = len(originals)
    family = {10, n, n + 1}
    assert sum(nd.keep[i] for i in family) == 1  # the three are within 0.92 of each other
    assert sum(nd.keep[i] for i in (42, n + 2)) == 1
    gone = nd.removed
    assert (x[gone] * x[nd.duplicate_of[gone]]).sum(axis=1).min() >= 0.92 - 1e-6
    assert nd.keep[nd.duplicate_of[gone]].all()
    # No kept pair is still at or above the threshold.
    kept = np.flatnonzero(nd.keep)
    assert close_pairs(x[kept], 0.92) == []


def test_protected_member_stays(static: Embedder, texts: list[str]) -> None:
    x = static.encode([texts[7], texts[7] + " Transitional package.", texts[500]])
    assert x[0] @ x[2] < 0.9
    protected = np.array([False, True, False])
    nd = near_duplicates(x, 0.92, protected=protected)
    assert nd.keep.tolist() == [False, True, True]
    assert nd.duplicate_of.tolist() == [1, -1, -1]
    assert nd.groups[0].tolist() == [1, 0]  # the kept record is listed first


def test_search_is_exhaustive_on_the_sample_corpus(
    static: Embedder, sample_rows: list[dict[str, object]]
) -> None:
    """On all of data/ (5,052 Debian descriptions, static embedder, threshold 0.92) the
    blocked search finds every pair all-pairs finds (recall 100%), no kept pair is left and
    every removal has a kept match."""
    descriptions = [str(r["description"]) for r in sample_rows]
    x = static.encode(descriptions)
    truth = close_pairs(x, 0.92)
    assert len(truth) > 4000  # Debian descriptions have many near-identical siblings
    for cell_size in (64, 256):
        pairs = similar_pairs(x, 0.92, cell_size=cell_size)
        assert list(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)) == truth
    nd = near_duplicates(x, 0.92, lengths=[len(t) for t in descriptions])
    assert nd.pairs == len(truth) and nd.verified
    kept = np.flatnonzero(nd.keep)
    gone = nd.removed
    assert close_pairs(x[kept], 0.92) == []
    assert nd.keep[nd.duplicate_of[gone]].all()
    assert ((x[gone] * x[nd.duplicate_of[gone]]).sum(axis=1) >= 0.92 - 1e-6).all()
    # Union-find over the same pairs would drop more: every group member but one.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j = np.array(truth).T
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(x), len(x)))
    n_groups, _ = connected_components(graph, directed=False)
    assert len(gone) < len(x) - n_groups


def test_deterministic_and_small_inputs(static: Embedder, texts: list[str]) -> None:
    x = static.encode(texts[:200])
    a = near_duplicates(x, 0.92, seed=3)
    b = near_duplicates(x, 0.92, seed=3)
    assert np.array_equal(a.keep, b.keep)
    assert np.array_equal(a.duplicate_of, b.duplicate_of)
    assert near_duplicates(x[:1], 0.92).keep.tolist() == [True]
    assert near_duplicates(x[:0], 0.92).keep.tolist() == []
    assert len(similar_pairs(x[:0], 0.92)) == 0
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\]"):
        near_duplicates(x, 0.0)


def test_close_pairs_matches_definition() -> None:
    x = np.array([[1, 0], [0.99, 0.141], [0, 1], [1, 0]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert close_pairs(x, 0.98) == [(0, 1), (0, 3), (1, 3)]
    assert close_pairs(x, 1.0) == [(0, 3)]


def test_local_search_on_threads_finds_what_one_thread_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The local engine searches groups of cells on a thread per core: the pairs (and their
    cosines) are those of one group after another, and BLAS gets its threads back after."""
    x = _clustered(5, 3000, 12, 0.1, 16)
    before = [(p["user_api"], p["num_threads"]) for p in threadpool_info()]
    found = []
    for cores in (1, 2, 3):
        monkeypatch.setattr(cell_search, "_usable_cores", lambda cores=cores: cores)
        pairs, centrality = cell_search.blocked_search(x, 0.95, seed=13, cell_size=32, reach=0.35)
        found.append((pairs.i.tolist(), pairs.j.tolist(), pairs.sim.tolist(), centrality.tolist()))
    assert len(found[0][0]) > 100
    assert found[0] == found[1] == found[2]
    assert [(p["user_api"], p["num_threads"]) for p in threadpool_info()] == before


def test_cosine_blocks_of_any_size_find_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell's cosines are computed a block of rows at a time (:data:`CELL_BLOCK`): with
    blocks of 64 rows (many per cell) the search finds exactly the pairs of the default, and
    at reach 0.5 those are every pair all-pairs finds."""
    x = _clustered(7, 2000, 10, 0.08, 16)
    runs = []
    for block in (cell_search.CELL_BLOCK, 1):
        monkeypatch.setattr(cell_search, "CELL_BLOCK", block)
        pairs, _ = cell_search.blocked_search(x, 0.95, seed=13, cell_size=128, reach=0.5)
        runs.append((pairs.i.tolist(), pairs.j.tolist(), pairs.sim.tolist()))
    assert runs[0] == runs[1]
    assert list(zip(runs[0][0], runs[0][1], strict=True)) == close_pairs(x, 0.95)
    assert len(runs[0][0]) > 1000
