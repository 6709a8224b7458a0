"""Near-duplicate search in blocks that workers can run apart: the pieces the Ray engine ships.

The pool's vectors are cut into k-means cells (centres fitted on a seeded sample,
:func:`~builder.curate.pair_search._cells`, the very cells the local search uses) and every
vector joins the blocks of its ``probes`` nearest centres (2 by default, as multi-probe
blocking does); the pairs are then the pairs of each block with cosine ≥ the threshold
(:func:`block_pairs`, one matrix product per block). A pair whose points share no block is
missed by one search, so :func:`near_duplicates_with` runs the same loop as
:func:`~builder.curate.pair_search.near_duplicates`: apply the keep rule, search again among
the kept points with fresh cells, until no pair joins two kept points (then the outcome is
exactly the rule applied to *all* pairs, whatever the search missed among removed points).

The keep priority is the local engine's (:func:`keep_priority`: cosine to the cell centre,
computed block by block exactly as the local search computes it), so both engines walk the
points in the same order and, both being verified, remove the same records.

Everything here is plain numpy on arrays; the engine decides where each call runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from builder.curate.keep_rule import Pairs, greedy_keep, keep_order

# The local search's own cells: sharing them is what makes both engines' keep order equal.
from builder.curate.pair_search import NearDuplicates, _cells

__all__ = [
    "PROBES",
    "Search",
    "assign_rows",
    "block_pairs",
    "blocks_of",
    "keep_priority",
    "near_duplicates_with",
    "row_block",
]

PROBES = 2
"""Blocks each vector joins: its nearest cell centres."""

Search = Callable[[np.ndarray, int], Pairs]
"""``search(idx, seed)``: pairs (cosine ≥ threshold) among the points ``idx`` of the pool,
as pool indices."""


def row_block(k: int) -> int:
    """Rows per matrix product when assigning points to ``k`` cells (the local search's)."""
    return max(256, (1 << 22) // max(1, k))


def assign_rows(
    x: np.ndarray, centroids: np.ndarray, start: int, stop: int, probes: int = PROBES
) -> tuple[np.ndarray, np.ndarray]:
    """Cells of rows ``start:stop`` of the (n, d) unit vectors ``x``.

    Returns ((m, probes) int32 nearest cells, nearest first; (m,) float32 cosine to the
    nearest centre, the keep priority). Computed in blocks of :func:`row_block` rows counted
    from row 0 (``start`` must be a multiple of it), with the local search's formulas, so
    the values are the ones it computes.
    """
    k = len(centroids)
    probes = min(probes, k)
    c64 = centroids.astype(np.float64)
    c_sq = (c64**2).sum(axis=1)
    c_norm = np.sqrt(np.maximum(c_sq, 1e-24)).astype(np.float32)
    c_sq32 = c_sq.astype(np.float32)
    block = row_block(k)
    if start % block:
        raise ValueError(f"start {start} is not a multiple of the block size {block}")
    cells = np.empty((stop - start, probes), dtype=np.int32)
    centrality = np.empty(stop - start, dtype=np.float32)
    for s in range(start, stop, block):
        e = min(s + block, stop)
        dots = x[s:e] @ centroids.T
        d = c_sq32[None, :] - 2.0 * dots  # ‖x − c‖² − ‖x‖²
        rows = np.arange(len(d))
        a = d.argmin(axis=1)
        centrality[s - start : e - start] = dots[rows, a] / c_norm[a]
        cells[s - start : e - start, 0] = a
        if probes > 1:
            d[rows, a] = np.inf
            rest = np.argpartition(d, probes - 2, axis=1)[:, : probes - 1]
            order = np.take_along_axis(d, rest, axis=1).argsort(axis=1, kind="stable")
            cells[s - start : e - start, 1:] = np.take_along_axis(rest, order, axis=1)
    return cells, centrality


def keep_priority(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(n,) float32 cosine of each row of ``x`` to its nearest centre, as the local search
    computes it (its keep priority)."""
    return assign_rows(x, centroids, 0, len(x), probes=1)[1]


def blocks_of(cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Members of each of ``k`` blocks from (n, probes) ``cells``: (members, bounds).

    Block ``c`` holds the points ``members[bounds[c]:bounds[c + 1]]`` (ascending).
    """
    flat = cells.reshape(-1).astype(np.int64)
    point = np.repeat(np.arange(len(cells), dtype=np.int64), cells.shape[1])
    order = np.lexsort((point, flat))
    bounds = np.searchsorted(flat[order], np.arange(k + 1))
    return point[order], bounds


def block_pairs(
    x: np.ndarray, members: np.ndarray, bounds: np.ndarray, blocks: Sequence[int], thr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs with cosine ≥ ``thr`` inside each of ``blocks`` (see :func:`blocks_of`).

    Returns (i, j, cosine) arrays with ``i < j`` (a pair may repeat across blocks:
    :meth:`Pairs.of` drops repeats).
    """
    fi: list[np.ndarray] = []
    fj: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    for c in blocks:
        own = members[bounds[c] : bounds[c + 1]]
        if len(own) < 2:
            continue
        xo = x[own]
        step = max(256, (1 << 22) // len(own))  # each product under ~16 MB
        for s in range(0, len(own), step):
            sims = xo[s : s + step] @ xo.T
            hit = np.flatnonzero(sims.max(axis=1) >= thr)
            if len(hit) == 0:
                continue
            a, b = np.nonzero(sims[hit] >= thr)
            sim = sims[hit[a], b]
            a = hit[a] + s
            ok = a < b
            fi.append(own[a[ok]])
            fj.append(own[b[ok]])
            fs.append(sim[ok])
    if not fi:
        none = np.zeros(0, dtype=np.int64)
        return none, none.copy(), np.zeros(0, dtype=np.float32)
    return np.concatenate(fi), np.concatenate(fj), np.concatenate(fs)


def cells_for(x: np.ndarray, *, seed: int, cell_size: int) -> np.ndarray:
    """The local search's cell centres for ``x`` (k = n / ``cell_size``, seeded)."""
    return _cells(x, max(1, round(len(x) / cell_size)), seed=seed)


def near_duplicates_with(
    first: Callable[[], tuple[Pairs, np.ndarray]],
    search: Search,
    between: Callable[[np.ndarray, np.ndarray], Pairs],
    n: int,
    *,
    protected: np.ndarray | None = None,
    lengths: np.ndarray | Sequence[int] | None = None,
    seed: int = 13,
    max_searches: int = 5,
) -> NearDuplicates:
    """The near-duplicate loop of :func:`~builder.curate.pair_search.near_duplicates`, over
    searches that run anywhere.

    ``first()`` → (pairs over all ``n`` points, (n,) keep priority); ``search(idx, seed)``
    → pairs among the points ``idx``; ``between(rows, cols)`` → every pair of ``rows`` ×
    ``cols`` (brute force, the last resort). The keep rule
    (:func:`~builder.curate.keep_rule.greedy_keep`) is applied to the pairs found, then the
    kept points are searched again (seeds ``seed + 1``, …) until a search finds no new pair;
    after ``max_searches`` searches the newly kept points are compared with every kept point
    until none pairs. The outcome is then the rule applied to all pairs (``verified``).
    """
    pairs, centrality = first()
    order = keep_order(centrality, lengths=lengths)
    kept = greedy_keep(n, pairs, order, protected=protected)
    searches, verified = 1, n < 2
    while searches < max_searches and not verified:
        idx = np.flatnonzero(kept.keep)
        found = search(idx, seed + searches)
        searches += 1
        more = pairs.union(found, n)
        verified = len(more) == len(pairs)
        if not verified:
            pairs = more
            kept = greedy_keep(n, pairs, order, protected=protected)
    if not verified:
        fresh = np.flatnonzero(kept.keep)
        checked = np.zeros(n, dtype=bool)
        while len(fresh):
            found = between(fresh, np.flatnonzero(kept.keep))
            checked[fresh] = True
            more = pairs.union(found, n)
            if len(more) == len(pairs):
                break
            pairs = more
            kept = greedy_keep(n, pairs, order, protected=protected)
            fresh = np.flatnonzero(kept.keep & ~checked)
        verified = True
    return NearDuplicates(
        keep=kept.keep,
        duplicate_of=kept.duplicate_of,
        similarity=kept.similarity,
        pairs=len(pairs),
        searches=searches,
        verified=verified,
    )
