"""Annotations: append-only answers (an edit supersedes the old row, which stays for history)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session, col

from builder.domain import ItemStatus
from builder.store.db import run_core
from builder.store.items import RELEASABLE
from builder.store.models import Annotation, Item, Record, User, as_text, members

__all__ = [
    "AnswerRow",
    "CurrentRow",
    "ExportAnnotation",
    "add_annotation",
    "annotation_history",
    "answer_rows",
    "current_annotations",
    "current_answers",
    "current_rows",
    "export_annotations",
    "has_answered",
    "my_answers",
    "my_current_annotation",
    "releasable_answers",
    "retire_annotations",
]

_I = Item.__table__  # type: ignore[attr-defined]
_N = Annotation.__table__  # type: ignore[attr-defined]
_STATUS = members(ItemStatus)  # bulk reads map the status text here (see EnumText)


# ---------------------------------------------------------------- one item


def current_annotations(session: Session, item_id: int) -> list[tuple[Annotation, str]]:
    """The item's current answers with their annotators' names, oldest first."""
    stmt = (
        select(Annotation, col(User.name))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .where(col(Annotation.item_id) == item_id, col(Annotation.is_current).is_(True))
        .order_by(col(Annotation.id))
    )
    return [(a, name) for a, name in session.execute(stmt)]


@functools.cache
def _q_current_answers() -> Any:
    return (
        select(_N.c.answer, _N.c.flags)
        .where(_N.c.item_id == bindparam("item"), _N.c.is_current.is_(True))
        .order_by(_N.c.id)
    )


def current_answers(session: Session, item_id: int) -> list[tuple[Any, list[str]]]:
    """(answer, flags) of the item's current answers, oldest first."""
    return [(a, list(f)) for a, f in run_core(session, _q_current_answers(), {"item": item_id})]


class CurrentRow(NamedTuple):
    """One current answer of an item, as a submit needs it."""

    id: int
    annotator_id: int
    answer: Any
    flags: list[str]
    comment: str


@functools.cache
def _q_current_rows() -> Any:
    cols = (_N.c.id, _N.c.annotator_id, _N.c.answer, _N.c.flags, _N.c.comment)
    return (
        select(*cols)
        .where(_N.c.item_id == bindparam("item"), _N.c.is_current.is_(True))
        .order_by(_N.c.id)
    )


def current_rows(session: Session, item_id: int) -> list[CurrentRow]:
    """Every current answer of the item, oldest first, in one read: a submit finds the
    annotator's own answer among them and hands the rest to the consensus policy, instead
    of asking twice (call it after locking the item, so the set cannot change meanwhile)."""
    rows = run_core(session, _q_current_rows(), {"item": item_id})
    return [CurrentRow(int(i), int(u), a, list(f), c) for i, u, a, f, c in rows]


def my_current_annotation(session: Session, item_id: int, annotator_id: int) -> Annotation | None:
    """The annotator's current answer to the item, if any."""
    stmt = select(Annotation).where(
        col(Annotation.item_id) == item_id,
        col(Annotation.annotator_id) == annotator_id,
        col(Annotation.is_current).is_(True),
    )
    return session.execute(stmt).scalars().first()


def has_answered(session: Session, item_id: int, annotator_id: int) -> bool:
    """Whether the user ever answered the item (current, superseded or sent-back answers)."""
    stmt = select(_N.c.id).where(_N.c.item_id == item_id, _N.c.annotator_id == annotator_id)
    return session.execute(stmt.limit(1)).first() is not None


def annotation_history(session: Session, item_id: int) -> list[tuple[Annotation, str]]:
    """Every answer ever given to the item (superseded ones too), oldest first."""
    stmt = (
        select(Annotation, col(User.name))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .where(col(Annotation.item_id) == item_id)
        .order_by(col(Annotation.id))
    )
    return [(a, name) for a, name in session.execute(stmt)]


# ---------------------------------------------------------------- writes


