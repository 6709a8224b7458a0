"""Deterministic split assignment: a hash of the item's id and the benchmark name.

No shuffle: an item's split depends on nothing but its own id, the benchmark name and
the split shares, so adding or removing other items never moves it. On top of that a
release pins every item to the split it had in the newest earlier release, so even a
change of shares in the spec only affects items that were never released.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from builder.errors import ReleaseError

__all__ = ["HOLDOUT_SPLIT", "assign_split", "assign_splits", "split_point"]

HOLDOUT_SPLIT = "holdout"
"""Name of the private holdout split (part of ``test``, only in the private registry)."""


def split_point(benchmark: str, item_id: str) -> float:
    """A uniform number in [0, 1) fixed by the benchmark name and the item id."""
    digest = hashlib.sha256(f"{benchmark}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _check(shares: Mapping[str, float], private_holdout: float) -> None:
    if not shares or abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ReleaseError(
            f"release.splits {dict(shares)} must be non-empty and sum to 1; fix the spec"
        )
    if HOLDOUT_SPLIT in shares:
        raise ReleaseError(
            f"release.splits may not name a split {HOLDOUT_SPLIT!r}; that name is reserved "
            "for the private holdout (use release.private_holdout instead)"
        )
    if not 0 <= private_holdout < 1:
        raise ReleaseError(f"release.private_holdout {private_holdout} must be in [0, 1)")
    if private_holdout > 0 and "test" not in shares:
        raise ReleaseError(
            "release.private_holdout takes a share of the test split, but release.splits has "
            f"no 'test' (it has {sorted(shares)}); add a test split or set private_holdout: 0"
        )


def assign_split(
    benchmark: str, item_id: str, shares: Mapping[str, float], private_holdout: float = 0.0
) -> str:
    """The split of one item: shares are laid out on [0, 1) in sorted name order.

    Sorted, not the spec's order: reformatting the YAML (which may reorder keys) must
    not move anything.

    With ``private_holdout`` > 0, the first ``private_holdout`` share of the ``test``
    interval becomes :data:`HOLDOUT_SPLIT`.
    """
    _check(shares, private_holdout)
    return _split(benchmark, item_id, shares, sorted(shares), private_holdout)


def _split(
    benchmark: str,
    item_id: str,
    shares: Mapping[str, float],
    names: list[str],
    private_holdout: float,
) -> str:
    u = split_point(benchmark, item_id)
    start = 0.0
    for name in names:
        end = start + shares[name]
        if u < end or name == names[-1]:
            if (
                name == "test"
                and private_holdout > 0
                and (u - start) < shares[name] * private_holdout
            ):
                return HOLDOUT_SPLIT
            return name
        start = end
    raise AssertionError("unreachable")  # pragma: no cover


def assign_splits(
    benchmark: str,
    item_ids: Iterable[str],
    shares: Mapping[str, float],
    private_holdout: float = 0.0,
    *,
    pinned: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """item id → split; ``pinned`` (id → split of an earlier release) wins over the hash."""
    _check(shares, private_holdout)
    pins = pinned or {}
    names = sorted(shares)
    return {
        i: pins[i] if i in pins else _split(benchmark, i, shares, names, private_holdout)
        for i in item_ids
    }
