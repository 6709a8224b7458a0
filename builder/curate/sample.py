"""Representative sampling: k-means cells, proportional allocation, facility location inside.

1. Cluster the eligible pool with k-means (``k`` from :func:`choose_k` unless given).
2. Give the budget to strata (when a strata field is set: proportional with a minimum), then
   inside each stratum to its clusters in proportion to their size, with at least one pick
   for every cluster that can have one (:func:`allocate`, largest remainder).
3. Inside each (stratum, cluster) cell pick items greedily by *facility location*
   (:func:`facility_location`): each pick is the member that most raises the summed
   similarity of every member to its nearest pick, i.e. that best lowers the mean cosine
   distance from the cell's records to the sample. Unlike farthest-point picking it does not
   chase outliers, so the sample keeps the pool's mix.
4. Every pick gets an inclusion weight: the records of its cell divided by the picks there
   (cells left without a pick hand their records to the cell of the nearest pick), so the
   weights of the whole sample add up to the eligible pool size and a score averaged with
   them estimates the score on the whole pool.

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

from builder.curate.dedup import kmeans_centroids, nearest_centroids

__all__ = ["SampleResult", "allocate", "choose_k", "facility_location", "representative_sample"]

MAX_CLIENTS = 8192
"""Members a cell's greedy scores coverage on (a seeded subsample beyond that)."""
MAX_CANDIDATES = 2048
"""Members a cell's greedy may pick from (a seeded subsample beyond that)."""


