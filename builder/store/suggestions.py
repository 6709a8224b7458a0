"""Model suggestions: a model's answer per pool record, kept apart from annotations.

A suggestion lives in its own table and is read only by :mod:`builder.review.suggestions`
and :mod:`builder.review.anchoring`: consensus, agreement, releases and exports read the
annotation and decision tables, so a suggestion can never count as an annotator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, exists, func, insert, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from builder.store.models import Annotation, Assignment, Item, Record, Suggestion, User
from builder.store.pool import with_text

__all__ = [
    "AnsweredRow",
    "NewSuggestion",
    "SuggestionRow",
    "answered_rows",
    "benchmark_suggestions",
    "holds_item",
    "item_inputs",
    "item_record",
    "record_ids_by_source",
    "record_suggestions",
    "replace_model_suggestions",
    "suggested_items",
]

_IN_CHUNK = 900  # ids per IN (...) list: far below every backend's parameter limit


class NewSuggestion(NamedTuple):
    """One suggestion to write: the record, the answer and the model's confidence."""

    record_id: int
    answer: Any
    score: float | None


class SuggestionRow(NamedTuple):
    """A stored suggestion as the library reads it."""

    model: str
    answer: Any
    score: float | None
    source: str
    created_at: datetime


class AnsweredRow(NamedTuple):
    """A current answer with when it was given (for the anchoring measure)."""

    item_id: int
    annotator: str
    answer: Any
    created_at: datetime


def record_ids_by_source(
    session: Session, benchmark_id: int, source_ids: Sequence[str]
) -> dict[str, int]:
    """source id → record id of the benchmark's pool records among ``source_ids``."""
    wanted = sorted(set(source_ids))
    out: dict[str, int] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        stmt = sa_select(col(Record.source_id), col(Record.id)).where(
            col(Record.benchmark_id) == benchmark_id,
            col(Record.source_id).in_(wanted[start : start + _IN_CHUNK]),
        )
        out.update({str(sid): int(rid) for sid, rid in session.execute(stmt)})
    return out


def replace_model_suggestions(
    session: Session,
    *,
    benchmark_id: int,
    model: str,
    rows: Sequence[NewSuggestion],
    source: str,
    at: datetime,
) -> int:
    """Replace every suggestion of ``model`` in the benchmark with ``rows``; returns how
    many were replaced (deleted). Runs in the caller's transaction: all or nothing."""
    gone = session.execute(
        delete(Suggestion).where(
            col(Suggestion.benchmark_id) == benchmark_id, col(Suggestion.model) == model
        )
    )
    if rows:
        session.execute(
            insert(Suggestion),
            [
                {
                    "benchmark_id": benchmark_id,
                    "record_id": r.record_id,
                    "model": model,
                    "answer": r.answer,
                    "score": r.score,
                    "source": source,
                    "created_at": at,
                }
                for r in rows
            ],
        )
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def _row(s: Any) -> SuggestionRow:
    return SuggestionRow(s.model, s.answer, s.score, s.source, s.created_at)


def record_suggestions(session: Session, record_id: int) -> list[SuggestionRow]:
    """Every model's suggestion for one record, by model name."""
    stmt = (
        sa_select(
            col(Suggestion.model),
            col(Suggestion.answer),
            col(Suggestion.score),
            col(Suggestion.source),
            col(Suggestion.created_at),
        )
        .where(col(Suggestion.record_id) == record_id)
        .order_by(col(Suggestion.model))
    )
    return [_row(s) for s in session.execute(stmt)]


def benchmark_suggestions(session: Session, benchmark_id: int) -> dict[int, list[SuggestionRow]]:
    """item id → its record's suggestions (by model name), for the benchmark's items that
    have a current answer (the only ones anchoring is measured on)."""
    stmt = (
        sa_select(
            col(Item.id),
            col(Suggestion.model),
            col(Suggestion.answer),
            col(Suggestion.score),
            col(Suggestion.source),
            col(Suggestion.created_at),
        )
        .join(Suggestion, col(Suggestion.record_id) == col(Item.record_id))
        .where(
            col(Item.benchmark_id) == benchmark_id,
            exists().where(
                col(Annotation.item_id) == col(Item.id), col(Annotation.is_current).is_(True)
            ),
        )
        .order_by(col(Item.id), col(Suggestion.model))
    )
    out: dict[int, list[SuggestionRow]] = {}
    for item_id, *rest in session.execute(stmt):
        out.setdefault(int(item_id), []).append(SuggestionRow(*rest))
    return out


def suggested_items(session: Session, benchmark_id: int) -> int:
    """How many of the benchmark's items have at least one suggestion."""
    stmt = sa_select(func.count()).where(
        col(Item.benchmark_id) == benchmark_id,
        exists().where(col(Suggestion.record_id) == col(Item.record_id)),
    )
    return int(session.execute(stmt).scalar() or 0)


def item_record(session: Session, item_id: int) -> tuple[int, int] | None:
    """(benchmark id, record id) of an item, or None when there is no such item."""
    row = session.execute(
        sa_select(col(Item.benchmark_id), col(Item.record_id)).where(col(Item.id) == item_id)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def holds_item(session: Session, *, item_id: int, annotator_id: int) -> bool:
    """Whether the annotator was handed the item (a lease, open or done) or answered it."""
    leased = exists().where(
        col(Assignment.item_id) == item_id, col(Assignment.annotator_id) == annotator_id
    )
    answered = exists().where(
        col(Annotation.item_id) == item_id, col(Annotation.annotator_id) == annotator_id
    )
    return bool(session.execute(sa_select(or_(leased, answered))).scalar())


def answered_rows(session: Session, benchmark_id: int) -> list[AnsweredRow]:
    """Every current answer to a non-gold item of the benchmark, with when it was given."""
    stmt = (
        sa_select(
            col(Annotation.item_id),
            col(User.name),
            col(Annotation.answer),
            col(Annotation.created_at),
        )
        .join(Item, col(Item.id) == col(Annotation.item_id))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .where(
            col(Item.benchmark_id) == benchmark_id,
            col(Item.is_gold).is_(False),
            col(Annotation.is_current).is_(True),
        )
        .order_by(col(Annotation.item_id), col(Annotation.id))
    )
    return [AnsweredRow(int(i), str(n), a, t) for i, n, a, t in session.execute(stmt)]


def item_inputs(
    session: Session, benchmark_id: int, *, text_field: str
) -> list[tuple[str, dict[str, Any]]]:
    """(source id, record data with the text field) of the benchmark's items, by source id
    (what a model suggests for)."""
    stmt = (
        sa_select(col(Record.source_id), col(Record.data), col(Record.text))
        .join(Item, col(Item.record_id) == col(Record.id))
        .where(col(Item.benchmark_id) == benchmark_id)
        .order_by(col(Record.source_id))
    )
    return [
        (str(sid), with_text(data, text, text_field)) for sid, data, text in session.execute(stmt)
    ]
