"""Items as people see them: the fields shown, cases for reviewers, history, listings.

Answers of other people are only ever shown to reviewers and leads (blind labeling):
:func:`get_case`, :func:`adjudication_queue` and :func:`item_history` require the
reviewer role on the server side.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from builder.conversation import redact_turns
from builder.domain import ItemStatus, Role
from builder.errors import NotFoundError, ReviewError
from builder.review._common import bench_in, spec_of
from builder.review.auth import Actor, authorize, operator
from builder.review.consensus import DecisionResult, answer_from_text, suggest
from builder.review.gold import mark_gold, unmark_gold
from builder.review.skill import QueueOrder, lowest_posterior_first
from builder.spec import BenchmarkSpec
from builder.store.annotations import annotation_history, current_annotations
from builder.store.audit import history
from builder.store.decisions import decisions_of
from builder.store.items import (
    ItemRow,
    ItemView,
    adjudication_item_ids,
    item_with_record,
    items_by_source,
)
from builder.store.items import list_items as _list_items
from builder.store.models import Annotation, AuditEvent, Item, Record
from builder.workspace import Workspace

__all__ = [
    "AnswerView",
    "Case",
    "DecisionView",
    "ItemHistory",
    "adjudication_queue",
    "find_item",
    "get_case",
    "item_fields",
    "item_history",
    "list_items",
    "set_gold",
]


def item_fields(spec: BenchmarkSpec, item: ItemView) -> dict[str, Any]:
    """The input fields annotators see, with the redacted text when curation redacted it."""
    out: dict[str, Any] = {}
    for name in spec.task.input_fields:
        if name == spec.source.text_field and item.text is not None:
            value = item.data.get(name)
            # A conversation is redacted turn by turn (item.text is its role-tagged text).
            out[name] = redact_turns(value) if isinstance(value, list) else item.text
        elif name == spec.source.text_field and name not in item.data:
            out[name] = item.record_text
        else:
            out[name] = item.data.get(name)
    return out


@dataclass(frozen=True)
class AnswerView:
    """One answer as a reviewer (or its own author) sees it."""

    annotator: str
    answer: Any
    flags: list[str]
    comment: str
    created_at: datetime
    current: bool = True
    revised: bool = False
    """True when this answer replaced an earlier one by the same annotator."""

    @classmethod
    def of(cls, a: Annotation, name: str) -> AnswerView:
        """From an annotation row and its annotator's name."""
        return cls(
            annotator=name,
            answer=a.answer,
            flags=list(a.flags),
            comment=a.comment,
            created_at=a.created_at,
            current=a.is_current,
            revised=a.supersedes_id is not None,
        )


@dataclass(frozen=True)
class Case:
    """An item with everything a reviewer needs to decide it."""

    item_id: int
    source_id: str
    status: str
    revision: int
    is_gold: bool
    fields: dict[str, Any]
    curation: dict[str, Any]
    """cluster, reason and flags (PII, near-duplicates) from curation."""
    answers: list[AnswerView]
    suggestion: Any | None
    """Majority answer (None on a tie)."""
    answer: Any | None
    """Final answer once decided."""


def _case(s: Session, spec: BenchmarkSpec, item: Item, record: Record) -> Case:
    assert item.id is not None
    answers = [AnswerView.of(a, name) for a, name in current_annotations(s, item.id)]
    return Case(
        item_id=item.id,
        source_id=record.source_id,
        status=item.status,
        revision=item.revision,
        is_gold=item.is_gold,
        fields=item_fields(
            spec,
            ItemView(item.id, record.source_id, item.text, item.flags, record.text, record.data),
        ),
        curation={"cluster": item.cluster, "reason": item.reason, "flags": dict(item.flags)},
        answers=answers,
        suggestion=suggest(spec.task, [a.answer for a in answers]),
        answer=item.answer,
    )


def _load(s: Session, item_id: int) -> tuple[Item, Record]:
    found = item_with_record(s, item_id)
    if found is None:
        raise NotFoundError(f"item {item_id} does not exist; see `benchsmith items list`")
    return found


def get_case(ws: Workspace, actor: Actor, item_id: int) -> Case:
    """One item with every current answer and who gave it (reviewers only)."""
    with ws.db.session() as s:
        authorize(s, actor, Role.reviewer, "seeing other people's answers")
        item, record = _load(s, item_id)
        _, spec = spec_of(s, item.benchmark_id)
        return _case(s, spec, item, record)


