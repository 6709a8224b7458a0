"""Near-duplicate detection: the blocked search for similar pairs, checked against the rule.

An all-pairs matrix is out of reach for large pools, so :func:`similar_pairs` cuts the pool
into k-means cells of about ``cell_size`` points and compares each point with its own cell and
with every cell whose region comes within a fixed reach of it (a lower bound on the distance
to a cell: the distance to the bisector of the two centres). :func:`near_duplicates` applies
the keep rule (:func:`~builder.curate.keep_rule.greedy_keep`) to the pairs found, then
checks what matters for the rule, pairs between two kept records, with a second search over
the kept records only (a fresh clustering), re-applying the rule while it finds any. On the
data/ sample the search finds 100% of the pairs an exhaustive check finds, and no pair of
kept records is left (tests pin both); ``benchmarks/near_duplicates.py`` measures recall,
removals without a kept match and pairs left among kept records on a larger corpus.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from builder.curate.keep_rule import Kept, Pairs, greedy_keep, keep_order
from builder.curate.result_cache import ResultCache, code_version, digest

__all__ = [
    "CHECK_REACH",
    "GROUP_EVALS",
    "REACH",
    "NearDuplicates",
    "RunGroups",
    "SearchPlan",
    "group_pairs",
    "near_duplicates",
    "near_duplicates_cached",
    "plan_search",
    "run_groups_here",
    "similar_pairs",
]

REACH = 0.35
"""Default probe reach of :func:`similar_pairs`: a point is also compared with every cell
whose region lies within ``REACH × ε`` of it (ε: the largest distance between two unit
vectors at the threshold). 0.5 is exact; see :func:`similar_pairs` for what 0.35 found."""

Found = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(i, j, cosine) arrays of pairs found by one group of cells."""

CHECK_REACH = 0.2
"""Default reach of the searches over the kept points that check for missed pairs."""


