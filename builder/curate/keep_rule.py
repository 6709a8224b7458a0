"""The near-duplicate keep rule.

Near duplicates are pairs whose embeddings have cosine similarity ≥ a threshold. The rule:
**a record is removed as a near duplicate only if a record that is kept has cosine ≥ the
threshold with it.** Records are taken in keep priority (existing items first, then nearest
its cell centre, then the longest text, then the first ingested) and each is kept unless an
already kept record pairs with it (:func:`greedy_keep`, greedy as in SemDeDup, Abbas et al.
2023, and semhash by MinishLab). There is no transitive closure: in a chain a ~ b ~ c with a
and c below the threshold, keeping a removes b and c stays.

:class:`Pairs` holds the similar pairs the rule reads; :class:`Kept` is its outcome. Finding
the pairs is :mod:`builder.curate.pair_search`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Kept", "Pairs", "greedy_keep", "keep_order"]

_UNDECIDED, _KEPT, _REMOVED = 0, 1, 2
_MAX_ROUNDS = 64


@dataclass(frozen=True)
class Pairs:
    """Point pairs with cosine similarity ≥ a threshold, each listed once, ``i < j``."""

    i: np.ndarray
    """(m,) int64 point indices."""
    j: np.ndarray
    """(m,) int64 point indices, each greater than its ``i``."""
    sim: np.ndarray
    """(m,) float32 cosine similarity of each pair."""

    @classmethod
    def empty(cls) -> Pairs:
        """No pairs."""
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none.copy(), np.zeros(0, dtype=np.float32))

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray, sim: np.ndarray, n: int) -> Pairs:
        """Pairs from unordered index arrays, duplicates dropped, sorted by (i, j)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        ok = lo != hi
        keys, first = np.unique(lo[ok] * n + hi[ok], return_index=True)
        return cls(keys // n, keys % n, np.asarray(sim, dtype=np.float32)[ok][first])

    def __len__(self) -> int:
        return len(self.i)

    def union(self, other: Pairs, n: int) -> Pairs:
        """The pairs of both (over ``n`` points), each pair once."""
        return Pairs.of(
            np.concatenate([self.i, other.i]),
            np.concatenate([self.j, other.j]),
            np.concatenate([self.sim, other.sim]),
            n,
        )


@dataclass(frozen=True)
class Kept:
    """Outcome of the keep rule (:func:`greedy_keep`) over ``n`` points."""

    keep: np.ndarray
    """(n,) bool: True for points that stay."""
    duplicate_of: np.ndarray
    """(n,) int64: for a removed point, the kept point it duplicates (its most similar kept
    neighbour); -1 for a kept point."""
    similarity: np.ndarray
    """(n,) float32: cosine between a removed point and ``duplicate_of``; NaN when kept."""

    @property
    def removed(self) -> np.ndarray:
        """Indices of the removed points, ascending."""
        return np.flatnonzero(~self.keep)

    @property
    def groups(self) -> list[np.ndarray]:
        """Each kept point that absorbed others, followed by the points naming it (ascending)."""
        gone = self.removed
        if len(gone) == 0:
            return []
        by_kept = gone[np.argsort(self.duplicate_of[gone], kind="stable")]
        heads = self.duplicate_of[by_kept]
        starts = np.flatnonzero(np.diff(heads, prepend=-1))
        return [
            np.concatenate([[heads[s]], members])
            for s, members in zip(starts, np.split(by_kept, starts[1:]), strict=True)
        ]

    def group_of(self) -> dict[int, int]:
        """Point index → number of its group in :attr:`groups`, for points in a group."""
        return {int(i): g for g, members in enumerate(self.groups) for i in members}


def keep_order(
    centrality: np.ndarray, *, lengths: np.ndarray | Sequence[int] | None = None
) -> np.ndarray:
    """Point indices in keep priority, best first.

    Higher ``centrality`` (cosine to the point's cell centre) first, then longer text
    (``lengths``, in characters), then the lower index. Returns an (n,) int64 permutation.
    """
    n = len(centrality)
    keys: list[np.ndarray] = [np.arange(n)]
    if lengths is not None:
        keys.append(-np.asarray(lengths, dtype=np.int64))
    keys.append(-np.asarray(centrality, dtype=np.float64))
    return np.lexsort(keys).astype(np.int64)


def greedy_keep(
    n: int, pairs: Pairs, order: np.ndarray, *, protected: np.ndarray | None = None
) -> Kept:
    """The keep rule: walk the points in ``order``; a point is removed if a point already kept
    has cosine ≥ threshold with it (is paired with it in ``pairs``), else it is kept.

    Greedy in priority order, as SemDeDup (Abbas et al. 2023) and semhash (MinishLab) keep
    records, and no transitive closure: a removed point never removes another, so every
    removed point has a kept point among its ``pairs`` and, when ``pairs`` holds every pair
    at or above the threshold, no two kept points are a pair. ``protected`` (an (n,) bool
    mask) points come first whatever ``order`` says and are never removed (two protected
    points may therefore both stay).

    ``order`` is a permutation of ``range(n)`` (see :func:`keep_order`). The outcome depends
    only on ``pairs`` (their indices and similarities), ``order`` and ``protected``: a pure
    function, so any engine that finds the pairs can apply the same rule. Runs in rounds
    over the pair arrays (every point whose better neighbours are all decided is decided),
    then one point at a time if a long chain of dependencies remains.

    Returns :class:`Kept` ((n,) ``keep``, ``duplicate_of``, ``similarity``). Raises
    ValueError when ``order`` is not a permutation of ``range(n)``.
    """
    order = np.asarray(order, dtype=np.int64)
    if len(order) != n or (n and not np.array_equal(np.sort(order), np.arange(n))):
        raise ValueError(f"order must be a permutation of range({n}); got {len(order)} entries")
    prot = np.zeros(n, dtype=bool) if protected is None else np.asarray(protected, dtype=bool)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    rank[~prot] += n  # protected points first
    first = rank[pairs.i] < rank[pairs.j]
    parent = np.where(first, pairs.i, pairs.j)
    child = np.where(first, pairs.j, pairs.i)
    live = ~prot[child]
    parent, child = parent[live], child[live]
    state = np.full(n, _KEPT, dtype=np.int8)
    state[child] = _UNDECIDED
    for _ in range(_MAX_ROUNDS):
        if len(child) == 0:
            break
        ps = state[parent]
        state[child[ps == _KEPT]] = _REMOVED
        waiting = np.zeros(n, dtype=bool)
        waiting[child[ps == _UNDECIDED]] = True
        ready = child[(state[child] == _UNDECIDED) & ~waiting[child]]
        state[ready] = _KEPT  # every better neighbour was removed
        open_ = state[child] == _UNDECIDED
        parent, child = parent[open_], child[open_]
    if len(child):
        # A long chain: finish one point at a time, in priority order.
        by_child = np.lexsort((parent, rank[child]))
        parent, child = parent[by_child], child[by_child]
        starts = np.flatnonzero(np.diff(child, prepend=-1))
        ends = np.append(starts[1:], len(child))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            kept_parent = (state[parent[s:e]] == _KEPT).any()
            state[child[s]] = _REMOVED if kept_parent else _KEPT
    keep = state == _KEPT
    duplicate_of = np.full(n, -1, dtype=np.int64)
    similarity = np.full(n, np.nan, dtype=np.float32)
    # Name, for each removed point, its most similar kept neighbour (ties: lower index).
    gone = np.concatenate([pairs.i, pairs.j])
    other = np.concatenate([pairs.j, pairs.i])
    sim = np.concatenate([pairs.sim, pairs.sim])
    ok = ~keep[gone] & keep[other]
    gone, other, sim = gone[ok], other[ok], sim[ok]
    best = np.lexsort((other, -sim, gone))
    gone, other, sim = gone[best], other[best], sim[best]
    head = np.flatnonzero(np.diff(gone, prepend=-1))
    duplicate_of[gone[head]] = other[head]
    similarity[gone[head]] = sim[head]
    assert (duplicate_of[~keep] >= 0).all(), "a removed point without a kept neighbour"
    return Kept(keep=keep, duplicate_of=duplicate_of, similarity=similarity)
