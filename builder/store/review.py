"""SQL for the review workflow: users, benchmarks by name, items, annotations, decisions.

The queue's leases live in ``builder/store/leases.py``; read-only listings for the
dashboard and exports in ``builder/store/review_views.py``. :func:`transaction` is the
session every review action runs in.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session, col

from builder.store.db import Database
from builder.store.models import (
    Annotation,
    Assignment,
    Benchmark,
    Decision,
    Item,
    Record,
    ReleaseItem,
    User,
)

__all__ = [
    "add_annotation",
    "add_decision",
    "add_user",
    "adjudication_item_ids",
    "benchmark_refs",
    "benchmark_spec",
    "current_annotations",
    "current_answers",
    "get_user",
    "get_user_by_id",
    "item_view",
    "item_with_record",
    "items_by_source",
    "list_users",
    "lock_item",
    "my_answers",
    "my_current_annotation",
    "released_at_revision",
    "retire_annotations",
    "transaction",
    "user_state",
]

_A = Assignment.__table__  # type: ignore[attr-defined]
_I = Item.__table__  # type: ignore[attr-defined]
_N = Annotation.__table__  # type: ignore[attr-defined]

# SQLite serialises writers anyway (BEGIN IMMEDIATE). Queuing this process's threads on a
# lock first replaces SQLite's sleep-and-retry busy handler (sleeps of up to 100 ms) with a
# prompt hand-over; other processes still wait through busy_timeout.
_SQLITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_LOCKS_GUARD = threading.Lock()


@contextmanager
def transaction(db: Database) -> Iterator[Session]:
    """A committed-or-rolled-back session; on SQLite, threads of this process take turns."""
    if not db.is_sqlite:
        with db.session() as session:
            yield session
        return
    with _SQLITE_LOCKS_GUARD:
        lock = _SQLITE_LOCKS.setdefault(db.url, threading.Lock())
    with lock, db.session() as session:
        yield session


def _run(session: Session, stmt: Any, params: dict[str, Any] | None = None) -> Any:
    # Core statements go straight to the session's connection: the ORM execution path costs
    # a few hundred microseconds a statement, more than SQLite takes to run most of these.
    return session.connection().execute(stmt, params or {})


# ---------------------------------------------------------------- users


def get_user(session: Session, name: str) -> User | None:
    """The user called ``name``, if any."""
    return session.execute(select(User).where(col(User.name) == name)).scalars().first()


def get_user_by_id(session: Session, user_id: int) -> User | None:
    """The user with id ``user_id``, if any (always re-read, never the identity map's copy)."""
    return session.get(User, user_id, populate_existing=True)


@functools.cache
def _q_user_state() -> Any:
    u = User.__table__  # type: ignore[attr-defined]
    return select(u.c.name, u.c.role, u.c.disabled).where(u.c.id == bindparam("uid"))


def user_state(session: Session, user_id: int) -> tuple[str, str, bool] | None:
    """(name, role, disabled) of a user, read fresh (the role check on every action)."""
    row = _run(session, _q_user_state(), {"uid": user_id}).first()
    return (row[0], row[1], bool(row[2])) if row is not None else None


class BenchRef(NamedTuple):
    """A benchmark's identity and the hash of its spec (the spec itself is cached by hash)."""

    id: int
    name: str
    spec_hash: str


@functools.cache
def _q_bench(by: str) -> Any:
    b = Benchmark.__table__  # type: ignore[attr-defined]
    stmt = select(b.c.id, b.c.name, b.c.spec_hash)
    return stmt.where(b.c[by] == bindparam("key")) if by else stmt.order_by(b.c.name)


def benchmark_refs(
    session: Session, *, name: str | None = None, id: int | None = None
) -> list[BenchRef]:
    """The benchmark called ``name`` (or with ``id``), or every benchmark by name."""
    by, key = ("name", name) if name is not None else ("id", id) if id is not None else ("", None)
    return [BenchRef(*row) for row in _run(session, _q_bench(by), {"key": key})]


def benchmark_spec(session: Session, benchmark_id: int) -> dict[str, Any]:
    """The stored spec of a benchmark (JSON)."""
    b = Benchmark.__table__  # type: ignore[attr-defined]
    return dict(session.execute(select(b.c.spec).where(b.c.id == benchmark_id)).scalar_one())


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.execute(select(User).order_by(col(User.name))).scalars())


def add_user(session: Session, *, name: str, role: str, password_hash: str | None) -> User:
    """Insert a user (the caller checked the name is free)."""
    user = User(name=name, role=role, password_hash=password_hash)
    session.add(user)
    session.flush()
    return user