def choose_k(n_points: int, sample_size: int, per_cluster: float = 3.0) -> int:
    """Number of k-means clusters for a sample of ``sample_size`` from ``n_points`` points.

    About ``per_cluster`` picks per cluster: enough clusters that every region of the pool is
    represented, few enough that proportional allocation inside each stays faithful to the
    pool's mix (the trade-off is measured in ``benchmarks/sampling_quality.py``).
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
    start: np.ndarray | None = None,
    client_weight: np.ndarray | None = None,
) -> tuple[list[int], np.ndarray]:
    """Greedy facility location: ``m`` candidate indices maximising Σ_client w · max_pick cos.

    ``start`` is each client's similarity to what is already chosen (−1: nothing yet);
    ``client_weight`` how many records each client stands for (default 1). Returns the picks
    in order and, per client, the index (into the picks) of its nearest pick, or −1.
    """
    sims = clients @ candidates.T
    w = np.ones(len(clients), dtype=np.float32) if client_weight is None else client_weight
    cur = np.full(len(clients), -1.0, dtype=np.float32) if start is None else start.copy()
    chosen: list[int] = []
    taken = np.zeros(len(candidates), dtype=bool)
    for _ in range(min(m, len(candidates))):
        gain = w @ np.maximum(sims - cur[:, None], 0.0)
        gain[taken] = -1.0
        j = int(np.argmax(gain))  # first index on a tie
        chosen.append(j)
        taken[j] = True
        np.maximum(cur, sims[:, j], out=cur)
    nearest = np.full(len(clients), -1, dtype=np.int64)
    if chosen:
        picked = sims[:, chosen]
        best = picked.argmax(axis=1)
        better = picked[np.arange(len(clients)), best] >= (
            start if start is not None else np.full(len(clients), -np.inf)
        )
        nearest[better] = best[better]
    return chosen, nearest


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


def _subsample(idx: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return idx if len(idx) <= limit else np.sort(rng.choice(idx, limit, replace=False))


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
) -> SampleResult:
    """Pick ``size`` new points of the unit vectors ``x`` that represent them (see module doc).

    ``held``: mask of points already in the sample (earlier items); ``pickable``: mask of points
    that may be picked (default: not held); ``strata``: a stratum label per point; ``mass``: how
    many pool records each point stands for (itself plus the duplicates removed in its favour;
    default 1). Allocation, coverage and weights all count records by mass, so removing
    duplicates does not skew the sample's mix away from the pool's.
    """
    n = len(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    mass_v = np.ones(n, dtype=np.float64) if mass is None else np.asarray(mass, dtype=np.float64)
    held_m = np.zeros(n, dtype=bool) if held is None else np.asarray(held, dtype=bool)
    pick_m = ~held_m if pickable is None else np.asarray(pickable, dtype=bool) & ~held_m
    size = int(min(max(size, 0), pick_m.sum()))
    rng = np.random.default_rng(seed)
    total = int(held_m.sum()) + size
    k = max(1, min(n, k or choose_k(n, total))) if n else 1
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SampleResult(empty, empty, np.zeros(0), {}, 0)
    raw = nearest_centroids(x, kmeans_centroids(x, k, seed=seed))[:, 0]
    # Renumber clusters by size (largest first, then old id) so numbers read naturally.
    counts = np.bincount(raw, minlength=k)
    rank = np.empty(k, dtype=np.int64)
    rank[sorted(range(k), key=lambda c: (-counts[c], c))] = np.arange(k)
    cluster = rank[raw]
    labels = np.asarray(["" for _ in range(n)] if strata is None else list(strata), dtype=object)
    names = sorted(set(labels.tolist()))
    index = {name: i for i, name in enumerate(names)}
    s_of = np.fromiter((index[v] for v in labels), dtype=np.int64, count=n)
    n_s = np.bincount(s_of, weights=mass_v, minlength=len(names))
    quota = allocate(
        n_s,
        size,
        held=np.bincount(s_of[held_m], minlength=len(names)),
        capacity=np.bincount(s_of[pick_m], minlength=len(names)),
        minimum=min_per_stratum if strata is not None else 0,
    )
    new = np.zeros(n, dtype=bool)
    reason: dict[int, str] = {}
    cell_of = s_of * k + cluster
    for s, name in enumerate(names):
        in_s = s_of == s
        n_c = np.bincount(cluster[in_s], weights=mass_v[in_s], minlength=k)
        alloc = allocate(
            n_c,
            int(quota[s]),
            held=np.bincount(cluster[in_s & held_m], minlength=k),
            capacity=np.bincount(cluster[in_s & pick_m], minlength=k),
        )
        for c in np.flatnonzero(alloc):
            members = np.flatnonzero(cell_of == s * k + c)
            clients = _subsample(members, MAX_CLIENTS, rng)
            cands = _subsample(members[pick_m[members]], MAX_CANDIDATES, rng)
            anchors = members[held_m[members]]
            start = None
            if len(anchors):
                start = (x[clients] @ x[anchors].T).max(axis=1)
            cw = mass_v[clients].astype(np.float32)
            chosen, nearest = facility_location(
                x[clients], x[cands], int(alloc[c]), start=start, client_weight=cw
            )
            scale = mass_v[members].sum() / cw.sum()
            for r, j in enumerate(chosen):
                i = int(cands[j])
                new[i] = True
                covers = round(float(cw[nearest == r].sum()) * scale)
                why = (
                    f"cluster {int(c)} ({round(n_c[c])} records, {int(alloc[c])} picked"
                    + (f", {len(anchors)} already in the benchmark" if len(anchors) else "")
                    + f"): facility-location pick {r + 1} of {int(alloc[c])}, "
                    f"the nearest pick for ~{covers} of its records"
                )
                if strata is not None:
                    why += f"; stratum {name!r} ({round(n_s[s])} records, {int(quota[s])} picked)"
                reason[i] = why
    weight = _weights(x, cell_of, new | held_m, s_of, mass_v)
    picks = np.flatnonzero(new)
    clusters = [
        {
            "cluster": int(c),
            "size": round(float(mass_v[cluster == c].sum())),
            "picked": int((cluster[new] == c).sum()),
            "held": int((cluster[held_m] == c).sum()),
        }
        for c in range(k)
    ]
    strata_rows = (
        [
            {
                "stratum": name,
                "size": round(float(n_s[s])),
                "picked": int((s_of[new] == s).sum()),
                "held": int((s_of[held_m] == s).sum()),
            }
            for s, name in enumerate(names)
        ]
        if strata is not None
        else []
    )
    return SampleResult(picks, cluster, weight, reason, k, clusters, strata_rows)


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