def adjudication_queue(
    ws: Workspace,
    actor: Actor,
    *,
    benchmark: str | None = None,
    limit: int = 50,
    order: QueueOrder | str = QueueOrder.oldest,
) -> list[Case]:
    """Items waiting for a reviewer: disagreements first, then agreed-but-flagged ones, each
    oldest first; ``order="lowest_posterior"`` puts the items whose Dawid–Skene label is
    least certain first (:func:`builder.review.skill.lowest_posterior_first`).

    Items the reviewer answered themselves are left out: they go to another reviewer
    (:func:`builder.review.consensus.decide` refuses them too).
    """
    if order not in set(QueueOrder):
        raise ReviewError(f"unknown queue order {order!r}; use one of {', '.join(QueueOrder)}")
    by_posterior = QueueOrder(order) is QueueOrder.lowest_posterior
    with ws.db.session() as s:
        actor = authorize(s, actor, Role.reviewer, "adjudicating")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        ids: list[int] = []
        for status in (ItemStatus.conflict, ItemStatus.consensus):
            # Ranking by posterior needs every waiting item before the limit applies.
            room = sys.maxsize if by_posterior else limit - len(ids)
            ids += adjudication_item_ids(s, bench.id, [status], room, not_answered_by=actor.user_id)
        if by_posterior:
            ids = lowest_posterior_first(s, bench.id, spec, ids)[:limit]
        return [_case(s, spec, *_load(s, item_id)) for item_id in ids]


@dataclass(frozen=True)
class DecisionView:
    """A decision with who took it (None: the auto-approval policy)."""

    verdict: str
    answer: Any
    reason: str
    reviewer: str | None
    created_at: datetime


@dataclass(frozen=True)
class ItemHistory:
    """Everything that happened to an item, oldest first."""

    case: Case
    answers: list[AnswerView] = field(default_factory=list)
    """Every answer ever given, superseded and sent-back ones included."""
    decisions: list[DecisionView] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)


def item_history(ws: Workspace, actor: Actor, item_id: int) -> ItemHistory:
    """An item's answers, decisions and audit events (reviewers only)."""
    with ws.db.session() as s:
        authorize(s, actor, Role.reviewer, "seeing item history")
        item, record = _load(s, item_id)
        _, spec = spec_of(s, item.benchmark_id)
        return ItemHistory(
            case=_case(s, spec, item, record),
            answers=[AnswerView.of(a, n) for a, n in annotation_history(s, item_id)],
            decisions=[
                DecisionView(d.verdict, d.answer, d.reason, name, d.created_at)
                for d, name in decisions_of(s, item_id)
            ],
            events=history(s, entity="item", entity_id=item_id),
        )


def find_item(ws: Workspace, source_id: str, *, benchmark: str | None = None) -> int:
    """The id of the benchmark's item made from the record ``source_id``."""
    with ws.db.session() as s:
        bench, _ = bench_in(s, ws, benchmark)
        assert bench.id is not None
        item = items_by_source(s, bench.id, [source_id]).get(source_id)
    if item is None or item.id is None:
        raise NotFoundError(
            f"no item with source id {source_id!r} in benchmark {bench.name!r}; "
            "see `benchsmith items list`"
        )
    return item.id


def list_items(
    ws: Workspace,
    *,
    status: str | None = None,
    benchmark: str | None = None,
    limit: int | None = None,
) -> list[ItemRow]:
    """Items with their source ids, status and answer count, in id order."""
    if status is not None and status not in {s.value for s in ItemStatus}:
        raise ReviewError(
            f"unknown status {status!r}; use one of {', '.join(s.value for s in ItemStatus)}"
        )
    with ws.db.session() as s:
        bench, _ = bench_in(s, ws, benchmark)
        assert bench.id is not None
        return _list_items(s, bench.id, status=status, limit=limit)


def set_gold(
    ws: Workspace,
    source_id: str,
    answer: str | None,
    *,
    benchmark: str | None = None,
    actor: Actor | None = None,
) -> DecisionResult:
    """Mark the item made from ``source_id`` as gold with ``answer`` (labels comma-separated
    for multilabel tasks); ``answer=None`` unmarks it."""
    actor = actor or operator()
    item_id = find_item(ws, source_id, benchmark=benchmark)
    if answer is None:
        return unmark_gold(ws, actor, item_id)
    _, spec = ws.benchmark(benchmark)
    return mark_gold(ws, actor, item_id, answer_from_text(spec.task, answer))
