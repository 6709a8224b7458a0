"""Numbers for the Dashboard page: can these labels be trusted, and how far along are we?

The ``*_from`` functions are pure (rows in, numbers out) and carry the logic; the app
calls :func:`build_dashboard`, which reads the rows in one transaction.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from builder.domain import ItemStatus, Role
from builder.review._common import bench_in, clock
from builder.review.agreement import (
    PairwiseKappa,
    fleiss_kappa,
    krippendorff_alpha,
    mean_pairwise_token_f1,
    pairwise_cohen,
    per_label_agreement,
    percent_agreement,
)
from builder.review.auth import Actor, authorize
from builder.review.consensus import answer_key
from builder.review.duplicates import Duplicates, duplicates_from
from builder.review.extractive import span_agreement, span_note
from builder.spans import is_unanswerable
from builder.spec import TaskSpec, TaskType
from builder.store.annotations import AnswerRow, answer_rows
from builder.store.items import approved_rows, item_counts
from builder.store.leases import work_log
from builder.store.runs import latest_run
from builder.workspace import Workspace

__all__ = [
    "AgreementReport",
    "AnnotatorStats",
    "Coverage",
    "Dashboard",
    "agreement_from",
    "annotators_from",
    "build_dashboard",
    "coverage_from",
    "label_distribution_from",
]


@dataclass(frozen=True)
class AgreementReport:
    """Inter-annotator agreement over items with two or more current answers (gold excluded)."""

    items: int
    annotators: int
    alpha_nominal: float
    alpha_ordinal: float | None = None
    """Only when every label is a number."""
    alpha_interval: float | None = None
    fleiss: float | None = None
    """Over the items that have the most common number of answers."""
    percent: float = float("nan")
    """Share of agreeing answer pairs."""
    pairwise: PairwiseKappa | None = None
    per_label: dict[str, float] = field(default_factory=dict)
    note: str = ""
    token_f1: float | None = None
    """Reference answers only: mean pairwise SQuAD token F1 between annotators' answers."""


def _numeric(labels: Sequence[str]) -> dict[str, float] | None:
    try:
        return {lab: float(lab) for lab in labels} if labels else None
    except ValueError:
        return None


def _fleiss(units: dict[int, list[Any]], categories: list[Any]) -> float | None:
    sizes = Counter(len(v) for v in units.values())
    if not sizes:
        return None
    raters = sizes.most_common(1)[0][0]
    index = {c: i for i, c in enumerate(categories)}
    table = []
    for labels in units.values():
        if len(labels) == raters:
            row = [0] * len(categories)
            for lab in labels:
                row[index[lab]] += 1
            table.append(row)
    return fleiss_kappa(table)


def _span_f1(by_item: dict[int, dict[str, Any]], items: list[int]) -> float | None:
    """Mean pairwise token F1 of extractive spans (:func:`extractive.span_agreement`)."""
    f1 = span_agreement({i: list(by_item[i].values()) for i in items})["mean_pairwise_f1"]
    return None if f1 is None else float(f1)


