"""Representative sampling: allocation, facility location, determinism, top-up, strata, weights."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.curate.embed import Embedder
from builder.curate.sample import (
    allocate,
    choose_k,
    facility_location,
    representative_sample,
    sample_without_close_pairs,
)


@pytest.fixture(scope="module")
def pool(
    sample_rows: list[dict[str, object]], static: Embedder
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Static embeddings of 800 real descriptions, and their rows."""
    rows = sample_rows[::6][:800]
    return static.encode([str(r["description"]) for r in rows]), rows


def test_allocate_worked_example() -> None:
    # Shares of 10 picks: 5, 3, 1.5, 0.5. Every group gets its one, the rest by largest
    # remainder: the smallest group's 1 is paid by the 1.5 group's remainder.
    assert allocate([50, 30, 15, 5], 10).tolist() == [5, 3, 1, 1]
    assert allocate([50, 30, 15, 5], 100).tolist() == [50, 30, 15, 5]
    assert allocate([50, 30, 15, 5], 500).tolist() == [50, 30, 15, 5]  # capped by size


def test_allocate_small_budget_goes_to_largest_groups() -> None:
    assert allocate([5, 50, 20], 2).tolist() == [0, 1, 1]
    assert allocate([5, 50, 20], 0).tolist() == [0, 0, 0]


def test_allocate_counts_held_picks_and_capacity() -> None:
    # 5 already held in group 0; 5 more make 10, i.e. 5 each: all new ones go to group 1.
    assert allocate([50, 50], 5, held=[5, 0]).tolist() == [0, 5]
    # Group 1 can take only 2 (the rest of it is not pickable): group 0 gets the remainder.
    assert allocate([50, 50], 6, capacity=[50, 2]).tolist() == [4, 2]
    assert allocate([10, 10, 10], 6, minimum=0).tolist() == [2, 2, 2]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=12),
    st.integers(0, 200),
    st.data(),
)
def test_allocate_properties(sizes: list[int], budget: int, data: st.DataObject) -> None:
    held = [data.draw(st.integers(0, s)) for s in sizes]
    cap = [s - h for s, h in zip(sizes, held, strict=True)]
    out = allocate(sizes, budget, held=held)
    assert out.sum() == min(budget, sum(cap))
    assert all(0 <= o <= c for o, c in zip(out, cap, strict=True))
    open_groups = [g for g in range(len(sizes)) if held[g] == 0 and cap[g] > 0]
    if budget >= len(open_groups):
        assert all(out[g] >= 1 for g in open_groups)  # every group that can have one, has one


def _naive_greedy(clients: np.ndarray, cands: np.ndarray, m: int) -> list[int]:
    sims = clients @ cands.T
    cur = np.full(len(clients), -1.0)
    chosen: list[int] = []
    for _ in range(m):
        gains = [
            -np.inf if j in chosen else float(np.maximum(sims[:, j] - cur, 0).sum())
            for j in range(len(cands))
        ]
        j = int(np.argmax(gains))
        chosen.append(j)
        cur = np.maximum(cur, sims[:, j])
    return chosen


def test_lazy_facility_location_equals_plain_greedy(pool: tuple[np.ndarray, list]) -> None:
    x = pool[0][:150]
    assert facility_location(x, x, 12) == _naive_greedy(x, x, 12)


def test_facility_location_respects_quotas(pool: tuple[np.ndarray, list]) -> None:
    x = pool[0][:200]
    groups = np.arange(200) % 3
    chosen = facility_location(x, x, 9, groups=groups, quotas=np.array([5, 0, 4]))
    assert len(chosen) == 9 and len(set(chosen)) == 9
    assert Counter(groups[chosen].tolist()) == {0: 5, 2: 4}


def _coverage(x: np.ndarray, picks: np.ndarray) -> float:
    return float((1 - (x @ x[picks].T).max(axis=1)).mean())


def test_same_seed_same_sample_and_every_cluster_represented(pool: tuple[np.ndarray, list]) -> None:
    x, _ = pool
    a = representative_sample(x, 60, seed=7)
    b = representative_sample(x, 60, seed=7)
    c = representative_sample(x, 60, seed=8)
    assert a.picks.tolist() == b.picks.tolist()
    assert a.picks.tolist() != c.picks.tolist()
    assert len(a.picks) == 60 and len(set(a.picks.tolist())) == 60
    assert a.k == choose_k(len(x), 60) == 20
    assert all(row["picked"] >= 1 for row in a.clusters)  # budget ≥ k: every cluster has one
    assert sum(row["size"] for row in a.clusters) == len(x)
    assert set(a.reason) == set(a.picks.tolist())
    assert all(
        r.startswith("cluster ") and "facility-location pick" in r for r in a.reason.values()
    )


