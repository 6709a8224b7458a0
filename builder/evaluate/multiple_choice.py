"""Multiple choice: accuracy over choice letters, plus per-position (letter) bias.

Gold and predictions are choice letters ``A``–``J`` (:mod:`builder.choices`; the runner
turns indices and choice texts into letters first). Accuracy is single-label accuracy
(:class:`~builder.evaluate.classification.Classification`, scikit-learn's
``accuracy_score`` with ``sample_weight``); its bootstrap CI comes from
:func:`builder.evaluate.scoring.score`. A missing prediction counts as wrong.

Position bias (as in Zheng et al. 2024, "Large Language Models Are Not Robust Multiple
Choice Selectors"): for each letter, the share of the model's (non-missing) predictions
that pick it against the share of gold answers that are it; a model that prefers "A"
shows ``predicted > gold`` for A.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from builder.choices import LETTERS
from builder.evaluate._common import FloatArray, IntArray, check_pair, check_weights
from builder.evaluate.classification import Classification

__all__ = ["MultipleChoice", "multiple_choice_metrics", "position_bias"]


def position_bias(gold: Sequence[str], pred: Sequence[str | None]) -> dict[str, dict[str, float]]:
    """letter → ``{"predicted": share, "gold": share, "difference": predicted - gold}``.

    Shares are fractions in [0, 1]: ``predicted`` over the non-missing predictions (0 for
    every letter when all are missing), ``gold`` over all items. Letters run from ``A``
    to the last letter seen in gold or predictions. Raises ValueError for mismatched
    lengths or no items.
    """
    n = check_pair(gold, pred)
    given = [p for p in pred if p is not None]
    seen = [x for x in [*gold, *given] if x in LETTERS]
    last = max((LETTERS.index(x) for x in seen), default=0)
    pc, gc = Counter(given), Counter(gold)
    out = {}
    for letter in LETTERS[: last + 1]:
        p = pc[letter] / len(given) if given else 0.0
        g = gc[letter] / n
        out[letter] = {"predicted": p, "gold": g, "difference": p - g}
    return out


class MultipleChoice:
    """Encoded letters; the headline metric is accuracy (``names``)."""

    names: tuple[str, ...] = ("accuracy",)

    def __init__(self, inner: Classification, gold: list[str], pred: list[str | None]) -> None:
        self.inner, self.gold, self.pred = inner, gold, pred
        self.n, self.cells = inner.n, inner.cells

    @classmethod
    def encode(cls, gold: Sequence[str], pred: Sequence[str | None]) -> MultipleChoice:
        """ValueError for mismatched lengths, no items or a gold value that is no letter."""
        check_pair(gold, pred)
        bad = sorted({str(g) for g in gold if g not in LETTERS})
        if bad:
            raise ValueError(f"gold holds {bad}, which are not choice letters A–J")
        return cls(Classification.encode(gold, pred, LETTERS), list(gold), list(pred))

    def take(self, rows: IntArray) -> MultipleChoice:
        return MultipleChoice(
            self.inner.take(rows), [self.gold[i] for i in rows], [self.pred[i] for i in rows]
        )

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        return self.inner.stats(idx, w)[:, :1]  # column 0 is accuracy

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        acc = float(self.stats(np.arange(self.n)[None, :], w)[0, 0])
        return {
            "n": self.n,
            "accuracy": acc,
            "position_bias": position_bias(self.gold, self.pred),
            "missing": sum(p is None for p in self.pred),
        }


def multiple_choice_metrics(
    gold: Sequence[str], pred: Sequence[str | None], weights: Sequence[float] | None = None
) -> dict[str, Any]:
    """``n``, ``accuracy`` (weighted when ``weights`` are given), ``position_bias`` (see
    :func:`position_bias`) and ``missing`` for letter answers. Raises ValueError for
    mismatched lengths, no items, gold that is not a letter, or invalid weights."""
    task = MultipleChoice.encode(gold, pred)
    return task.details(check_weights(weights, task.n))
