"""Read-only review queries: item listings, answers for the dashboard, audit exports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlmodel import Session, col

from builder.store.models import Annotation, Assignment, CurationRun, Decision, Item, Record, User

__all__ = [
    "AnswerRow",
    "ExportAnnotation",
    "ExportDecision",
    "ItemRow",
    "annotation_history",
    "answer_rows",
    "approved_rows",
    "decisions_of",
    "export_annotations",
    "export_decisions",
    "latest_curation_report",
    "list_items",
    "work_log",
]

_A = Assignment.__table__  # type: ignore[attr-defined]
_I = Item.__table__  # type: ignore[attr-defined]
_N = Annotation.__table__  # type: ignore[attr-defined]


class ItemRow(NamedTuple):
    """One line of ``items list``."""

    item_id: int
    source_id: str
    status: str
    revision: int
    cluster: int | None
    is_gold: bool
    answer: Any
    answers: int
    """Current annotations."""


def list_items(
    session: Session, benchmark_id: int, *, status: str | None = None, limit: int | None = None
) -> list[ItemRow]:
    """Items of a benchmark with their source ids, in id order."""
    answers = (
        select(func.count())
        .select_from(_N)
        .where(_N.c.item_id == _I.c.id, _N.c.is_current.is_(True))
        .scalar_subquery()
    )
    stmt = (
        select(
            _I.c.id,
            col(Record.source_id),
            _I.c.status,
            _I.c.revision,
            _I.c.cluster,
            _I.c.is_gold,
            _I.c.answer,
            answers,
        )
        .join(Record, col(Record.id) == _I.c.record_id)
        .where(_I.c.benchmark_id == benchmark_id)
        .order_by(_I.c.id)
    )
    if status is not None:
        stmt = stmt.where(_I.c.status == status)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [ItemRow(*row) for row in session.execute(stmt)]


def latest_curation_report(session: Session, benchmark_id: int) -> dict[str, Any] | None:
    """The newest curation run's report, if curation has run."""
    stmt = (
        select(col(CurationRun.report))
        .where(col(CurationRun.benchmark_id) == benchmark_id)
        .order_by(col(CurationRun.id).desc())
        .limit(1)
    )
    report = session.execute(stmt).scalars().first()
    return dict(report) if report is not None else None


def annotation_history(session: Session, item_id: int) -> list[tuple[Annotation, str]]:
    """Every answer ever given to the item (superseded ones too), oldest first."""
    stmt = (
        select(Annotation, col(User.name))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .where(col(Annotation.item_id) == item_id)
        .order_by(col(Annotation.id))
    )
    return [(a, name) for a, name in session.execute(stmt)]


def decisions_of(session: Session, item_id: int) -> list[tuple[Decision, str | None]]:
    """The item's decisions with the reviewer's name (None for the policy), oldest first."""
    stmt = (
        select(Decision, col(User.name))
        .outerjoin(User, col(User.id) == col(Decision.reviewer_id))
        .where(col(Decision.item_id) == item_id)
        .order_by(col(Decision.id))
    )
    return [(d, name) for d, name in session.execute(stmt)]


class AnswerRow(NamedTuple):
    """A current answer, for agreement and gold accuracy."""

    item_id: int
    annotator: str
    answer: Any
    is_gold: bool
    gold_answer: Any
    final_answer: Any
    status: str


def answer_rows(session: Session, benchmark_id: int) -> list[AnswerRow]:
    """Every current answer of the benchmark with what the item's truth is so far."""
    stmt = (
        select(
            _N.c.item_id,
            col(User.name),
            _N.c.answer,
            _I.c.is_gold,
            _I.c.gold_answer,
            _I.c.answer,
            _I.c.status,
        )
        .join(_I, _I.c.id == _N.c.item_id)
        .join(User, col(User.id) == _N.c.annotator_id)
        .where(_I.c.benchmark_id == benchmark_id, _N.c.is_current.is_(True))
        .order_by(_N.c.item_id, _N.c.id)
    )
    return [AnswerRow(*row) for row in session.execute(stmt)]


def work_log(session: Session, benchmark_id: int) -> list[tuple[str, datetime, datetime]]:
    """(annotator, leased_at, completed_at) of every finished assignment."""
    stmt = (
        select(col(User.name), _A.c.leased_at, _A.c.completed_at)
        .join(_I, _I.c.id == _A.c.item_id)
        .join(User, col(User.id) == _A.c.annotator_id)
        .where(_I.c.benchmark_id == benchmark_id, _A.c.completed_at.is_not(None))
    )
    return [(n, a, b) for n, a, b in session.execute(stmt)]


def approved_rows(session: Session, benchmark_id: int) -> list[tuple[int, int | None, Any]]:
    """(item id, cluster, final answer) of approved and released items."""
    stmt = select(_I.c.id, _I.c.cluster, _I.c.answer).where(
        _I.c.benchmark_id == benchmark_id, _I.c.status.in_(["approved", "released"])
    )
    return [(i, c, a) for i, c, a in session.execute(stmt)]


class ExportAnnotation(NamedTuple):
    """An answer with the names an audit needs."""

    annotation: Annotation
    source_id: str
    annotator: str


class ExportDecision(NamedTuple):
    """A decision with the names an audit needs."""

    decision: Decision
    source_id: str
    reviewer: str | None


def export_annotations(session: Session, benchmark_id: int) -> Iterator[ExportAnnotation]:
    """Every answer (superseded ones too), by item then time."""
    stmt = (
        select(Annotation, col(Record.source_id), col(User.name))
        .join(Item, col(Item.id) == col(Annotation.item_id))
        .join(Record, col(Record.id) == col(Item.record_id))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .where(col(Item.benchmark_id) == benchmark_id)
        .order_by(col(Annotation.item_id), col(Annotation.id))
    )
    for a, sid, name in session.execute(stmt):
        yield ExportAnnotation(a, sid, name)


def export_decisions(session: Session, benchmark_id: int) -> Iterator[ExportDecision]:
    """Every decision, by item then time."""
    stmt = (
        select(Decision, col(Record.source_id), col(User.name))
        .join(Item, col(Item.id) == col(Decision.item_id))
        .join(Record, col(Record.id) == col(Item.record_id))
        .outerjoin(User, col(User.id) == col(Decision.reviewer_id))
        .where(col(Item.benchmark_id) == benchmark_id)
        .order_by(col(Decision.item_id), col(Decision.id))
    )
    for d, sid, name in session.execute(stmt):
        yield ExportDecision(d, sid, name)
