"""Shared pieces of the metric modules: array types, input checks, safe division.

Private to :mod:`builder.evaluate`; the conventions they implement are documented once
in :mod:`builder.evaluate.scoring`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "IntArray",
    "Task",
    "check_pair",
    "check_weights",
    "div",
    "mean_stats",
    "number",
    "per_label",
    "ratio",
    "universe",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def check_pair(gold: Sequence[Any], pred: Sequence[Any]) -> int:
    """The item count; ValueError when ``gold`` and ``pred`` differ in length or are empty."""
    if len(gold) != len(pred):
        raise ValueError(
            f"gold has {len(gold)} items but pred has {len(pred)}; "
            "give one prediction per gold item (None for a missing one)"
        )
    if len(gold) == 0:
        raise ValueError("gold and pred are empty; there is nothing to score")
    return len(gold)


def check_weights(weights: Sequence[float] | npt.ArrayLike | None, n: int) -> FloatArray | None:
    """Per-item weights as float64, shape (n,); ValueError unless finite, >= 0, sum > 0."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights has shape {w.shape} for {n} items; give one weight per item")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0; fix the negative or NaN weights")
    if w.sum() <= 0:
        raise ValueError("weights sum to 0; at least one item needs a positive weight")
    return w


def universe(labels: Iterable[Hashable], seen: Iterable[Hashable]) -> list[Hashable]:
    """``labels`` in order, then any other label seen (None excluded), sorted by str."""
    known = list(dict.fromkeys(labels))
    extra = set(seen) - set(known) - {None}
    return known + sorted(extra, key=str)


def div(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den, and 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den, and NaN where den is 0 (a resample whose items all weigh 0)."""
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def number(x: float, weighted: bool) -> float | int:
    """A count: float when weighted (a sum of weights), else int."""
    return float(x) if weighted else round(float(x))


def per_label(
    labels: list[Hashable], scores: dict[str, FloatArray], weighted: bool
) -> dict[Hashable, dict[str, float | int]]:
    """label → precision, recall, f1, support, from row 0 of (B, k) score arrays."""
    return {
        label: {
            "precision": float(scores["precision"][0, i]),
            "recall": float(scores["recall"][0, i]),
            "f1": float(scores["f1"][0, i]),
            "support": number(scores["support"][0, i], weighted),
        }
        for i, label in enumerate(labels)
    }


def mean_stats(values: FloatArray, idx: IntArray, w: FloatArray | None) -> FloatArray:
    """Means of the columns of ``values`` (n, m) over each row of ``idx`` (B, n): (B, m)."""
    picked = values[idx]
    if w is None:
        return picked.mean(axis=1)
    ww = w[idx][:, :, None]
    return ratio((picked * ww).sum(axis=1), ww.sum(axis=1))


class Task(Protocol):
    """An encoded task: what scoring and the bootstrap need from each task family."""

    names: tuple[str, ...]
    n: int
    cells: int  # elements one resample materialises, to size resample blocks

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        """Headline metrics, shape (B, len(names)), for each row of item indices."""
        ...

    def take(self, rows: IntArray) -> Task:
        """The task restricted to the given items."""
        ...

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        """Headline metrics plus per-label detail on all items."""
        ...
