"""The blocked search for similar pairs: k-means cells, searched in groups.

:func:`plan_search` cuts the (n, d) unit vectors into k-means cells of about ``cell_size``
points (as SemDeDup, Abbas et al. 2023, clusters before comparing) and notes each point's
own cell; :func:`group_pairs` then searches a group of consecutive cells: each cell's points
with each other, and with every point whose distance to the cell's region (bounded below by
its distance to the bisector of the two centres) is within ``reach × ε``. One group works
out which points probe its cells with one pass over the vectors, so memory stays bounded by
one group's probe lists per thread whatever the pool's size, and groups are independent:
the local engine runs them on a thread per core (:func:`run_groups_here`, at most
:data:`MAX_SEARCH_THREADS`), the Ray engine as tasks (:data:`RunGroups`), and both find
exactly the same pairs.
:mod:`builder.curate.pair_search` turns the pairs into near-duplicate decisions.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from builder.curate.dedup import nearest_centroids
from builder.curate.keep_rule import Pairs

__all__ = [
    "CELL_BLOCK",
    "FIT_PER_CELL",
    "GROUP_EVALS",
    "MAX_SEARCH_THREADS",
    "Found",
    "RunGroups",
    "SearchPlan",
    "blocked_search",
    "fit_size",
    "group_pairs",
    "plan_search",
    "run_groups_here",
]

Found = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(i, j, cosine) arrays of pairs found by one group of cells."""


