"""Evaluation: score predictions on a release, store the result, rank models.

Modules: :mod:`~builder.evaluate.runner` (read predictions, score a verified release,
store runs, the leaderboard), :mod:`~builder.evaluate.scoring` (:func:`score`: any task
type, slices, bootstrap CIs, pool weights) over the task families
:mod:`~builder.evaluate.classification`, :mod:`~builder.evaluate.multilabel`,
:mod:`~builder.evaluate.reference` and :mod:`~builder.evaluate.multiple_choice` (slices
from release metadata in :mod:`~builder.evaluate.slicing`), :mod:`~builder.evaluate.bootstrap` (percentile
intervals) and :mod:`~builder.evaluate.baseline` (the TF-IDF + linear SVM reference
model; needs scikit-learn, so it is not imported here). Answer normalisation lives in
:mod:`builder.answers`, shared with review.

The runner's names are re-exported here, so ``from builder.evaluate import
evaluate_release`` works as it always has.
"""

from __future__ import annotations

from builder.evaluate.runner import (
    Board,
    BoardEntry,
    EvalResult,
    evaluate_release,
    leaderboard,
    read_predictions,
    record_evaluation,
    score_rows,
)
from builder.evaluate.scoring import score

__all__ = [
    "Board",
    "BoardEntry",
    "EvalResult",
    "evaluate_release",
    "leaderboard",
    "read_predictions",
    "record_evaluation",
    "score",
    "score_rows",
]