def test_weights_stand_for_the_whole_pool(pool: tuple[np.ndarray, list]) -> None:
    x, _ = pool
    mass = np.ones(len(x))
    mass[::10] = 3  # every tenth record absorbed two duplicates
    res = representative_sample(x, 40, seed=1, k=25, mass=mass)
    assert res.weight.sum() == pytest.approx(mass.sum())
    assert (res.weight[res.picks] > 0).all()
    assert (np.delete(res.weight, res.picks) == 0).all()
    # Cluster by cluster: a pick stands for its cluster's records over the picks there.
    for row in res.clusters:
        members = res.cluster == row["cluster"]
        in_picks = res.picks[members[res.picks]]
        if len(in_picks):
            assert res.weight[in_picks].sum() >= mass[members].sum() - 1e-9


def test_top_up_never_repeats_and_builds_on_held(pool: tuple[np.ndarray, list]) -> None:
    x, _ = pool
    first = representative_sample(x, 30, seed=2)
    held = np.zeros(len(x), dtype=bool)
    held[first.picks] = True
    second = representative_sample(x, 30, seed=2, held=held)
    assert not set(second.picks.tolist()) & set(first.picks.tolist())
    assert len(second.picks) == 30
    both = np.concatenate([first.picks, second.picks])
    assert second.weight[both].sum() == pytest.approx(len(x))
    assert sum(row["held"] for row in second.clusters) == 30
    # Points that may not be picked (e.g. rejected items) are skipped too.
    blocked = np.zeros(len(x), dtype=bool)
    blocked[second.picks] = True
    third = representative_sample(x, 30, seed=2, held=held, pickable=~blocked)
    assert not set(third.picks.tolist()) & set(both.tolist())


def test_strata_get_proportional_quotas_with_a_minimum(pool: tuple[np.ndarray, list]) -> None:
    x, rows = pool
    strata = [str(r["priority"]) for r in rows]
    counts = Counter(strata)
    res = representative_sample(x, 50, seed=3, strata=strata, min_per_stratum=2)
    picked = Counter(strata[i] for i in res.picks)
    assert sum(picked.values()) == 50
    for name, size in counts.items():
        assert picked[name] >= min(2, size)
        # Proportional, up to rounding and the minimums paid by the largest stratum.
        assert abs(picked[name] - 50 * size / len(x)) <= 2 * len(counts)
    assert {row["stratum"] for row in res.strata} == set(counts)


def test_covers_the_pool_better_than_random(pool: tuple[np.ndarray, list]) -> None:
    x, _ = pool
    ours = _coverage(x, representative_sample(x, 50, seed=4).picks)
    rng = np.random.default_rng(4)
    random = np.mean([_coverage(x, rng.choice(len(x), 50, replace=False)) for _ in range(20)])
    assert ours < 0.95 * random


def test_degenerate_inputs() -> None:
    x = np.eye(4, dtype=np.float32)
    res = representative_sample(x, 10, seed=1)  # more asked than there are points
    assert res.picks.tolist() == [0, 1, 2, 3]
    assert res.weight.sum() == pytest.approx(4)
    empty = representative_sample(np.zeros((0, 4), dtype=np.float32), 5)
    assert empty.picks.tolist() == [] and empty.k == 0


def test_no_near_duplicate_pair_survives_in_the_sample(pool: tuple[np.ndarray, list]) -> None:
    """A pair the clustered search missed is caught by the all-pairs check of the sample."""
    x = np.vstack([pool[0][:50], pool[0][:1], pool[0][7:8]])  # two exact copies appended
    held = np.zeros(len(x), dtype=bool)
    held[7] = True  # a held item is never the one dropped
    res, dropped = sample_without_close_pairs(
        x, len(x), threshold=0.999, seed=1, held=held, pickable=~held
    )
    assert dropped == 2
    assert 50 not in res.picks and 51 not in res.picks
    sample = np.concatenate([res.picks, [7]])
    sims = x[sample] @ x[sample].T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.999