@dataclass(frozen=True)
class NearDuplicates(Kept):
    """Result of :func:`near_duplicates`: the keep rule's outcome plus how the pairs were found."""

    pairs: int = 0
    """Similar pairs found (cosine ≥ threshold), over every search."""
    searches: int = 0
    """Pair searches run: the first over every point, then checks over the kept points."""
    verified: bool = False
    """True when the last search, over the kept points, found no pair that was not known."""


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
    xo = x[own]
    step = max(256, (1 << 22) // max(1, len(own)))  # each block under ~16 MB
    for start in range(0, len(rows), step):
        sims = x[rows[start : start + step]] @ xo.T
        # Most rows hold no hit: find those that do with one pass before locating hits.
        hit = np.flatnonzero(sims.max(axis=1) >= thr)
        if len(hit) == 0:
            continue
        a, b = np.nonzero(sims[hit] >= thr)
        s = sims[hit[a], b]
        a = hit[a] + start
        # Inside the cell compare each unordered pair once; probing points are all new.
        ok = (a >= len(own)) | (a < b)
        found_i.append(rows[a[ok]])
        found_j.append(own[b[ok]])
        found_s.append(s[ok])
    if not found_i:
        none = np.zeros(0, dtype=np.int64)
        return none, none, np.zeros(0, dtype=np.float32)
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)


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
    for _ in range(iters):
        label = ((centres**2).sum(axis=1)[None, :] - 2.0 * (fit @ centres.T)).argmin(axis=1)
        by_label = np.argsort(label, kind="stable")
        filled, starts, count = np.unique(label[by_label], return_index=True, return_counts=True)
        sums = np.add.reduceat(fit[by_label], starts, axis=0)
        centres[filled] = sums / count[:, None]
    return centres


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
probe lists hold at most this many entries (about a sixth of it at the default reach), so
the search's memory does not grow with the number of cells; each group costs one pass over
the vectors, so groups should not be much smaller."""

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
    centroids = _cells(x, max(1, round(n / cell_size)), seed=seed)
    k = len(centroids)
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
        d = c_sq32[None, :] - 2.0 * dots  # ‖x − c‖² − ‖x‖²
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
    c64 = plan.centroids.astype(np.float64)
    cg = plan.centroids[lo:hi]
    # ‖c_A − c_B‖ for every cell A and each cell B of the group.
    sq = (c64**2).sum(axis=1)
    gap = np.sqrt(np.maximum(sq[:, None] + sq[None, lo:hi] - 2.0 * (c64 @ c64[lo:hi].T), 0.0))
    reach_gap = (plan.slack * np.maximum(gap, 1e-9)).astype(np.float32)
    probe_pt: list[np.ndarray] = []
    probe_cell: list[np.ndarray] = []
    block = max(256, (1 << 22) // (hi - lo))
    for start in range(0, n, block):
        stop = min(n, start + block)
        d = plan.c_sq[None, lo:hi] - 2.0 * (x[start:stop] @ cg.T)
        a = plan.primary[start:stop]
        # (d_B − d_A) / (2‖c_A − c_B‖) is the distance from x to the bisector of its cell A
        # and a cell B: every point of B is beyond it. Probe the cells within reach × ε.
        # (1e-5 absorbs float32 rounding in d, so reach 0.5 stays exact.)
        excess = (d - plan.d_own[start:stop, None]) - reach_gap[a]
        mine = np.flatnonzero((a >= lo) & (a < hi))
        excess[mine, a[mine] - lo] = np.inf  # a point's own cell is searched anyway
        near_pt, near_cell = np.nonzero(excess <= 1e-5)
        probe_pt.append(near_pt + start)
        probe_cell.append(near_cell)
    pp = np.concatenate(probe_pt)
    pc = np.concatenate(probe_cell)
    by_cell = np.argsort(pc, kind="stable")
    pp = pp[by_cell]
    p_bounds = np.searchsorted(pc[by_cell], np.arange(hi - lo + 1))
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
    """The local :data:`RunGroups`: each group in turn, in this process."""
    for lo, hi in plan.groups():
        yield hi, group_pairs(x, plan, lo, hi)


def _search(
    x: np.ndarray,
    threshold: float,
    *,
    seed: int,
    cell_size: int,
    reach: float,
    progress: Callable[[int, int], None] | None = None,
    run: RunGroups = run_groups_here,
) -> tuple[Pairs, np.ndarray]:
    """:func:`similar_pairs`, plus each point's cosine to its own cell's centre.

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


