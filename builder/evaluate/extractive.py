"""Extractive answers: SQuAD v2 exact match and F1 with no-answer handling.

The official ``evaluate-v2.0.py`` (Rajpurkar, Jia & Liang 2018, "Know What You Don't Know")
algorithm, per question:

* gold answers = the gold texts whose normalised form is non-empty; none → ``[""]``
  (an unanswerable question's only answer is the empty string);
* exact = max over gold answers of ``normalize(gold) == normalize(pred)``;
* F1 = max over gold answers of token F1, where an empty token list on either side
  scores 1 only when both are empty (:func:`builder.spans.token_f1`);
* a prediction of ``""`` says "no answer"; a missing prediction (None) scores 0 on both
  (the official script refuses to score a file with one missing);
* HasAns / NoAns: the questions whose gold ``text`` list is non-empty / empty.

Normalisation is :func:`builder.answers.normalize_reference_answer` (equal to the official
``normalize_answer`` on ASCII text). Scores are fractions in [0, 1] (the official script
prints percentages, ×100). The no-answer-probability threshold search of the official
script (``--na-prob-file``) is not implemented: predictions carry no probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from builder.answers import normalize_reference_answer
from builder.evaluate._common import FloatArray, IntArray, check_pair, mean_stats
from builder.spans import token_f1

__all__ = ["Extractive", "gold_texts", "squad_v2_scores"]


def gold_texts(gold: Mapping[str, Any]) -> list[str]:
    """The official script's gold answers of one question: texts with a non-empty
    normalised form, or ``[""]`` when there is none. ValueError when ``gold`` lacks a
    ``text`` list (give ``{"text": [...], "answer_start": [...]}``)."""
    texts = gold.get("text") if isinstance(gold, Mapping) else None
    if not isinstance(texts, list):
        raise ValueError(
            f'gold {str(gold)[:80]!r} is not {{"text": [...], "answer_start": [...]}}; '
            "score extractive releases (answers column) only"
        )
    kept = [t for t in texts if normalize_reference_answer(str(t))]
    return kept or [""]


def squad_v2_scores(gold: Mapping[str, Any], pred: str | None) -> tuple[float, float]:
    """(exact, f1) of one question, each in [0, 1]; ``pred`` None (missing) → (0.0, 0.0)."""
    if pred is None:
        return 0.0, 0.0
    guess = normalize_reference_answer(pred)
    answers = gold_texts(gold)
    exact = max(float(normalize_reference_answer(a) == guess) for a in answers)
    return exact, max(token_f1(a, pred) for a in answers)


class Extractive:
    """Per-question exact and F1, shape (n, 2), with the HasAns mask and missing mask."""

    names: tuple[str, ...] = ("exact_match", "f1")

    def __init__(
        self, values: FloatArray, has_ans: npt.NDArray[np.bool_], missing: npt.NDArray[np.bool_]
    ) -> None:
        self.values, self.has_ans, self.missing, self.n = values, has_ans, missing, len(values)
        self.cells = self.n * 4

    @classmethod
    def encode(cls, gold: Sequence[Mapping[str, Any]], pred: Sequence[str | None]) -> Extractive:
        """Score every question once; ValueError for mismatched lengths, no items, a gold
        that is not ``{"text", "answer_start"}`` or a prediction that is not text or None."""
        check_pair(gold, pred)
        bad = [p for p in pred if p is not None and not isinstance(p, str)]
        if bad:
            raise ValueError(
                f'extractive prediction {bad[0]!r} is not text; predict the answer span, or "" '
                "for no answer"
            )
        values = np.array([squad_v2_scores(g, p) for g, p in zip(gold, pred, strict=True)])
        has_ans = np.fromiter((bool(g.get("text")) for g in gold), dtype=bool, count=len(gold))
        missing = np.fromiter((p is None for p in pred), dtype=bool, count=len(pred))
        return cls(values.reshape(-1, 2), has_ans, missing)

    def take(self, rows: IntArray) -> Extractive:
        return Extractive(self.values[rows], self.has_ans[rows], self.missing[rows])

    def stats(self, idx: IntArray, w: FloatArray | None) -> FloatArray:
        return mean_stats(self.values, idx, w)

    def details(self, w: FloatArray | None) -> dict[str, Any]:
        """``n``, ``exact_match``, ``f1``, ``missing``, and ``has_ans`` / ``no_ans``: each
        ``{"n", "exact_match", "f1"}`` (None scores when the group is empty)."""
        out: dict[str, Any] = {"n": self.n, **self._means(np.ones(self.n, dtype=bool), w)}
        out["missing"] = int(self.missing.sum())
        for name, mask in (("has_ans", self.has_ans), ("no_ans", ~self.has_ans)):
            out[name] = {"n": int(mask.sum()), **self._means(mask, w)}
        return out

    def _means(self, mask: npt.NDArray[np.bool_], w: FloatArray | None) -> dict[str, Any]:
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return dict.fromkeys(self.names)
        point = mean_stats(self.values, rows[None, :], w)[0]
        return {k: float(v) for k, v in zip(self.names, point, strict=True)}
