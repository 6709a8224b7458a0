"""Label sets: micro and macro F1, exact match (subset accuracy) and per-label scores.

Matches scikit-learn (``f1_score(average="micro"|"macro")`` on binarised label sets,
``accuracy_score`` for the subset accuracy, ``zero_division=0``, ``sample_weight``
semantics); conventions in :mod:`builder.evaluate.scoring`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from builder.evaluate._common import (
    FloatArray,
    IntArray,
    check_pair,
    check_weights,
    div,
    per_label,
    ratio,
    universe,
)

__all__ = ["Multilabel", "multilabel_metrics"]


class Multilabel:
    """Binarised gold and predicted label sets, (n, k) each, and which predictions are missing."""

    names: tuple[str, ...] = ("micro_f1", "macro_f1", "exact_match")

    def __init__(
        self,
        labels: list[Hashable],
        gold: npt.NDArray[np.bool_],
        pred: npt.NDArray[np.bool_],
        missing: npt.NDArray[np.bool_],
    ) -> None:
        self.universe, self.gold, self.pred, self.missing = labels, gold, pred, missing
        self.n = len(gold)
        exact = (gold == pred).all(axis=1) & ~missing
        # Per-item tp | fp | fn per label, then exact: a resample's totals are one matmul.
        self.features = np.hstack([gold & pred, ~gold & pred, gold & ~pred, exact[:, None]]).astype(
            np.float64
        )
        self.occurs = (gold | pred).astype(np.float64)
        self.cells = self.n * 2

    @classmethod
    def encode(
        cls,
        gold: Sequence[Collection[Hashable]],
        pred: Sequence[Collection[Hashable] | None],
        labels: Iterable[Hashable],
    ) -> Multilabel:
        """Binarise; ValueError for a bare string, a None gold set, or mismatched lengths."""
        n = check_pair(gold, pred)
        for name, column in (("gold", gold), ("pred", pred)):
            for i, x in enumerate(column):
                if isinstance(x, str) or (x is None and name == "gold"):
                    raise ValueError(
                        f"{name}[{i}] is {x!r}; give each item a collection of labels "
                        "(a list or set, [] for none)"
                    )
        known = universe(labels, (x for item in [*gold, *pred] if item for x in item))
        index = {label: i for i, label in enumerate(known)}
        g = np.zeros((n, len(known)), dtype=bool)
        p = np.zeros_like(g)
        for i, (gs, ps) in enumerate(zip(gold, pred, strict=True)):
            g[i, [index[x] for x in gs]] = True
            p[i, [index[x] for x in ps or ()]] = True
        missing = np.fromiter((x is None for x in pred), dtype=bool, count=n)
        return cls(known, g, p, missing)

    def take(self, rows: IntArray) -> Multilabel:
        return Multilabel(self.universe, self.gold[rows], self.pred[rows], self.missing[rows])

    def _scores(self, idx: IntArray, w: FloatArray | None) -> dict[str, FloatArray]:
        b, n, k = idx.shape[0], self.n, len(self.universe)
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        mult = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        mult_w = mult if w is None else mult * w
        sums = mult_w @ self.features
        tp, fp, fn = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k]
        present = (mult @ self.occurs) > 0
        f1 = div(2 * tp, 2 * tp + fp + fn)
        tp_all = tp.sum(axis=1)
        return {
            "precision": div(tp, tp + fp),
            "recall": div(tp, tp + fn),
            "f1": f1,
            "support": tp + fn,
            "micro_f1": div(2 * tp_all, 2 * tp_all + fp.sum(axis=1) + fn.sum(axis=1)),
            "macro_f1": div((f1 * present).sum(axis=1), present.sum(axis=1).astype(np.float64)),
            "exact_match": ratio(sums[:, 3 * k], mult_w.sum(axis=1)),
        }

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        scores = self._scores(idx, w)
        return np.stack([scores[name] for name in self.names], axis=1)

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        s = self._scores(np.arange(self.n)[None, :], w)
        return {
            "n": self.n,
            **{name: float(s[name][0]) for name in self.names},
            "per_label": per_label(self.universe, s, w is not None),
            "missing": int(self.missing.sum()),
        }


def multilabel_metrics(
    gold: Sequence[Collection[str]],
    pred: Sequence[Collection[str] | None],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Label-set metrics: ``n``, ``micro_f1``, ``macro_f1``, ``exact_match`` (subset
    accuracy), ``per_label``, ``missing``.

    Each item's gold and prediction are collections of labels (``pred`` None: missing,
    predicts no label and never matches exactly). Raises ValueError for a bare string
    instead of a collection, mismatched lengths, no items or invalid weights.
    """
    task = Multilabel.encode(gold, pred, labels)
    return task.details(check_weights(weights, task.n))