def _pairs_in_cell(
    x: np.ndarray, own: np.ndarray, probe: np.ndarray, thr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs with cosine ≥ ``thr`` inside the cell ``own`` and between ``probe`` and ``own``.

    Returns (i, j, cosine) arrays, each unordered pair once.
    """
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    found_s: list[np.ndarray] = []
    rows = np.concatenate([own, probe])
    n_own = len(own)
    xo_t = np.ascontiguousarray(x[own].T)
    step = max(64, CELL_BLOCK // max(1, n_own))
    for start in range(0, len(rows), step):
        sims = x[rows[start : start + step]] @ xo_t
        # Hits are rare: one flat scan finds them (a 2-D np.nonzero is several times slower).
        flat = np.flatnonzero(sims >= thr)
        if len(flat) == 0:
            continue
        a, b = np.divmod(flat, n_own)
        s = sims.ravel()[flat]
        a += start
        # Inside the cell compare each unordered pair once; probing points are all new.
        ok = (a >= n_own) | (a < b)
        found_i.append(rows[a[ok]])
        found_j.append(own[b[ok]])
        found_s.append(s[ok])
    if not found_i:
        none = np.zeros(0, dtype=np.int64)
        return none, none, np.zeros(0, dtype=np.float32)
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)


CELL_BLOCK = 1 << 18
"""Cosines :func:`_pairs_in_cell` computes at once (1 MB of float32): the threshold test and
the scan for hits then read them from a core's L2 cache rather than from memory
(117,000 static vectors, one search at 0.975: 3.47 CPU-s against 4.03 with blocks of
2²² cosines, medians of 5, interleaved)."""


def _cells(
    x: np.ndarray, k: int, *, seed: int, max_fit: int = 10_000, iters: int = 10
) -> np.ndarray:
    """(k, d) float32 centres of rough k-means cells of ``x``.

    Cells only need to keep near neighbours together (the probes catch the rest), so a
    rough, quick k-means does: Lloyd iterations from ``k`` seeded random points, on a
    seeded sample of at most ``max_fit`` points (an empty cell keeps its centre).
    """
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    fit = x if n <= max_fit else x[np.sort(rng.choice(n, max_fit, replace=False))]
    centres = fit[np.sort(rng.choice(len(fit), k, replace=False))].astype(np.float32)
    if k == 1:
        return np.asarray(fit.mean(axis=0, keepdims=True), dtype=np.float32)
    block = max(256, (1 << 22) // k)  # distances held at once: ~16 MB, not fit × k
    for _ in range(iters):
        label = nearest_centroids(fit, centres, block=block)[:, 0]
        by_label = np.argsort(label, kind="stable")
        filled, starts, count = np.unique(label[by_label], return_index=True, return_counts=True)
        sums = np.add.reduceat(fit[by_label], starts, axis=0)
        centres[filled] = sums / count[:, None]
    return centres


def fit_size(k: int) -> int:
    """Points the k-means of ``k`` cells is fitted on: about :data:`FIT_PER_CELL` per cell,
    10,000 to 50,000 (``n`` when fewer). With too few per cell the cells come out lopsided, and
    the search costs about Σ (cell size)²: on 1,000,000 static vectors in 1,953 cells a fit on
    10,000 points left cells of up to 7,361 points (search 77 s), one on 40,000 up to 3,634
    (57 s, the plan's own k-means 4 s longer)."""
    return min(max(10_000, FIT_PER_CELL * k), 50_000)


FIT_PER_CELL = 20
"""Sampled points per cell that :func:`fit_size` aims for."""


@dataclass(frozen=True)
class SearchPlan:
    """The cells of one blocked search over n points, computed once (:func:`plan_search`);
    each group of cells is then searched on its own (:func:`group_pairs`), here or on a
    worker, so no step holds more than one group's probe lists."""

    centroids: np.ndarray
    """(k, d) float32 cell centres."""
    c_sq: np.ndarray
    """(k,) float32 squared norms of the centres."""
    primary: np.ndarray
    """(n,) int64: each point's own (nearest) cell."""
    d_own: np.ndarray
    """(n,) float32: ‖x − c_own‖² − ‖x‖² for each point."""
    centrality: np.ndarray
    """(n,) float32: cosine of each point to its own cell's centre (the keep priority)."""
    order: np.ndarray
    """(n,) int64: the points sorted by own cell; cell c's are ``order[bounds[c]:bounds[c+1]]``."""
    bounds: np.ndarray
    """(k + 1,) int64 offsets into ``order``."""
    slack: float
    """2 × reach × ε: a point probes cell B when its distance to the bisector of its own cell
    and B, times 2‖c_own − c_B‖, is at most this."""
    thr: float
    """The cosine a pair needs (the threshold less float rounding slack)."""

    @property
    def k(self) -> int:
        return len(self.centroids)

    def groups(self, at_least: int = 1) -> list[tuple[int, int]]:
        """Consecutive cell ranges ``[lo, hi)`` of about ``GROUP_EVALS`` point-to-centre
        distances each (so one group's probe lists stay small whatever the pool's size), and
        at least ``at_least`` of them (as many as there are cells at most)."""
        n = len(self.primary)
        by_size = -(-self.k * n // GROUP_EVALS)  # ceil
        count = min(self.k, max(1, at_least, by_size))
        edges = np.linspace(0, self.k, count + 1).round().astype(int)
        return [(int(lo), int(hi)) for lo, hi in itertools.pairwise(edges)]


GROUP_EVALS = 1 << 27
"""Point-to-centre distances per group of cells (:meth:`SearchPlan.groups`). A group's
probe lists hold at most this many entries (far fewer at the default reach), so the
search's memory does not grow with the number of cells; each group costs one pass over the
vectors, so groups should not be much smaller."""

RunGroups = Callable[[np.ndarray, SearchPlan], Iterator[tuple[int, Found]]]
"""``run(x, plan)``: search every cell of ``plan`` in groups (:meth:`SearchPlan.groups`,
:func:`group_pairs`), yielding ``(hi, pairs)`` per group in cell order (the local loop, or
an engine's workers)."""


def plan_search(
    x: np.ndarray, threshold: float, *, seed: int, cell_size: int, reach: float
) -> SearchPlan:
    """Cut the (n, d) unit vectors ``x`` into k-means cells of about ``cell_size`` points.

    One pass over ``x`` in blocks: each point's own cell, its distance term and its cosine
    to the centre. Returns a :class:`SearchPlan`."""
    n = len(x)
    k = max(1, round(n / cell_size))
    centroids = _cells(x, k, seed=seed, max_fit=fit_size(k))
    k = len(centroids)  # fewer when n < k
    c_sq = (centroids.astype(np.float64) ** 2).sum(axis=1)
    c_norm = np.sqrt(np.maximum(c_sq, 1e-24)).astype(np.float32)
    c_sq32 = c_sq.astype(np.float32)
    # A little slack for float rounding: 0.92 computed as 0.91999996 is still 0.92.
    thr = threshold - 1e-6
    # Two unit vectors with cosine ≥ thr lie within ε = √(2 − 2·thr) of each other.
    eps = float(np.sqrt(max(0.0, 2.0 * (1.0 - thr))))
    primary = np.empty(n, dtype=np.int64)
    d_own = np.empty(n, dtype=np.float32)
    centrality = np.empty(n, dtype=np.float32)
    block = max(256, (1 << 22) // k)
    for start in range(0, n, block):
        dots = x[start : start + block] @ centroids.T
        d = dots * -2.0
        d += c_sq32  # ‖x − c‖² − ‖x‖²
        rows = np.arange(len(d))
        a = d.argmin(axis=1)
        primary[start : start + block] = a
        d_own[start : start + block] = d[rows, a]
        centrality[start : start + block] = dots[rows, a] / c_norm[a]
    order = np.argsort(primary, kind="stable")
    bounds = np.searchsorted(primary[order], np.arange(k + 1))
    return SearchPlan(
        centroids=centroids,
        c_sq=c_sq32,
        primary=primary,
        d_own=d_own,
        centrality=centrality,
        order=order,
        bounds=bounds,
        slack=2.0 * reach * eps,
        thr=thr,
    )


def group_pairs(x: np.ndarray, plan: SearchPlan, lo: int, hi: int) -> Found:
    """Pairs of the (n, d) unit vectors ``x`` found in cells ``lo ≤ c < hi`` of ``plan``:
    each cell's own points with each other and with every point that probes the cell.

    Returns (i, j, cosine) arrays (each pair found once within the group; another group may
    find it again: :meth:`Pairs.of` drops repeats)."""
    n = len(x)
    g = hi - lo
    c64 = plan.centroids.astype(np.float64)
    minus_2cg = -2.0 * plan.centroids[lo:hi]  # × −2 is exact: the same products, scaled
    c_sq = plan.c_sq[lo:hi]
    # ‖c_A − c_B‖ for every cell A and each cell B of the group.
    sq = (c64**2).sum(axis=1)
    gap = np.sqrt(np.maximum(sq[:, None] + sq[None, lo:hi] - 2.0 * (c64 @ c64[lo:hi].T), 0.0))
    reach_gap = (plan.slack * np.maximum(gap, 1e-9)).astype(np.float32)
    keys: list[np.ndarray] = []
    block = max(256, (1 << 22) // g)
    for start in range(0, n, block):
        stop = min(n, start + block)
        # (d_B − d_A) / (2‖c_A − c_B‖) is the distance from x to the bisector of its cell A
        # and a cell B: every point of B is beyond it. Probe the cells within reach × ε.
        # (1e-5 absorbs float32 rounding in d, so reach 0.5 stays exact.) In place: this
        # pass touches n × k distances, so each temporary costs as much as the products.
        d = x[start:stop] @ minus_2cg.T
        d += c_sq
        d -= plan.d_own[start:stop, None]
        a = plan.primary[start:stop]
        d -= reach_gap[a]
        mine = np.flatnonzero((a >= lo) & (a < hi))
        d[mine, a[mine] - lo] = np.inf  # a point's own cell is searched anyway
        flat = np.flatnonzero(d <= 1e-5)
        # One key per (cell, point), cell-major: sorted, they list each cell's probes.
        keys.append((flat % g) * n + (flat // g + start))
    cell, pp = np.divmod(np.sort(np.concatenate(keys)), n)
    p_bounds = np.searchsorted(cell, np.arange(g + 1))
    fi: list[np.ndarray] = []
    fj: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    for c in range(lo, hi):
        own = plan.order[plan.bounds[c] : plan.bounds[c + 1]]
        if len(own) == 0:
            continue
        i, j, s = _pairs_in_cell(x, own, pp[p_bounds[c - lo] : p_bounds[c - lo + 1]], plan.thr)
        fi.append(i)
        fj.append(j)
        fs.append(s)
    if not fi:
        none = np.zeros(0, dtype=np.int64)
        return none, none.copy(), np.zeros(0, dtype=np.float32)
    return np.concatenate(fi), np.concatenate(fj), np.concatenate(fs)


def run_groups_here(x: np.ndarray, plan: SearchPlan) -> Iterator[tuple[int, Found]]:
    """The local :data:`RunGroups`: the groups on one thread per usable core, in this process,
    yielded in cell order (the same pairs as one group after another).

    A group's work is small matrix products and element-wise numpy, which release the GIL;
    BLAS is held to one thread meanwhile, as its own threads split those small products
    worse than the groups split (117,000 static vectors on 2 cores: 4.4–5.0 s and 7.1–7.8
    CPU-s, against 5.9–6.5 s and 11–12 CPU-s one group at a time with two BLAS threads)."""
    workers = min(_usable_cores(), MAX_SEARCH_THREADS)
    if workers == 1:
        for lo, hi in plan.groups():
            yield hi, group_pairs(x, plan, lo, hi)
        return
    groups = plan.groups(at_least=4 * workers)  # several per thread, so none waits long
    with (
        threadpool_limits(limits=1, user_api="blas"),
        ThreadPoolExecutor(workers, thread_name_prefix="benchsmith-pairs") as pool,
    ):
        found = pool.map(lambda g: group_pairs(x, plan, *g), groups)
        for (_, hi), pairs in zip(groups, found, strict=True):
            yield hi, pairs


MAX_SEARCH_THREADS = 4
"""Most threads :func:`run_groups_here` uses: each holds one group's distance blocks (about
70 MB at 2²² point-to-centre distances per block), so memory stays bounded on a large
machine; beyond a few threads the search waits on memory bandwidth anyway."""


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def blocked_search(
    x: np.ndarray,
    threshold: float,
    *,
    seed: int,
    cell_size: int,
    reach: float,
    progress: Callable[[int, int], None] | None = None,
    run: RunGroups = run_groups_here,
) -> tuple[Pairs, np.ndarray]:
    """Pairs of the (n, d) unit vectors ``x`` with cosine ≥ ``threshold`` found by the
    blocked search (:func:`~builder.curate.pair_search.similar_pairs` says what it finds),
    plus each point's cosine to its own cell's centre (the keep priority), (n,) float32.

    ``progress(done, n)`` is called as groups of cells are searched (``done``: points of
    the cells searched so far)."""
    n = len(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if n < 2:
        return Pairs.empty(), np.ones(n, dtype=np.float32)
    plan = plan_search(x, threshold, seed=seed, cell_size=cell_size, reach=reach)
    fi: list[np.ndarray] = []
    fj: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    for hi, (i, j, s) in run(x, plan):
        fi.append(i)
        fj.append(j)
        fs.append(s)
        if progress is not None:
            progress(int(plan.bounds[hi]), n)
    return Pairs.of(np.concatenate(fi), np.concatenate(fj), np.concatenate(fs), n), plan.centrality