@functools.cache
def _q_add_annotation() -> tuple[Any, Any]:
    retire = update(_N).where(_N.c.id == bindparam("old")).values(is_current=False)
    add = (
        insert(_N)
        .values(
            item_id=bindparam("item"),
            annotator_id=bindparam("uid"),
            answer=bindparam("answer", type_=_N.c.answer.type),
            flags=bindparam("flags", type_=_N.c.flags.type),
            comment=bindparam("comment"),
            supersedes_id=bindparam("old"),
            is_current=True,
            created_at=bindparam("now", type_=_N.c.created_at.type),
        )
        .returning(_N.c.id)
    )
    return retire, add


def add_annotation(
    session: Session,
    *,
    item_id: int,
    annotator_id: int,
    answer: Any,
    flags: list[str],
    comment: str,
    supersedes: int | None,
    now: datetime,
) -> int:
    """Append an answer and return its id; a revision retires the row it supersedes (rows
    are never edited otherwise)."""
    retire, add = _q_add_annotation()
    if supersedes is not None:
        run_core(session, retire, {"old": supersedes})
    params = {"item": item_id, "uid": annotator_id, "answer": answer, "flags": flags,
              "comment": comment, "old": supersedes, "now": now}  # fmt: skip
    return int(run_core(session, add, params).scalar_one())


def retire_annotations(session: Session, item_id: int) -> int:
    """Mark the item's current answers as no longer current (kept for history)."""
    stmt = (
        update(_N)
        .where(_N.c.item_id == item_id, _N.c.is_current.is_(True))
        .values(is_current=False)
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- per benchmark


def my_answers(
    session: Session, *, benchmark_id: int, annotator_id: int, limit: int
) -> list[tuple[Annotation, Item, str]]:
    """The annotator's current answers, newest first, with the item and its source id."""
    stmt = (
        select(Annotation, Item, col(Record.source_id))
        .join(Item, col(Item.id) == col(Annotation.item_id))
        .join(Record, col(Record.id) == col(Item.record_id))
        .where(
            col(Annotation.annotator_id) == annotator_id,
            col(Annotation.is_current).is_(True),
            col(Item.benchmark_id) == benchmark_id,
        )
        .order_by(col(Annotation.id).desc())
        .limit(limit)
    )
    return [(a, i, sid) for a, i, sid in session.execute(stmt)]


class AnswerRow(NamedTuple):
    """A current answer, for agreement and gold accuracy."""

    item_id: int
    annotator: str
    answer: Any
    is_gold: bool
    gold_answer: Any
    final_answer: Any
    status: ItemStatus


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
            as_text(_I.c.status),
        )
        .join(_I, _I.c.id == _N.c.item_id)
        .join(User, col(User.id) == _N.c.annotator_id)
        .where(_I.c.benchmark_id == benchmark_id, _N.c.is_current.is_(True))
        .order_by(_N.c.item_id, _N.c.id)
    )
    return [
        AnswerRow(i, who, ans, gold, gold_ans, final, _STATUS[st])
        for i, who, ans, gold, gold_ans, final, st in session.execute(stmt)
    ]


def releasable_answers(
    session: Session, *, benchmark_id: int, item_ids: Sequence[int]
) -> dict[int, list[tuple[int, Any]]]:
    """item id → [(annotator id, answer)] of the current answers to the given releasable
    (approved or released) items, each list by annotator id."""
    wanted = set(item_ids)
    stmt = (
        select(col(Annotation.item_id), col(Annotation.annotator_id), col(Annotation.answer))
        .join(Item, col(Item.id) == col(Annotation.item_id))
        .where(
            col(Item.benchmark_id) == benchmark_id,
            col(Item.status).in_(RELEASABLE),
            col(Annotation.is_current).is_(True),
        )
        .order_by(col(Annotation.item_id), col(Annotation.annotator_id), col(Annotation.id))
    )
    out: dict[int, list[tuple[int, Any]]] = {}
    for item_id, annotator_id, answer in session.execute(stmt):
        if item_id in wanted:
            out.setdefault(int(item_id), []).append((int(annotator_id), answer))
    return out


class ExportAnnotation(NamedTuple):
    """An answer with the names an audit needs."""

    annotation: Annotation
    source_id: str
    annotator: str


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