def agreement_from(task: TaskSpec, rows: Sequence[AnswerRow]) -> AgreementReport:
    """Krippendorff's α, Fleiss' κ, pairwise Cohen's κ and per-label agreement."""
    by_item: dict[int, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        if not r.is_gold:
            by_item[r.item_id][r.annotator] = r.answer
    by_item = {i: a for i, a in by_item.items() if len(a) >= 2}
    names = sorted({n for answers in by_item.values() for n in answers})
    items = sorted(by_item)
    if task.type is TaskType.multilabel:
        # Each (item, label) is a yes/no decision: the standard reduction for label sets.
        units = {
            (i, lab): {n: lab in a for n, a in by_item[i].items()}
            for i in items
            for lab in task.labels
        }
        per_label = {}
        for lab in task.labels:
            got = per_label_agreement({i: [lab in a for a in by_item[i].values()] for i in items})
            if True in got:
                per_label[lab] = got[True]
        keyed: dict[Any, dict[str, Any]] = units
        categories: list[Any] = [False, True]
        note = "multilabel: α, κ computed over yes/no decisions per (item, label)"
    elif task.context_field is not None:  # extractive: α over "unanswerable", F1 of spans
        keyed = {i: {n: is_unanswerable(a) for n, a in by_item[i].items()} for i in items}
        categories, per_label = [False, True], {}
        note = span_note(span_agreement({i: list(by_item[i].values()) for i in items}))
    else:
        keyed = {i: {n: answer_key(task, a) for n, a in by_item[i].items()} for i in items}
        categories = sorted({v for a in keyed.values() for v in a.values()}, key=str)
        per_label = (
            {
                str(k): v
                for k, v in per_label_agreement(
                    {i: list(a.values()) for i, a in keyed.items()}
                ).items()
            }
            if task.type in (TaskType.classification, TaskType.multiple_choice)
            else {}
        )
        note = (
            "reference answers: agreement means the same text after normalising case, "
            "Unicode form, spacing, punctuation (dashes, quotes) and articles"
            if task.type is TaskType.reference_answer
            else "multiple choice: α is nominal over the choice letters picked"
            if task.type is TaskType.multiple_choice
            else ""
        )
    cols = list(keyed)
    matrix = [[keyed[c].get(n) for c in cols] for n in names]
    report = AgreementReport(
        items=len(items),
        annotators=len(names),
        alpha_nominal=krippendorff_alpha(matrix, "nominal") if cols else math.nan,
        fleiss=_fleiss({i: list(a.values()) for i, a in enumerate(keyed.values())}, categories)
        if cols
        else None,
        percent=percent_agreement(
            {i: [answer_key(task, a) for a in by_item[i].values()] for i in items}
        ),
        pairwise=pairwise_cohen({n: {c: keyed[c][n] for c in cols if n in keyed[c]} for n in names})
        if names
        else None,
        per_label=per_label,
        note=note,
        token_f1=mean_pairwise_token_f1({i: [str(a) for a in by_item[i].values()] for i in items})
        if task.type is TaskType.reference_answer and items and task.context_field is None
        else _span_f1(by_item, items)
        if task.context_field is not None and items
        else None,
    )
    numbers = _numeric(task.labels) if task.type is TaskType.classification else None
    if numbers and cols:
        values = [[None if v is None else numbers[v] for v in row] for row in matrix]
        report = AgreementReport(
            **{
                **report.__dict__,
                "alpha_ordinal": krippendorff_alpha(values, "ordinal"),
                "alpha_interval": krippendorff_alpha(values, "interval"),
            }
        )
    return report


@dataclass(frozen=True)
class AnnotatorStats:
    """One annotator's output and quality."""

    annotator: str
    answers: int
    """Items answered (current answers)."""
    last_24h: int
    """Items finished in the last 24 hours."""
    median_seconds: float | None
    """Median time from lease to answer."""
    gold_answered: int = 0
    gold_correct: int = 0
    agree_with_final: float | None = None
    """Share of their answers on approved items that match the final answer."""

    @property
    def gold_accuracy(self) -> float | None:
        """Correct share on gold items (None before any gold answer)."""
        return self.gold_correct / self.gold_answered if self.gold_answered else None

    @property
    def items_per_hour(self) -> float | None:
        """Pace implied by the median time per item."""
        return 3600.0 / self.median_seconds if self.median_seconds else None


def annotators_from(
    task: TaskSpec,
    rows: Sequence[AnswerRow],
    log: Sequence[tuple[str, datetime, datetime]],
    now: datetime,
) -> tuple[list[AnnotatorStats], list[tuple[date, str, int]]]:
    """Per-annotator throughput, gold accuracy and agreement with final answers, plus a
    (day, annotator, items) series for the throughput chart."""
    answers: Counter[str] = Counter(r.annotator for r in rows)
    gold_n: Counter[str] = Counter()
    gold_ok: Counter[str] = Counter()
    final_n: Counter[str] = Counter()
    final_ok: Counter[str] = Counter()
    for r in rows:
        if r.is_gold and r.gold_answer is not None:
            gold_n[r.annotator] += 1
            gold_ok[r.annotator] += answer_key(task, r.answer) == answer_key(task, r.gold_answer)
        elif r.status in (ItemStatus.approved, ItemStatus.released) and r.final_answer is not None:
            final_n[r.annotator] += 1
            final_ok[r.annotator] += answer_key(task, r.answer) == answer_key(task, r.final_answer)
    seconds: dict[str, list[float]] = defaultdict(list)
    recent: Counter[str] = Counter()
    daily: Counter[tuple[date, str]] = Counter()
    for name, leased, done in log:
        seconds[name].append(max(0.0, (done - leased).total_seconds()))
        recent[name] += done >= now - timedelta(hours=24)
        daily[(done.date(), name)] += 1
    stats = [
        AnnotatorStats(
            annotator=name,
            answers=answers[name],
            last_24h=recent[name],
            median_seconds=statistics.median(seconds[name]) if seconds[name] else None,
            gold_answered=gold_n[name],
            gold_correct=gold_ok[name],
            agree_with_final=final_ok[name] / final_n[name] if final_n[name] else None,
        )
        for name in sorted(set(answers) | set(seconds))
    ]
    return stats, sorted((d, n, c) for (d, n), c in daily.items())


def label_distribution_from(task: TaskSpec, answers: Sequence[Any]) -> dict[str, int]:
    """How often each label is the final answer of approved items (every label listed)."""
    if task.type is TaskType.reference_answer:
        return {}
    counts: Counter[str] = Counter()
    for a in answers:
        if task.type is TaskType.multilabel:
            counts.update(a or [])
        elif a is not None:
            counts[a] += 1
    return {lab: counts[lab] for lab in task.labels}


@dataclass(frozen=True)
class Coverage:
    """How the curated sample covers the pool, and how much of it is approved."""

    clusters: list[dict[str, Any]]
    """cluster, size (pool records), picked (sampled), approved."""
    points: list[dict[str, Any]]
    """x, y, cluster, selected, source_id: the pool in 2-D with the sample marked."""


def coverage_from(
    report: dict[str, Any] | None, approved: Sequence[tuple[int, int | None, Any]]
) -> Coverage | None:
    """Join the latest curation report with approved items per cluster (None: no curation)."""
    if not report:
        return None
    per_cluster: Counter[int | None] = Counter(c for _, c, _ in approved)
    clusters = [
        {
            "cluster": c.get("cluster"),
            "size": c.get("size", 0),
            "picked": c.get("picked", 0),
            "approved": per_cluster.get(c.get("cluster"), 0),
        }
        for c in report.get("clusters") or []
    ]
    raw = report.get("map") or []
    if isinstance(raw, dict):  # columnar: {"x": [...], "y": [...], ...}
        keys = list(raw)
        raw = [dict(zip(keys, values, strict=False)) for values in zip(*raw.values(), strict=False)]
    points = [p for p in raw if isinstance(p, dict) and "x" in p and "y" in p]
    return Coverage(clusters=clusters, points=points)


@dataclass(frozen=True)
class Dashboard:
    """Everything the Dashboard page shows."""

    benchmark: str
    task: TaskSpec
    status_counts: dict[str, int]
    annotators: list[AnnotatorStats]
    daily: list[tuple[date, str, int]]
    agreement: AgreementReport
    label_distribution: dict[str, int]
    coverage: Coverage | None
    duplicates: Duplicates | None = None
    """Duplicate removal of the latest curation run (None: no curation run)."""

    @property
    def total(self) -> int:
        """Items in the benchmark."""
        return sum(self.status_counts.values())


def build_dashboard(
    ws: Workspace, actor: Actor, *, benchmark: str | None = None, now: datetime | None = None
) -> Dashboard:
    """Read and compute the dashboard (reviewers and leads only: it shows everyone's work)."""
    at = clock(now)
    with ws.db.session() as s:
        authorize(s, actor, Role.reviewer, "seeing the dashboard")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        counts = item_counts(s, bench.id)
        rows = answer_rows(s, bench.id)
        log = work_log(s, bench.id)
        approved = approved_rows(s, bench.id)
        run = latest_run(s, bench.id)
        report = dict(run.report) if run is not None else None
    stats, daily = annotators_from(spec.task, rows, log, at)
    return Dashboard(
        benchmark=bench.name,
        task=spec.task,
        status_counts=counts,
        annotators=stats,
        daily=daily,
        agreement=agreement_from(spec.task, rows),
        label_distribution=label_distribution_from(spec.task, [a for _, _, a in approved]),
        coverage=coverage_from(report, approved),
        duplicates=duplicates_from(report),
    )
