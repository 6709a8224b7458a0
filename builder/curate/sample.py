"""Representative sampling: k-means cells, proportional quotas, facility location over the pool.

1. Cluster the eligible pool with k-means (``k`` from :func:`choose_k` unless given).
2. Give the budget to strata (when a strata field is set: proportional with a minimum), then
   inside each stratum to its clusters in proportion to their size, with at least one pick
   for every cluster that can have one (:func:`allocate`, largest remainder).
3. Fill those quotas greedily by *facility location* (:func:`facility_location`): each next
   pick is the candidate, from a cell with quota left, that most raises the summed similarity
   of every record of the pool to its nearest pick, i.e. that best lowers the mean cosine
   distance from the pool to the sample. Coverage is scored over the whole pool, not cell by
   cell, so a pick near a cell's edge also counts for the neighbouring cell. Unlike
   farthest-point picking it does not chase outliers, so the sample keeps the pool's mix;
   the quotas keep the mix proportional and every cluster present.
4. Every pick gets an inclusion weight: the records of its cell (counting the duplicates each
   member absorbed, its ``mass``) divided by the picks there; cells left without a pick hand
   their records to the cell of the nearest pick. The weights of the whole sample add up to
   the records that passed the filters, so a score averaged with them estimates the score on
   the whole pool, duplicates included.

Quotas count distinct records (a package with five near-identical variants is one kind of
record), so removing duplicates does not tilt the mix toward duplicate-heavy regions.

Top-up: points already in the benchmark (``held``) count toward their cells' quotas and start
the facility-location greedy as already chosen; they are never picked again.
Deterministic for a given seed: k-means and every subsample use it, and ties break by index.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from builder.curate.dedup import close_pairs, kmeans_centroids, nearest_centroids

__all__ = [
    "SampleResult",
    "allocate",
    "choose_k",
    "facility_location",
    "representative_sample",
    "sample_without_close_pairs",
]

MAX_CLIENTS = 6000
"""Points whose coverage the greedy scores (a seeded, cell-stratified sample beyond that)."""
MAX_CANDIDATES = 6000
"""Points the greedy may pick from (a seeded sample per cell beyond that)."""


def choose_k(n_points: int, sample_size: int, per_cluster: float = 3.0) -> int:
    """Number of k-means clusters for a sample of ``sample_size`` from ``n_points`` points.

    About ``per_cluster`` picks per cluster. One pick per cluster (k = size) maximises the
    floor for small regions but over-represents them (label-mix JS divergence ~1.05× random
    on the sample corpus); with about three per cluster the quotas keep the mix faithful
    (JS ~0.85×) while every cluster still gets a pick, and coverage is as good (~0.88× the
    random mean distance). ``benchmarks/sampling_quality.py`` prints the comparison.
    """
    if n_points <= 0 or sample_size <= 0:
        return 1
    return max(1, min(n_points, sample_size, round(sample_size / per_cluster)))


def allocate(
    sizes: Sequence[int] | np.ndarray,
    budget: int,
    *,
    held: Sequence[int] | np.ndarray | None = None,
    capacity: Sequence[int] | np.ndarray | None = None,
    minimum: int = 1,
) -> np.ndarray:
    """New picks per group: proportional to ``sizes`` with at least ``minimum`` each.

    ``held`` picks already count toward each group's share; ``capacity`` caps the new picks
    (default ``sizes - held``). When the budget cannot give every group its minimum, the
    largest groups get theirs first. The rest goes by largest remainder: each next pick goes
    to the group furthest below its proportional share ``(held total + budget) × size /
    total size`` (ties: larger group, then lower index).
    """
    size = np.asarray(sizes, dtype=np.float64)
    have = np.zeros(len(size), dtype=np.int64) if held is None else np.asarray(held, dtype=np.int64)
    cap = (size - have if capacity is None else np.asarray(capacity)).astype(np.int64)
    cap = np.maximum(cap, 0)
    out = np.zeros(len(size), dtype=np.int64)
    left = int(min(max(budget, 0), cap.sum()))
    if left == 0 or size.sum() == 0:
        return out
    for g in sorted(range(len(size)), key=lambda g: (-size[g], g)):
        if left == 0:
            break
        give = int(min(max(0, minimum - have[g]), cap[g], left))
        out[g] += give
        left -= give
    target = (have.sum() + out.sum() + left) * size / size.sum()
    heap = [
        (-(target[g] - have[g] - out[g]), -float(size[g]), g)
        for g in range(len(size))
        if out[g] < cap[g]
    ]
    heapq.heapify(heap)
    while left > 0 and heap:
        _, neg_size, g = heapq.heappop(heap)
        out[g] += 1
        left -= 1
        if out[g] < cap[g]:
            heapq.heappush(heap, (-(target[g] - have[g] - out[g]), neg_size, g))
    return out


def facility_location(
    clients: np.ndarray,
    candidates: np.ndarray,
    m: int,
    *,
    client_weight: np.ndarray | None = None,
    start: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    quotas: np.ndarray | None = None,
) -> list[int]:
    """Greedy facility location: up to ``m`` candidate indices maximising Σ w · max cos.

    The objective is the weighted similarity of every client to its most similar pick, so each
    next pick is the candidate that most lowers the clients' mean cosine distance to the
    sample. ``start``: each client's similarity to what is already chosen (default −1, nothing);
    ``groups``/``quotas``: a group per candidate and the most picks per group (a partition
    constraint). Lazy greedy: a pick's gain can only shrink as picks are added, so stale gains
    are upper bounds and only the top of the heap is recomputed. Ties go to the lower index.
    """
    sims = np.ascontiguousarray(candidates @ clients.T)  # a candidate's row is contiguous
    w = np.ones(len(clients), dtype=np.float32) if client_weight is None else client_weight
    w = np.asarray(w, dtype=np.float32)
    cur = (
        np.full(len(clients), -1.0, dtype=np.float32) if start is None else start.astype(np.float32)
    )
    left = None if quotas is None else np.array(quotas, dtype=np.int64)
    gains = np.empty(len(candidates), dtype=np.float64)
    for lo in range(0, len(candidates), 512):
        gains[lo : lo + 512] = np.maximum(sims[lo : lo + 512] - cur, 0.0) @ w
    heap = [(-float(g), j) for j, g in enumerate(gains)]
    heapq.heapify(heap)
    chosen: list[int] = []
    while len(chosen) < m and heap:
        _, j = heapq.heappop(heap)
        if left is not None and groups is not None and left[groups[j]] <= 0:
            continue
        gain = float(np.maximum(sims[j] - cur, 0.0) @ w)
        if heap and gain < -heap[0][0]:
            heapq.heappush(heap, (-gain, j))
            continue
        chosen.append(j)
        np.maximum(cur, sims[j], out=cur)
        if left is not None and groups is not None:
            left[groups[j]] -= 1
    return chosen


@dataclass
class SampleResult:
    """What :func:`representative_sample` chose and why."""

    picks: np.ndarray
    """Indices of the new picks, ascending."""
    cluster: np.ndarray
    """Cluster of every point (clusters are numbered by size, largest first)."""
    weight: np.ndarray
    """Inclusion weight of every sample point (new picks and held); 0 for the rest."""
    reason: dict[int, str]
    """Why each new pick was chosen."""
    k: int
    """Number of clusters."""
    clusters: list[dict[str, int]] = field(default_factory=list)
    """Per cluster: ``cluster``, ``size``, ``picked`` (this run), ``held`` (earlier items)."""
    strata: list[dict[str, Any]] = field(default_factory=list)
    """Per stratum (when stratified): ``stratum``, ``size``, ``picked``, ``held``."""


def _client_sample(
    cell_of: np.ndarray, limit: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points whose coverage the greedy scores, and their weights (records each stands for).

    All points when there are at most ``limit``; else a seeded sample stratified by cell
    (at least one per cell), each weighted by its cell's size over its cell's sample size.
    """
    n = len(cell_of)
    if n <= limit:
        return np.arange(n), np.ones(n, dtype=np.float32)
    cells, inverse, counts = np.unique(cell_of, return_inverse=True, return_counts=True)
    take = np.maximum(1, np.floor(limit * counts / n)).astype(np.int64)
    idx: list[np.ndarray] = []
    wts: list[np.ndarray] = []
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for c in range(len(cells)):
        members = order[bounds[c] : bounds[c + 1]]
        got = members if take[c] >= len(members) else rng.choice(members, take[c], replace=False)
        idx.append(np.asarray(got))
        wts.append(np.full(len(got), counts[c] / len(got), dtype=np.float32))
    all_idx = np.concatenate(idx)
    sort = np.argsort(all_idx)
    return all_idx[sort], np.concatenate(wts)[sort]


