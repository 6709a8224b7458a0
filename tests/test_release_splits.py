"""Split assignment properties (hypothesis): deterministic, per item, stable, pinned."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ReleaseError
from builder.release.splits import HOLDOUT_SPLIT, assign_split, assign_splits, split_point

ids = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=60, unique=True)


@st.composite
def shares(draw: st.DrawFn) -> dict[str, float]:
    names = draw(
        st.lists(
            st.sampled_from(["test", "dev", "train", "val"]), min_size=1, max_size=4, unique=True
        )
    )
    if "test" not in names:
        names.append("test")
    weights = [draw(st.integers(1, 10)) for _ in names]
    return {n: w / sum(weights) for n, w in zip(names, weights, strict=True)}


@given(ids, st.data(), shares(), st.sampled_from([0.0, 0.25, 0.5]))
def test_an_items_split_ignores_every_other_item(
    items: list[str], data: st.DataObject, sh: dict[str, float], holdout: float
) -> None:
    everything = assign_splits("bench", items, sh, holdout)
    subset = data.draw(st.lists(st.sampled_from(items), unique=True))
    assert assign_splits("bench", subset, sh, holdout) == {i: everything[i] for i in subset}
    # Order of the spec's keys never matters either.
    reordered = dict(reversed(list(sh.items())))
    assert assign_splits("bench", items, reordered, holdout) == everything
    assert set(everything.values()) <= {*sh, HOLDOUT_SPLIT}


@given(ids, shares(), st.sampled_from([0.1, 0.5, 0.9]))
def test_holdout_is_carved_out_of_test_only(
    items: list[str], sh: dict[str, float], holdout: float
) -> None:
    plain = assign_splits("bench", items, sh)
    held = assign_splits("bench", items, sh, holdout)
    for i in items:
        if held[i] == HOLDOUT_SPLIT:
            assert plain[i] == "test"
        else:
            assert held[i] == plain[i]


@given(ids, shares(), st.data())
def test_pins_from_earlier_releases_win(
    items: list[str], sh: dict[str, float], data: st.DataObject
) -> None:
    pinned = data.draw(
        st.dictionaries(st.sampled_from(items), st.sampled_from(["test", "dev", HOLDOUT_SPLIT]))
    )
    got = assign_splits("bench", items, sh, pinned=pinned)
    for i in items:
        assert got[i] == pinned.get(i, assign_split("bench", i, sh))


@given(st.text(min_size=1), st.text(min_size=1))
def test_split_point_depends_on_benchmark_and_id(bench: str, item: str) -> None:
    u = split_point(bench, item)
    assert 0 <= u < 1 and u == split_point(bench, item)


@settings(max_examples=5, deadline=None)
@given(st.sampled_from([{"test": 0.8, "dev": 0.2}, {"test": 0.5, "dev": 0.3, "train": 0.2}]))
def test_shares_are_respected_on_many_items(sh: dict[str, float]) -> None:
    n = 20_000
    got = assign_splits("bench", [f"item-{i}" for i in range(n)], sh, 0.25)
    for name, share in sh.items():
        count = sum(v == name for v in got.values()) + (
            sum(v == HOLDOUT_SPLIT for v in got.values()) if name == "test" else 0
        )
        assert abs(count / n - share) < 0.02
    assert abs(sum(v == HOLDOUT_SPLIT for v in got.values()) / n - sh["test"] * 0.25) < 0.02


def test_bad_shares_are_refused() -> None:
    with pytest.raises(ReleaseError, match=r"must be non-empty and sum to 1"):
        assign_split("b", "x", {"test": 0.5})
    with pytest.raises(ReleaseError, match=r"may not name a split 'holdout'"):
        assign_split("b", "x", {"test": 0.5, "holdout": 0.5})
    with pytest.raises(ReleaseError, match=r"has no 'test' \(it has \['dev'\]\)"):
        assign_split("b", "x", {"dev": 1.0}, 0.1)
