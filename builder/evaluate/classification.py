"""Single-label classification: accuracy, macro F1, per-label scores and the confusion matrix.

Matches scikit-learn (``accuracy_score``, ``f1_score(average="macro")``,
``precision_recall_fscore_support`` and ``confusion_matrix`` with ``zero_division=0``,
``sample_weight`` semantics included); conventions in :mod:`builder.evaluate.scoring`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

from builder.evaluate._common import (
    FloatArray,
    IntArray,
    check_pair,
    check_weights,
    div,
    number,
    per_label,
    ratio,
    universe,
)

__all__ = ["Classification", "classification_metrics"]


class Classification:
    """Gold and predicted label codes; column ``k`` of the confusion is a missing prediction."""

    names: tuple[str, ...] = ("accuracy", "macro_f1")

    def __init__(self, labels: list[Hashable], g: IntArray, p: IntArray) -> None:
        self.universe, self.g, self.p, self.n = labels, g, p, len(g)
        k = len(labels)
        self.codes = g * (k + 1) + p  # column k is the missing prediction
        self.cells = max(self.n, k * (k + 1)) * 2

    @classmethod
    def encode(
        cls, gold: Sequence[Hashable], pred: Sequence[Hashable | None], labels: Iterable[Hashable]
    ) -> Classification:
        """Encode labels; ValueError for mismatched lengths, no items or a None gold label."""
        check_pair(gold, pred)
        if any(x is None for x in gold):
            raise ValueError("gold contains None; every gold item needs a label")
        known = universe(labels, [*gold, *pred])
        index = {label: i for i, label in enumerate(known)}
        g = np.fromiter((index[x] for x in gold), dtype=np.intp, count=len(gold))
        k = len(known)
        p = np.fromiter((k if x is None else index[x] for x in pred), np.intp, count=len(pred))
        return cls(known, g, p)

    def take(self, rows: IntArray) -> Classification:
        return Classification(self.universe, self.g[rows], self.p[rows])

    def _confusion(self, idx: IntArray, w: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        """Weighted confusion (B, k, k+1) and the unweighted one that decides presence."""
        b, k = idx.shape[0], len(self.universe)
        size = k * (k + 1)
        codes = (self.codes[idx] + (np.arange(b) * size)[:, None]).ravel()
        counts = np.bincount(codes, minlength=b * size).astype(np.float64).reshape(b, k, k + 1)
        if w is None:
            return counts, counts
        weighted = np.bincount(codes, weights=w[idx].ravel(), minlength=b * size)
        return weighted.astype(np.float64, copy=False).reshape(b, k, k + 1), counts

    @staticmethod
    def _prf(conf: FloatArray, counts: FloatArray) -> dict[str, FloatArray]:
        k = conf.shape[1]
        tp = np.diagonal(conf, axis1=1, axis2=2)
        support, predicted = conf.sum(axis=2), conf[:, :, :k].sum(axis=1)
        present = (counts.sum(axis=2) > 0) | (counts[:, :, :k].sum(axis=1) > 0)
        f1 = div(2 * tp, support + predicted)
        return {
            "precision": div(tp, predicted),
            "recall": div(tp, support),
            "f1": f1,
            "support": support,
            "accuracy": ratio(tp.sum(axis=1), support.sum(axis=1)),
            "macro_f1": div((f1 * present).sum(axis=1), present.sum(axis=1).astype(np.float64)),
        }

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        prf = self._prf(*self._confusion(idx, w))
        return np.stack([prf[name] for name in self.names], axis=1)

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        conf, counts = self._confusion(np.arange(self.n)[None, :], w)
        prf = self._prf(conf, counts)
        weighted = w is not None
        k = len(self.universe)
        return {
            "n": self.n,
            "accuracy": float(prf["accuracy"][0]),
            "macro_f1": float(prf["macro_f1"][0]),
            "per_label": per_label(self.universe, prf, weighted),
            "confusion": {
                "labels": list(self.universe),
                "matrix": [[number(x, weighted) for x in row[:k]] for row in conf[0]],
            },
            "missing": int(np.count_nonzero(self.p == k)),
        }


def classification_metrics(
    gold: Sequence[str],
    pred: Sequence[str | None],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Single-label metrics: ``n``, ``accuracy``, ``macro_f1``, ``per_label``, ``confusion``,
    ``missing``.

    ``gold`` and ``pred`` hold one label per item (``pred`` None: missing, counted wrong);
    ``weights`` one non-negative weight per item. ``per_label`` maps each label to
    precision, recall, f1 and support (a weighted sum when ``weights`` are given);
    ``confusion`` is ``{"labels", "matrix"}`` with gold in rows and predictions in
    columns, in ``labels`` order (missing predictions appear in no column; ``missing``
    counts them). Raises ValueError for mismatched lengths, no items, None gold labels or
    invalid weights.
    """
    task = Classification.encode(gold, pred, labels)
    return task.details(check_weights(weights, task.n))