def similar_pairs(
    x: np.ndarray,
    threshold: float,
    *,
    seed: int = 13,
    cell_size: int = 256,
    reach: float = REACH,
) -> Pairs:
    """Pairs of the (n, d) unit vectors ``x`` with cosine ≥ ``threshold``, without an
    all-pairs matrix.

    The points are cut into k-means cells of about ``cell_size`` points (as SemDeDup,
    Abbas et al. 2023, clusters before comparing) and each point is compared with its own
    cell and with every other cell whose region comes within ``reach × ε`` of it, where
    ε = √(2 − 2·threshold) is the largest distance between two unit vectors at the
    threshold and the distance from x (in cell A) to cell B is bounded below by its distance
    to the bisector of the two centres. For a pair x ∈ A, y ∈ B those two distances, x's to
    the bisector and y's, add up to at most ‖x − y‖ ≤ ε, so one is ≤ ε/2: ``reach = 0.5``
    finds every pair (a test checks it against all pairs), but in 64 dimensions at nearly
    the cost of all pairs. The default, 0.35, is not a guarantee; measured with the
    ``static`` embedder at 0.92 it found 100% of the pairs on the data/ sample (a test pins
    it) and on the 100,000-record perturbed corpus of ``benchmarks/near_duplicates.py``
    (computing 2.1 G of the 5.0 G products all pairs need), and 99.999% on another
    100,000-record corpus (1–2 of 206,760 pairs missed, depending on the seed).

    Returns :class:`Pairs` (indices into ``x``, cosines). Deterministic for a ``seed``.
    Raises ValueError for a threshold outside (0, 1].
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    return _search(x, threshold, seed=seed, cell_size=cell_size, reach=reach)[0]


def near_duplicates(
    x: np.ndarray,
    threshold: float,
    *,
    seed: int = 13,
    protected: np.ndarray | None = None,
    lengths: np.ndarray | Sequence[int] | None = None,
    cell_size: int = 256,
    reach: float = REACH,
    check_reach: float = CHECK_REACH,
    max_searches: int = 3,
    progress: Callable[[int, int], None] | None = None,
    run: RunGroups = run_groups_here,
) -> NearDuplicates:
    """Near-duplicate removal over the (n, d) unit vectors ``x`` (cosine ≥ ``threshold``).

    Rule: a point is removed only if a point that is kept has cosine ≥ ``threshold`` with
    it. :func:`similar_pairs` finds the pairs; :func:`greedy_keep` walks the points in keep
    priority (``protected`` points, e.g. existing items, first; then nearest its cell
    centre; then the longest text by ``lengths``; then the lower index) and keeps a point
    unless a kept point pairs with it. The greedy outcome on the found pairs equals the one
    on all pairs exactly when no missed pair joins two kept points, so the search is run
    again over the kept points with a fresh clustering (another seed, ``check_reach``);
    pairs it finds are added and the rule re-applied, until a search finds nothing new.
    When ``max_searches`` blocked searches still found new pairs, the newly kept points are
    compared with every kept point by brute force until no kept pair is left, so the
    outcome always equals the rule applied to *all* pairs (a pair matters to the greedy
    walk only when both its points are kept). ``verified`` is then True.

    ``x``: (n, d) float unit vectors; ``protected``: (n,) bool; ``lengths``: n text lengths
    in characters; ``progress(done, n)`` follows the first (largest) search, points done of
    ``n``; ``run`` searches the groups of cells of each search (:data:`RunGroups`; default
    here, in turn; the Ray engine runs them on its workers — the same pairs either way).
    Returns :class:`NearDuplicates` (``keep``, ``duplicate_of``,
    ``similarity`` per point; ``pairs``, ``searches``, ``verified``). Deterministic for a
    ``seed``. Raises ValueError for a threshold outside (0, 1] or ``max_searches`` < 1.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    if max_searches < 1:
        raise ValueError(f"max_searches must be ≥ 1; got {max_searches}")
    n = len(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    pairs, centrality = _search(
        x, threshold, seed=seed, cell_size=cell_size, reach=reach, progress=progress, run=run
    )
    order = keep_order(centrality, lengths=lengths)
    kept = greedy_keep(n, pairs, order, protected=protected)
    searches, verified = 1, n < 2
    while searches < max_searches and not verified:
        idx = np.flatnonzero(kept.keep)
        found, _ = _search(
            x[idx],
            threshold,
            seed=seed + searches,
            cell_size=cell_size,
            reach=check_reach,
            run=run,
        )
        searches += 1
        more = pairs.union(Pairs(idx[found.i], idx[found.j], found.sim), n)
        verified = len(more) == len(pairs)
        if not verified:
            pairs = more
            kept = greedy_keep(n, pairs, order, protected=protected)
    if not verified:
        # The blocked searches kept finding pairs: finish exactly. Only pairs between two
        # kept points can change the outcome, and a point kept in an earlier round was
        # already compared with every other point kept then, so each round compares just
        # the newly kept points with all kept points.
        pairs, kept = _settle_exhaustively(x, threshold, pairs, kept, order, protected)
        verified = True
    return NearDuplicates(
        keep=kept.keep,
        duplicate_of=kept.duplicate_of,
        similarity=kept.similarity,
        pairs=len(pairs),
        searches=searches,
        verified=verified,
    )


def near_duplicates_cached(
    cache: ResultCache | None,
    x: np.ndarray,
    threshold: float,
    *,
    seed: int = 13,
    protected: np.ndarray | None = None,
    lengths: np.ndarray | Sequence[int] | None = None,
    compute: Callable[..., NearDuplicates] | None = None,
    engine: str = "local",
    progress: Callable[[int, int], None] | None = None,
) -> NearDuplicates:
    """:func:`near_duplicates` with the default search settings, read from ``cache`` when it
    holds the outcome for exactly these inputs (vectors, threshold, seed, protected points,
    lengths, ``engine``), else computed and stored there. ``cache`` None: always computed.
    ``compute`` (default :func:`near_duplicates`, which alone reports ``progress``) is
    called as it is, e.g. an engine's."""
    n = len(x)

    def run(prot: np.ndarray | None, lens: np.ndarray | Sequence[int] | None) -> NearDuplicates:
        if compute is None:
            return near_duplicates(
                x, threshold, seed=seed, protected=prot, lengths=lens, progress=progress
            )
        return compute(x, threshold, seed=seed, protected=prot, lengths=lens)

    if cache is None:
        return run(protected, lengths)
    prot = np.zeros(n, dtype=bool) if protected is None else np.asarray(protected, dtype=bool)
    lens = None if lengths is None else np.asarray(lengths, dtype=np.int64)
    key = digest(
        "near-duplicates-v1",
        code_version("builder.curate.pair_search", "builder.curate.keep_rule"),
        engine,
        x,
        threshold,
        seed,
        prot,
        lens,
        256,
        REACH,
        CHECK_REACH,
        3,
    )
    hit = cache.get("near", key)
    if hit is not None:
        meta = hit["meta"]
        return NearDuplicates(
            keep=hit["keep"],
            duplicate_of=hit["duplicate_of"],
            similarity=hit["similarity"],
            pairs=int(meta[0]),
            searches=int(meta[1]),
            verified=bool(meta[2]),
        )
    nd = run(prot, lens)
    meta = np.array([nd.pairs, nd.searches, int(nd.verified)], dtype=np.int64)
    cache.put(
        "near",
        key,
        {
            "keep": nd.keep,
            "duplicate_of": nd.duplicate_of,
            "similarity": nd.similarity,
            "meta": meta,
        },
    )
    return nd


def _pairs_between(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, threshold: float, step: int = 2048
) -> Pairs:
    """Every pair (rows × cols, by brute force in blocks) with cosine ≥ ``threshold``."""
    a_all: list[np.ndarray] = []
    b_all: list[np.ndarray] = []
    s_all: list[np.ndarray] = []
    xc = x[cols]
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        sims = x[block] @ xc.T
        a, b = np.nonzero(sims >= threshold)
        a_all.append(block[a])
        b_all.append(cols[b])
        s_all.append(sims[a, b])
    if not a_all:
        return Pairs.empty()
    return Pairs.of(np.concatenate(a_all), np.concatenate(b_all), np.concatenate(s_all), len(x))


def _settle_exhaustively(
    x: np.ndarray,
    threshold: float,
    pairs: Pairs,
    kept: Kept,
    order: np.ndarray,
    protected: np.ndarray | None,
) -> tuple[Pairs, Kept]:
    """Add every missed pair between kept points until none is left; re-apply the rule."""
    n = len(x)
    fresh = np.flatnonzero(kept.keep)
    checked = np.zeros(n, dtype=bool)
    while len(fresh):
        found = _pairs_between(x, fresh, np.flatnonzero(kept.keep), threshold)
        checked[fresh] = True
        more = pairs.union(found, n)
        if len(more) == len(pairs):
            break
        pairs = more
        kept = greedy_keep(n, pairs, order, protected=protected)
        fresh = np.flatnonzero(kept.keep & ~checked)
    return pairs, kept
