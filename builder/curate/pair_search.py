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

The search itself (cells planned once, then searched in groups that an engine may run
anywhere) is :mod:`builder.curate.cell_search`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from builder.curate.cell_search import RunGroups, blocked_search, run_groups_here
from builder.curate.keep_rule import Kept, Pairs, greedy_keep, keep_order
from builder.curate.result_cache import ResultCache, code_version, digest

__all__ = [
    "CELL_SIZE",
    "CHECK_REACH",
    "REACH",
    "NearDuplicates",
    "near_duplicates",
    "near_duplicates_cached",
    "similar_pairs",
]

REACH = 0.35
"""Default probe reach of :func:`similar_pairs`: a point is also compared with every cell
whose region lies within ``REACH × ε`` of it (ε: the largest distance between two unit
vectors at the threshold). 0.5 is exact; see :func:`similar_pairs` for what 0.35 found."""

CHECK_REACH = 0.2
"""Default reach of the searches over the kept points that check for missed pairs."""

CELL_SIZE = 512
"""Default points per k-means cell of the searches. The search's cost is about n × k
point-to-centre distances plus Σ (cell size + probes) × cell size products, so larger cells
trade the first for the second; on the static vectors the optimum is flat between 384 and
768 (117,000 vectors: 1.8–2.0 s at 384–512 against 2.1–2.4 s at 256; 1,000,000, cells fitted
on 10,000 points: 77.5 s at 512, 78.1 s at 768, 87 s at 1,024 and 89 s at 256, each search at
``REACH``; fitted on :func:`~builder.curate.cell_search.fit_size` points, 60.2 s at 512)."""


@dataclass(frozen=True)
class NearDuplicates(Kept):
    """Result of :func:`near_duplicates`: the keep rule's outcome plus how the pairs were found."""

    pairs: int = 0
    """Similar pairs found (cosine ≥ threshold), over every search."""
    searches: int = 0
    """Pair searches run: the first over every point, then checks over the kept points."""
    verified: bool = False
    """True when the last search, over the kept points, found no pair that was not known."""


def similar_pairs(
    x: np.ndarray,
    threshold: float,
    *,
    seed: int = 13,
    cell_size: int = CELL_SIZE,
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
    ``static`` embedder at 0.92 and cells of 512 it found 100% of the pairs on the data/
    sample (4,366; a test pins it) and on the 100,000-record perturbed corpus of
    ``benchmarks/near_duplicates.py`` (222,178); at 0.975 all 561 pairs of the 117,000-record
    pool of ``benchmarks/curation_speed.py``. (With cells of 256 it missed 1–2 of 206,760 pairs
    on another 100,000-record corpus, depending on the seed.)

    Returns :class:`Pairs` (indices into ``x``, cosines). Deterministic for a ``seed``.
    Raises ValueError for a threshold outside (0, 1].
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    return blocked_search(x, threshold, seed=seed, cell_size=cell_size, reach=reach)[0]


def near_duplicates(
    x: np.ndarray,
    threshold: float,
    *,
    seed: int = 13,
    protected: np.ndarray | None = None,
    lengths: np.ndarray | Sequence[int] | None = None,
    cell_size: int = CELL_SIZE,
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
    here, on a thread per core; the Ray engine runs them on its workers — the same pairs either
    way).
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
    pairs, centrality = blocked_search(
        x, threshold, seed=seed, cell_size=cell_size, reach=reach, progress=progress, run=run
    )
    order = keep_order(centrality, lengths=lengths)
    kept = greedy_keep(n, pairs, order, protected=protected)
    searches, verified = 1, n < 2
    while searches < max_searches and not verified:
        idx = np.flatnonzero(kept.keep)
        found, _ = blocked_search(
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
        code_version(
            "builder.curate.pair_search", "builder.curate.cell_search", "builder.curate.keep_rule"
        ),
        engine,
        x,
        threshold,
        seed,
        prot,
        lens,
        CELL_SIZE,
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
