"""Release summaries: label counts, inter-annotator agreement and the human ceiling.

The human ceiling is the release's own saturation level: the benchmark's headline metric
computed with one annotator's answer as gold and another's as the prediction, over every
ordered pair of current annotations on the same released item (classification:
``accuracy``, which equals the observed pairwise agreement; multilabel: ``micro_f1``;
reference answers: ``token_f1``). A model that reaches it scores like a second human,
so the leaderboard calls the benchmark saturated.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from builder.answers import normalize_reference_answer
from builder.release.manifest import AgreementSummary
from builder.review.agreement import krippendorff_alpha, percent_agreement
from builder.review.extractive import span_agreement

__all__ = ["CEILING_METRIC", "agreement_summary", "human_ceiling", "label_counts"]

CEILING_METRIC: dict[str, str] = {
    "classification": "accuracy",
    "multilabel": "micro_f1",
    "reference_answer": "token_f1",
    "multiple_choice": "accuracy",
    "extractive": "f1",  # SQuAD v2 F1 (builder.evaluate.extractive)
}
"""The headline metric of each task type (leaderboard rank and saturation)."""


def label_counts(task_type: str, answers: Iterable[Any]) -> dict[str, int]:
    """Items per label, sorted by label (empty for reference answers)."""
    if task_type == "reference_answer":
        return {}
    counts: Counter[str] = Counter()
    for a in answers:
        if task_type == "multilabel":
            counts.update(set(a))
        else:
            counts[a] += 1
    return dict(sorted(counts.items()))


def _hashable(task_type: str, answer: Any) -> Any:
    if task_type == "multilabel":
        return tuple(sorted(set(answer or ())))
    if task_type == "reference_answer":
        return normalize_reference_answer(str(answer))
    return answer


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def human_ceiling(
    task_type: str, annotations: Mapping[Any, Sequence[Any]], labels: Sequence[str] | None = None
) -> float | None:
    """Headline metric of annotator vs annotator over ordered pairs on the same item.

    ``annotations`` maps an item to its annotators' answers; None when no item has two.
    """
    gold: list[Any] = []
    pred: list[Any] = []
    for answers in annotations.values():
        for i, a in enumerate(answers):
            for j, b in enumerate(answers):
                if i != j:
                    gold.append(a)
                    pred.append(b)
    if not gold:
        return None
    # Imported here: builder.evaluate's runner imports this module (CEILING_METRIC).
    from builder.evaluate.scoring import score

    result = score(task_type, gold, pred, labels, n_resamples=0)
    return float(result[CEILING_METRIC[task_type]])


def agreement_summary(
    task_type: str,
    annotations: Mapping[Any, Sequence[tuple[Any, Any]]],
    labels: Sequence[str] | None = None,
) -> AgreementSummary:
    """Agreement over ``annotations``: item → [(annotator, answer)] (current rows only)."""
    annotators = sorted({who for rows in annotations.values() for who, _ in rows}, key=str)
    by_item = {item: [a for _, a in rows] for item, rows in annotations.items() if rows}
    multi = {item: answers for item, answers in by_item.items() if len(answers) >= 2}
    if task_type == "extractive":  # spans: token-F1 agreement, alpha on "unanswerable"
        return extractive_summary(len(annotators), by_item, multi)
    alpha: float | None = None
    observed: float | None = None
    if multi:
        units = {
            item: [_hashable(task_type, a) for a in answers] for item, answers in multi.items()
        }
        observed = _finite(percent_agreement(units))
        if task_type != "reference_answer":
            # One row per annotator, one column per item (None where they did not label it).
            index = {who: r for r, who in enumerate(annotators)}
            items = sorted(multi, key=str)
            table: list[list[Any]] = [[None] * len(items) for _ in annotators]
            for col, item in enumerate(items):
                for who, answer in annotations[item]:
                    table[index[who]][col] = _hashable(task_type, answer)
            alpha = _finite(krippendorff_alpha(table, level="nominal"))
    return AgreementSummary(
        annotators=len(annotators),
        annotations=sum(len(v) for v in by_item.values()),
        items_annotated=len(by_item),
        items_multiply_annotated=len(multi),
        krippendorff_alpha=alpha,
        percent_agreement=observed,
        human_ceiling=human_ceiling(task_type, multi, labels),
        ceiling_metric=CEILING_METRIC[task_type],
    )


def extractive_summary(
    annotators: int, by_item: Mapping[Any, Sequence[Any]], multi: Mapping[Any, Sequence[Any]]
) -> AgreementSummary:
    """Agreement of extractive answers (:func:`builder.review.extractive.span_agreement`):
    alpha = Krippendorff's alpha on the unanswerable decision, percent agreement = share of
    annotator pairs whose spans agree (token F1 >= 0.5 or both unanswerable), human ceiling
    = mean pairwise token F1 (metric ``f1``)."""
    spans = span_agreement(multi)
    return AgreementSummary(
        annotators=annotators,
        annotations=sum(len(v) for v in by_item.values()),
        items_annotated=len(by_item),
        items_multiply_annotated=len(multi),
        krippendorff_alpha=spans["alpha_unanswerable"],
        percent_agreement=spans["agree_share"],
        human_ceiling=spans["mean_pairwise_f1"],
        ceiling_metric=CEILING_METRIC["extractive"],
    )
