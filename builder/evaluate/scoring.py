"""Score predictions for any task type: headline metrics, slices, bootstrap CIs, weights.

:func:`score` dispatches to the task families (:mod:`~builder.evaluate.classification`,
:mod:`~builder.evaluate.multilabel`, :mod:`~builder.evaluate.reference`) and adds
:mod:`~builder.evaluate.bootstrap` intervals. Pure numpy, no IO. The numbers match
scikit-learn (``accuracy_score``, ``f1_score``, ``precision_recall_fscore_support`` and
``confusion_matrix`` with ``zero_division=0``), including its ``sample_weight``
semantics; the tests hold them to that. Reference answers are compared after
:func:`builder.answers.normalize_reference_answer`, the rule review uses for agreement.

Conventions, defined once here:

* A prediction of ``None`` is a missing prediction and always counts as wrong: for a
  single label it is a false negative of the gold label (it is never a label of its
  own, so it does not enter the macro average); for a label set it predicts no label
  and never matches exactly; for a reference answer it scores 0. Filling in missing
  predictions is the caller's concern.
* Labels outside ``labels`` that appear in gold or predictions are kept: they are
  appended after ``labels`` in sorted order, so no item is silently dropped.
* Macro F1 averages over the labels present in gold ∪ predictions (scikit-learn's
  default label set); a label with no gold and no prediction is listed in
  ``per_label`` but left out of the average.
* ``weights`` are per-item weights (for the pool-weighted estimate: how many pool
  records each item stands for). Every count becomes a weighted sum, as with
  scikit-learn's ``sample_weight``; the set of labels present is still decided by
  which labels occur, whatever their weight.
* Bootstrap CIs resample items uniformly (items, not pool records, are the sampled
  units) and recompute the statistic, weighted where weights are given, on each
  resample; the interval is the percentile interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from builder.evaluate._common import FloatArray, Task, check_weights
from builder.evaluate.bootstrap import percentile_intervals
from builder.evaluate.classification import Classification
from builder.evaluate.extractive import Extractive
from builder.evaluate.multilabel import Multilabel
from builder.evaluate.multiple_choice import MultipleChoice
from builder.evaluate.reference import Reference

__all__ = ["MISSING_SLICE", "SMALL_SLICE", "TASK_TYPES", "score"]

TASK_TYPES: tuple[str, ...] = (
    "classification",
    "multilabel",
    "reference_answer",
    "multiple_choice",
)
MISSING_SLICE = "(missing)"
"""Slice value under which items whose slice value is ``None`` are reported."""
SMALL_SLICE = 30
"""A slice with fewer items than this is marked ``"small": true``: its bootstrap interval is
too wide (and too unreliable, Efron & Tibshirani 1993 §13.3) to compare models on."""


def _encode(task_type: str, gold: Sequence[Any], pred: Sequence[Any], labels: Any) -> Task:
    if task_type == "classification":
        return Classification.encode(gold, pred, () if labels is None else labels)
    if task_type == "multilabel":
        return Multilabel.encode(gold, pred, () if labels is None else labels)
    if task_type == "reference_answer":
        return Reference.encode(gold, pred)
    if task_type == "extractive":  # SQuAD v2 (builder.evaluate.extractive)
        return Extractive.encode(gold, pred)
    if task_type == "multiple_choice":
        return MultipleChoice.encode(gold, pred)
    raise ValueError(f"unknown task type {task_type!r}; use one of {', '.join(TASK_TYPES)}")


def _report(
    task: Task, w: FloatArray | None, *, n_resamples: int, seed: int, alpha: float, full: bool
) -> dict[str, Any]:
    out = task.details(None)
    if not full:
        out = {key: out[key] for key in ("n", *task.names)}

    def intervals(weights: FloatArray | None) -> dict[str, list[float] | None]:
        if n_resamples == 0:
            return dict.fromkeys(task.names)
        ci = percentile_intervals(
            lambda idx: task.stats(idx, weights),
            task.n,
            n_resamples=n_resamples,
            seed=seed,
            alpha=alpha,
            cells=task.cells,
        )
        return {name: [float(lo), float(hi)] for name, (lo, hi) in zip(task.names, ci, strict=True)}

    out["ci"] = intervals(None)
    out["pool_weighted"] = out["pool_weighted_ci"] = None
    if w is not None:
        point = task.stats(np.arange(task.n)[None, :], w)[0]
        out["pool_weighted"] = {name: float(x) for name, x in zip(task.names, point, strict=True)}
        out["pool_weighted_ci"] = intervals(w)
    return out


def score(
    task_type: str,
    gold: Sequence[Any],
    pred: Sequence[Any],
    labels: Sequence[str] | None = None,
    *,
    slices: Mapping[str, Sequence[str | None]] | None = None,
    weights: Sequence[float] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score predictions for one task type, overall and per slice, with bootstrap CIs.

    Returns the headline metrics under plain names (classification: ``accuracy``,
    ``macro_f1``; multilabel: ``micro_f1``, ``macro_f1``, ``exact_match``;
    reference_answer: ``exact_match``, ``token_f1``; multiple_choice: ``accuracy`` and
    ``position_bias``) with the task's detail
    (``per_label``, ``confusion``, ``missing``), ``ci`` {metric: [lo, hi]},
    ``pool_weighted`` and ``pool_weighted_ci`` (``None`` without ``weights``: the
    inclusion-weighted, Horvitz–Thompson style estimate for the whole pool), and
    ``slices`` {slice name: {slice value: {n, metrics, ci, pool_weighted, …}}}, where
    ``slices`` maps a slice name to one value per item (``None`` is reported as
    :data:`MISSING_SLICE`); each slice value also carries ``small`` (fewer than
    :data:`SMALL_SLICE` items). ``n_resamples=0`` skips the bootstrap (every CI is ``None``).
    Predictions of ``None`` count as wrong. Raises ValueError for an unknown task type,
    mismatched lengths, no items, invalid weights, a slice of the wrong length or a
    negative ``n_resamples``.
    """
    if n_resamples < 0:
        raise ValueError(f"n_resamples is {n_resamples}; use 0 (no CIs) or more, e.g. 1000")
    task = _encode(task_type, gold, pred, labels)
    w = check_weights(weights, task.n)
    options: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "alpha": 0.05}
    result: dict[str, Any] = {"task_type": task_type}
    result.update(_report(task, w, full=True, **options))
    result["bootstrap"] = {"n_resamples": n_resamples, "seed": seed, "level": 0.95}
    result["slices"] = {}
    for name, values in sorted((slices or {}).items()):
        if len(values) != task.n:
            raise ValueError(
                f"slice {name!r} has {len(values)} values for {task.n} items; "
                "give one slice value per item"
            )
        keys = np.array([MISSING_SLICE if v is None else str(v) for v in values], dtype=object)
        result["slices"][name] = {
            key: {
                **_report(
                    task.take(rows := np.flatnonzero(keys == key)),
                    None if w is None else w[rows],
                    full=False,
                    **options,
                ),
                "small": len(rows) < SMALL_SLICE,
            }
            for key in sorted(set(keys))
        }
    return result