def _candidate_sample(
    cell_of: np.ndarray,
    pickable: np.ndarray,
    quota: dict[int, int],
    limit: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Pickable points of cells with a quota; beyond ``limit``, a seeded sample per cell that
    keeps at least 8 candidates per pick a cell must make."""
    pts = np.flatnonzero(pickable & np.isin(cell_of, list(quota)))
    if len(pts) <= limit:
        return pts
    out: list[np.ndarray] = []
    for cell, q in sorted(quota.items()):
        members = pts[cell_of[pts] == cell]
        want = max(8 * q, round(limit * len(members) / len(pts)))
        out.append(members if want >= len(members) else rng.choice(members, want, replace=False))
    return np.sort(np.concatenate(out))


def representative_sample(
    x: np.ndarray,
    size: int,
    *,
    seed: int = 13,
    held: np.ndarray | None = None,
    pickable: np.ndarray | None = None,
    strata: Sequence[str] | None = None,
    min_per_stratum: int = 1,
    k: int | None = None,
    mass: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
) -> SampleResult:
    """Pick ``size`` new points of the unit vectors ``x`` that represent them (see module doc).

    ``held``: mask of points already in the sample (earlier items); ``pickable``: mask of points
    that may be picked (default: not held); ``strata``: a stratum label per point; ``mass``: how
    many pool records each point stands for (itself plus the duplicates removed in its
    favour; default 1), used for the inclusion weights; ``cluster``: labels from an earlier
    call on the same points (skips k-means).
    """
    n = len(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    mass_v = np.ones(n, dtype=np.float64) if mass is None else np.asarray(mass, dtype=np.float64)
    held_m = np.zeros(n, dtype=bool) if held is None else np.asarray(held, dtype=bool)
    pick_m = ~held_m if pickable is None else np.asarray(pickable, dtype=bool) & ~held_m
    size = int(min(max(size, 0), pick_m.sum()))
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SampleResult(empty, empty, np.zeros(0), {}, 0)
    rng = np.random.default_rng(seed)
    if cluster is None:
        k = max(1, min(n, k or choose_k(n, int(held_m.sum()) + size)))
        raw = nearest_centroids(x, kmeans_centroids(x, k, seed=seed, max_iter=50))[:, 0]
        # Renumber clusters by size (largest first, then old id) so numbers read naturally.
        counts = np.bincount(raw, minlength=k)
        rank = np.empty(k, dtype=np.int64)
        rank[sorted(range(k), key=lambda c: (-counts[c], c))] = np.arange(k)
        cluster = rank[raw]
    else:
        k = int(cluster.max()) + 1
    labels = ["" for _ in range(n)] if strata is None else [str(v) for v in strata]
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    s_of = np.fromiter((index[v] for v in labels), dtype=np.int64, count=n)
    n_s = np.bincount(s_of, minlength=len(names))
    s_quota = allocate(
        n_s,
        size,
        held=np.bincount(s_of[held_m], minlength=len(names)),
        capacity=np.bincount(s_of[pick_m], minlength=len(names)),
        minimum=min_per_stratum if strata is not None else 0,
    )
    cell_of = s_of * k + cluster
    quota: dict[int, int] = {}
    for s in range(len(names)):
        in_s = s_of == s
        alloc = allocate(
            np.bincount(cluster[in_s], minlength=k),
            int(s_quota[s]),
            held=np.bincount(cluster[in_s & held_m], minlength=k),
            capacity=np.bincount(cluster[in_s & pick_m], minlength=k),
        )
        quota.update({s * k + int(c): int(alloc[c]) for c in np.flatnonzero(alloc)})
    clients, cw = _client_sample(cell_of, MAX_CLIENTS, rng)
    cands = _candidate_sample(cell_of, pick_m, quota, MAX_CANDIDATES, rng)
    start = None
    anchors = np.flatnonzero(held_m)
    if len(anchors):
        start = np.full(len(clients), -1.0, dtype=np.float32)
        for lo in range(0, len(anchors), 2048):
            sims = x[clients] @ x[anchors[lo : lo + 2048]].T
            np.maximum(start, sims.max(axis=1), out=start)
    cell_ids = sorted(quota)
    group_of = {cell: g for g, cell in enumerate(cell_ids)}
    groups = np.fromiter((group_of[c] for c in cell_of[cands]), dtype=np.int64, count=len(cands))
    chosen = facility_location(
        x[clients],
        x[cands],
        size,
        client_weight=cw,
        start=start,
        groups=groups,
        quotas=np.array([quota[c] for c in cell_ids], dtype=np.int64),
    )
    picks = np.sort(cands[chosen]).astype(np.int64)
    new = np.zeros(n, dtype=bool)
    new[picks] = True
    reason = _reasons(
        x,
        chosen,
        cands,
        clients,
        cw,
        start,
        cluster,
        s_of,
        names,
        n_s,
        s_quota,
        quota,
        k,
        held_m,
        strata is not None,
    )
    weight = _weights(x, cell_of, new | held_m, s_of, mass_v)
    clusters = [
        {
            "cluster": int(c),
            "size": int((cluster == c).sum()),
            "records": round(float(mass_v[cluster == c].sum())),
            "picked": int((cluster[new] == c).sum()),
            "held": int((cluster[held_m] == c).sum()),
        }
        for c in range(k)
    ]
    strata_rows = (
        [
            {
                "stratum": name,
                "size": int(n_s[s]),
                "picked": int((s_of[new] == s).sum()),
                "held": int((s_of[held_m] == s).sum()),
            }
            for s, name in enumerate(names)
        ]
        if strata is not None
        else []
    )
    return SampleResult(picks, cluster, weight, reason, k, clusters, strata_rows)


def sample_without_close_pairs(
    x: np.ndarray,
    size: int,
    *,
    threshold: float,
    seed: int,
    held: np.ndarray,
    pickable: np.ndarray,
    strata: Sequence[str] | None = None,
    min_per_stratum: int = 1,
    k: int | None = None,
    mass: np.ndarray | None = None,
) -> tuple[SampleResult, int]:
    """:func:`representative_sample`, then make sure no two sample points are near duplicates.

    The clustered near-duplicate search can miss a pair that straddles cells; an all-pairs
    check over the sample (hundreds of points) catches it, and the sample is drawn again
    (same clusters) without the later pick of each such pair; held points are never dropped.
    Returns the result and how many points were ruled out that way.
    """
    pickable = np.asarray(pickable, dtype=bool).copy()
    cluster = None
    dropped = 0
    for _ in range(10):
        result = representative_sample(
            x,
            size,
            seed=seed,
            held=held,
            pickable=pickable,
            strata=strata,
            min_per_stratum=min_per_stratum,
            k=k,
            mass=mass,
            cluster=cluster,
        )
        cluster = result.cluster
        sample = np.flatnonzero(held | np.isin(np.arange(len(x)), result.picks))
        drop: set[int] = set()
        for i, j in close_pairs(x[sample], threshold):
            a, b = int(sample[i]), int(sample[j])
            if a in drop or b in drop:
                continue
            if not held[b]:
                drop.add(b)
            elif not held[a]:
                drop.add(a)
        if not drop:
            break
        pickable[list(drop)] = False
        dropped += len(drop)
    return result, dropped


def _reasons(
    x: np.ndarray,
    chosen: list[int],
    cands: np.ndarray,
    clients: np.ndarray,
    cw: np.ndarray,
    start: np.ndarray | None,
    cluster: np.ndarray,
    s_of: np.ndarray,
    names: list[str],
    n_s: np.ndarray,
    s_quota: np.ndarray,
    quota: dict[int, int],
    k: int,
    held_m: np.ndarray,
    stratified: bool,
) -> dict[int, str]:
    """One sentence per pick: its cluster, its place in the greedy, the records it covers."""
    order = [int(cands[j]) for j in chosen]
    if not order:
        return {}
    sims = x[clients] @ x[order].T
    best = sims.argmax(axis=1)
    own = sims[np.arange(len(clients)), best] > (start if start is not None else -np.inf)
    covers = np.bincount(best[own], weights=cw[own], minlength=len(order))
    sizes = np.bincount(cluster, minlength=k)
    out: dict[int, str] = {}
    for r, i in enumerate(order):
        c, s = int(cluster[i]), int(s_of[i])
        held_c = int((held_m & (cluster == c)).sum())
        why = (
            f"cluster {c} ({int(sizes[c])} records, {quota[s * k + c]} new pick(s)"
            + (f", {held_c} already in the benchmark" if held_c else "")
            + f"): facility-location pick {r + 1} of {len(order)}, the nearest pick for "
            f"~{round(float(covers[r]))} records"
        )
        if stratified:
            why += f"; stratum {names[s]!r} ({int(n_s[s])} records, {int(s_quota[s])} new pick(s))"
        out[i] = why
    return out


def _weights(
    x: np.ndarray, cell_of: np.ndarray, sample: np.ndarray, s_of: np.ndarray, mass_v: np.ndarray
) -> np.ndarray:
    """Records per cell over sample points per cell; pick-less cells go to the nearest pick."""
    cells, inverse = np.unique(cell_of, return_inverse=True)
    mass = np.bincount(inverse, weights=mass_v)
    picks = np.bincount(inverse[sample], minlength=len(cells))
    weight = np.zeros(len(x), dtype=np.float64)
    pts = np.flatnonzero(sample)
    if len(pts) == 0:
        return weight
    for cell in np.flatnonzero(picks == 0):
        members = np.flatnonzero(inverse == cell)
        centre = x[members].mean(axis=0)
        same = pts[s_of[pts] == s_of[members[0]]]
        pool = same if len(same) else pts
        target = int(pool[int(np.argmax(x[pool] @ centre))])
        mass[inverse[target]] += mass[cell]
        mass[cell] = 0.0
    has = picks > 0
    per = np.zeros(len(cells))
    per[has] = mass[has] / picks[has]
    weight[pts] = per[inverse[pts]]
    assert math.isclose(weight.sum(), mass_v.sum(), rel_tol=1e-9)
    return weight