# ---------------------------------------------------------------- items


def lock_item(session: Session, item_id: int) -> Item | None:
    """The item, row-locked until commit on PostgreSQL (SQLite holds the write lock already)."""
    stmt = (
        select(Item)
        .where(col(Item.id) == item_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalars().first()


def item_with_record(session: Session, item_id: int) -> tuple[Item, Record] | None:
    """The item and the pool record it was made from."""
    stmt = (
        select(Item, Record)
        .join(Record, col(Record.id) == col(Item.record_id))
        .where(col(Item.id) == item_id)
    )
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row is not None else None


class ItemView(NamedTuple):
    """What an annotator is shown of an item (read without building ORM objects)."""

    item_id: int
    source_id: str
    text: str | None
    """Redacted text, when curation redacted it."""
    flags: dict[str, Any]
    record_text: str
    data: dict[str, Any]


@functools.cache
def _q_item_view() -> Any:
    r = Record.__table__  # type: ignore[attr-defined]
    return (
        select(_I.c.id, r.c.source_id, _I.c.text, _I.c.flags, r.c.text, r.c.data)
        .join(r, r.c.id == _I.c.record_id)
        .where(_I.c.id == bindparam("item"))
    )


def item_view(session: Session, item_id: int) -> ItemView | None:
    """The item with its record's fields."""
    row = _run(session, _q_item_view(), {"item": item_id}).first()
    return ItemView(*row) if row is not None else None


def items_by_source(
    session: Session, benchmark_id: int, source_ids: Sequence[str]
) -> dict[str, Item]:
    """source id → item, for the ids that are items of the benchmark."""
    out: dict[str, Item] = {}
    ids = list(dict.fromkeys(source_ids))
    for start in range(0, len(ids), 500):
        stmt = (
            select(col(Record.source_id), Item)
            .join(Item, col(Item.record_id) == col(Record.id))
            .where(col(Item.benchmark_id) == benchmark_id)
            .where(col(Record.source_id).in_(ids[start : start + 500]))
        )
        out.update({sid: item for sid, item in session.execute(stmt)})
    return out


def released_at_revision(session: Session, item_id: int, revision: int) -> bool:
    """Whether some release holds this exact revision of the item."""
    stmt = select(col(ReleaseItem.release_id)).where(
        col(ReleaseItem.item_id) == item_id, col(ReleaseItem.revision) == revision
    )
    return session.execute(stmt.limit(1)).first() is not None


def adjudication_item_ids(
    session: Session, benchmark_id: int, statuses: Sequence[str], limit: int
) -> list[int]:
    """Items waiting for a reviewer, oldest first."""
    stmt = (
        select(_I.c.id)
        .where(_I.c.benchmark_id == benchmark_id, _I.c.status.in_(list(statuses)))
        .order_by(_I.c.updated_at, _I.c.id)
        .limit(limit)
    )
    return [int(i) for i in session.execute(stmt).scalars()]


# ---------------------------------------------------------------- annotations


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
    return [(a, list(f)) for a, f in _run(session, _q_current_answers(), {"item": item_id})]


def my_current_annotation(session: Session, item_id: int, annotator_id: int) -> Annotation | None:
    """The annotator's current answer to the item, if any."""
    stmt = select(Annotation).where(
        col(Annotation.item_id) == item_id,
        col(Annotation.annotator_id) == annotator_id,
        col(Annotation.is_current).is_(True),
    )
    return session.execute(stmt).scalars().first()


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
        _run(session, retire, {"old": supersedes})
    params = {"item": item_id, "uid": annotator_id, "answer": answer, "flags": flags,
              "comment": comment, "old": supersedes, "now": now}  # fmt: skip
    return int(_run(session, add, params).scalar_one())


def retire_annotations(session: Session, item_id: int) -> int:
    """Mark the item's current answers as no longer current (kept for history)."""
    stmt = (
        update(_N)
        .where(_N.c.item_id == item_id, _N.c.is_current.is_(True))
        .values(is_current=False)
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


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


# ---------------------------------------------------------------- decisions


def add_decision(
    session: Session,
    *,
    item_id: int,
    reviewer_id: int | None,
    verdict: str,
    answer: Any,
    reason: str,
) -> Decision:
    """Append a decision row."""
    row = Decision(
        item_id=item_id, reviewer_id=reviewer_id, verdict=verdict, answer=answer, reason=reason
    )
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- dashboard and export
