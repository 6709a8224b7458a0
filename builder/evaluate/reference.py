"""Reference answers: exact match and token F1 after answer normalisation (SQuAD's metrics).

Both compare :func:`builder.answers.normalize_reference_answer` forms, the same rule
review uses to decide whether two annotators agree. Formulas: SQuAD v1.1's official
evaluation script (Rajpurkar et al. 2016), with SQuAD v2's rule for empty answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from builder.answers import normalize_reference_answer
from builder.answers import token_f1 as pair_token_f1
from builder.evaluate._common import (
    FloatArray,
    IntArray,
    check_pair,
    check_weights,
    mean_stats,
)

__all__ = ["Reference", "exact_match", "reference_metrics", "token_f1"]


def _answers(gold: str | Sequence[str]) -> list[str]:
    answers = [gold] if isinstance(gold, str) else list(gold)
    if not answers:
        raise ValueError("a gold item has no acceptable answer; give at least one string")
    return answers


def exact_match(gold: str | Sequence[str], pred: str | None) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0.

    ``gold`` is one answer or a list of acceptable ones (the best match counts); ``pred``
    None (missing) scores 0.0. Raises ValueError for an empty list of gold answers.
    """
    if pred is None:
        return 0.0
    guess = normalize_reference_answer(pred)
    return float(any(normalize_reference_answer(g) == guess for g in _answers(gold)))


def token_f1(gold: str | Sequence[str], pred: str | None) -> float:
    """SQuAD token-overlap F1 in [0, 1] between the prediction and the best-matching gold
    answer: F1 = 2PR / (P + R) over the multiset of normalised tokens in common.

    ``pred`` None scores 0.0. Raises ValueError for an empty list of gold answers.
    """
    if pred is None:
        return 0.0
    return max(pair_token_f1(g, pred) for g in _answers(gold))


class Reference:
    """Per-item exact match and token F1, (n, 2), and which predictions are missing."""

    names: tuple[str, ...] = ("exact_match", "token_f1")

    def __init__(self, values: FloatArray, missing: npt.NDArray[np.bool_]) -> None:
        self.values, self.missing, self.n = values, missing, len(values)
        self.cells = self.n * 4

    @classmethod
    def encode(cls, gold: Sequence[str | Sequence[str]], pred: Sequence[str | None]) -> Reference:
        """Score every item once; ValueError for mismatched lengths or no items."""
        check_pair(gold, pred)
        values = np.array(
            [[exact_match(g, p), token_f1(g, p)] for g, p in zip(gold, pred, strict=True)]
        )
        missing = np.fromiter((p is None for p in pred), dtype=bool, count=len(pred))
        return cls(values.reshape(-1, 2), missing)

    def take(self, rows: IntArray) -> Reference:
        return Reference(self.values[rows], self.missing[rows])

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        return mean_stats(self.values, idx, w)

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        point = mean_stats(self.values, np.arange(self.n)[None, :], w)[0]
        return {
            "n": self.n,
            **dict(zip(self.names, map(float, point), strict=True)),
            "missing": int(self.missing.sum()),
        }


def reference_metrics(
    gold: Sequence[str | Sequence[str]],
    pred: Sequence[str | None],
    weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """``n``, mean ``exact_match`` and ``token_f1`` (weighted means when ``weights`` are
    given), ``missing``. Each gold item is an answer or a list of acceptable answers."""
    task = Reference.encode(gold, pred)
    return task.details(check_weights(weights, task.n))
