"""Anchoring, measured: does seeing a model's suggestion pull annotators towards it?

With ``review.suggestions: annotators`` every item is shown with its suggestion except a
deterministic control share (:func:`builder.review.suggestions.is_control`). For each
annotator this compares how often their answer agrees with the suggestion on items where
it was shown against control items where it was not (the suggestion existed, they did not
see it). The control items are chosen by a hash of the item id, so they are a random
sample of the same items, and the difference estimates the anchoring effect.

An answer counts when its item is not gold and a suggestion for it existed when the
answer was given (the suggestion's ``created_at`` is not after the answer's); it agrees
when its :func:`~builder.review.consensus.answer_key` equals that of any of the
suggestions then stored. Whether an item was shown is decided by today's spec: a lead who
changes ``review.suggestions`` mid-round mixes both regimes (the page says which is set).

Intervals: each rate has a 95 % Wilson score interval (Wilson 1927, via
``scipy.stats.binomtest(...).proportion_ci(method="wilson")``); the difference has
Newcombe's hybrid score interval built from the two (Newcombe 1998, "Interval estimation
for the difference between independent proportions", Statistics in Medicine 17, method 10).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from builder.domain import Role
from builder.review._common import bench_in
from builder.review.auth import Actor, authorize
from builder.review.consensus import answer_key
from builder.review.suggestions import is_control
from builder.spec import BenchmarkSpec
from builder.store.suggestions import (
    AnsweredRow,
    SuggestionRow,
    answered_rows,
    benchmark_suggestions,
    suggested_items,
)
from builder.workspace import Workspace

__all__ = [
    "MIN_CONTROL",
    "AnchoringReport",
    "AnnotatorAnchoring",
    "anchoring",
    "anchoring_from",
    "newcombe_difference",
    "wilson",
]

MIN_CONTROL = 30
"""Control answers per annotator below which the page says the difference cannot be
judged yet (with a few percent of items as controls, this takes several hundred answers)."""
CONFIDENCE = 0.95


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval (low, high) of ``k`` successes in ``n`` (None when n=0)."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_difference(
    k1: int, n1: int, k2: int, n2: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval (method 10) for ``k1/n1 - k2/n2``, in [-1, 1]."""
    a, b = wilson(k1, n1, confidence), wilson(k2, n2, confidence)
    if a is None or b is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    low = d - math.sqrt((p1 - a[0]) ** 2 + (b[1] - p2) ** 2)
    high = d + math.sqrt((a[1] - p1) ** 2 + (p2 - b[0]) ** 2)
    return max(-1.0, low), min(1.0, high)


@dataclass(frozen=True)
class AnnotatorAnchoring:
    """One annotator's agreement with the suggestion, shown vs not shown (control)."""

    annotator: str
    shown: int
    """Answers to items shown with their suggestion."""
    shown_agree: int
    control: int
    """Answers to control items (a suggestion existed but was not shown)."""
    control_agree: int

    @property
    def shown_rate(self) -> float | None:
        """Share of shown-item answers that agree with the suggestion."""
        return self.shown_agree / self.shown if self.shown else None

    @property
    def control_rate(self) -> float | None:
        """Share of control-item answers that agree with the suggestion."""
        return self.control_agree / self.control if self.control else None

    @property
    def shown_ci(self) -> tuple[float, float] | None:
        """95 % Wilson interval of :attr:`shown_rate`."""
        return wilson(self.shown_agree, self.shown)

    @property
    def control_ci(self) -> tuple[float, float] | None:
        """95 % Wilson interval of :attr:`control_rate`."""
        return wilson(self.control_agree, self.control)

    @property
    def difference(self) -> float | None:
        """shown rate − control rate: the anchoring estimate (positive = pulled towards it)."""
        if self.shown_rate is None or self.control_rate is None:
            return None
        return self.shown_rate - self.control_rate

    @property
    def difference_ci(self) -> tuple[float, float] | None:
        """95 % Newcombe interval of :attr:`difference`."""
        return newcombe_difference(self.shown_agree, self.shown, self.control_agree, self.control)

    @property
    def note(self) -> str:
        """What the numbers allow one to say."""
        if self.control < MIN_CONTROL:
            return (
                f"too few control answers to judge ({self.control} < {MIN_CONTROL}); "
                "the interval is wide"
            )
        ci = self.difference_ci
        if ci is not None and ci[0] > 0:
            return "agrees with the suggestion more when shown it: anchored"
        if ci is not None and ci[1] < 0:
            return "agrees with the suggestion less when shown it"
        return "no clear difference"


@dataclass(frozen=True)
class AnchoringReport:
    """Anchoring per annotator, and what the spec shows to whom."""

    mode: str
    """``review.suggestions``: hidden, reviewers or annotators."""
    control_share: float
    items_with_suggestions: int
    annotators: list[AnnotatorAnchoring]

    @property
    def measured(self) -> bool:
        """Whether annotators see suggestions, so anchoring can arise (and is measured)."""
        return self.mode == "annotators"


def _suggested_then(rows: Sequence[SuggestionRow], at: datetime) -> list[SuggestionRow]:
    return [r for r in rows if r.created_at <= at]


def anchoring_from(
    spec: BenchmarkSpec,
    answers: Sequence[AnsweredRow],
    suggestions: Mapping[int, Sequence[SuggestionRow]],
    items_with_suggestions: int | None = None,
) -> AnchoringReport:
    """The anchoring report from current answers and item id → suggestions (pure);
    ``items_with_suggestions`` defaults to ``len(suggestions)``."""
    review = spec.review
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    if review.suggestions == "annotators":
        for a in answers:
            existing = _suggested_then(suggestions.get(a.item_id, ()), a.created_at)
            if not existing:
                continue
            key = answer_key(spec.task, a.answer)
            agree = any(answer_key(spec.task, r.answer) == key for r in existing)
            control = is_control(
                a.item_id, seed=spec.curation.seed, share=review.suggestion_control
            )
            c = counts[a.annotator]
            c[2 if control else 0] += 1
            c[3 if control else 1] += agree
    return AnchoringReport(
        mode=review.suggestions,
        control_share=review.suggestion_control,
        items_with_suggestions=(
            len(suggestions) if items_with_suggestions is None else items_with_suggestions
        ),
        annotators=[AnnotatorAnchoring(name, *c) for name, c in sorted(counts.items())],
    )


def anchoring(ws: Workspace, actor: Actor, *, benchmark: str | None = None) -> AnchoringReport:
    """Read and compute the anchoring report (reviewers and leads only)."""
    with ws.db.session() as s:
        authorize(s, actor, Role.reviewer, "seeing the anchoring measure")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        answers = answered_rows(s, bench.id)
        suggestions = benchmark_suggestions(s, bench.id)
        suggested = suggested_items(s, bench.id)
    return anchoring_from(spec, answers, suggestions, suggested)
