"""SQL for the review workflow: users, leases, annotations, decisions and item listings.

Concurrency contract (see ``builder/review/queue.py``): every write that can take a slot of
an item (a lease, a late submit, an import) first locks the item row — ``SELECT … FOR
UPDATE`` on PostgreSQL (``SKIP LOCKED`` when picking from the queue), the database-wide
``BEGIN IMMEDIATE`` write lock on SQLite — and then re-reads the item's assignments in a
fresh statement, so two annotators can never both take the last slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from builder.store.db import Database
from builder.store.models import (
    Annotation,
    Assignment,
    Decision,
    Item,
    Record,
    ReleaseItem,
    User,
)

__all__ = [
    "LeaseRow",
    "active_lease",
    "add_annotation",
    "add_decision",
    "add_user",
    "adjudication_item_ids",
    "completed_count",
    "current_annotations",
    "get_user",
    "get_user_by_id",
    "item_with_record",
    "items_by_source",
    "lease_rows",
    "list_users",
    "lock_item",
    "my_answers",
    "my_current_annotation",
    "pick_gold_item",
    "pick_open_item",
    "released_at_revision",
    "reset_assignments",
    "retire_annotations",
    "set_lease",
    "skip_lease",
    "transaction",
]

OPEN_STATUSES = ("candidate", "in_review")

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


# ---------------------------------------------------------------- users


def get_user(session: Session, name: str) -> User | None:
    """The user called ``name``, if any."""
    return session.execute(select(User).where(col(User.name) == name)).scalars().first()


def get_user_by_id(session: Session, user_id: int) -> User | None:
    """The user with id ``user_id``, if any (always re-read, never the identity map's copy)."""
    return session.get(User, user_id, populate_existing=True)


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


# ---------------------------------------------------------------- queue


class LeaseRow(NamedTuple):
    """One assignment of an item, as the slot arithmetic needs it."""

    annotator_id: int
    completed_at: datetime | None
    skipped_at: datetime | None
    expires_at: datetime

    def holds_slot(self, now: datetime) -> bool:
        """Done, or leased and not yet expired (a skip frees the slot)."""
        return self.completed_at is not None or (self.skipped_at is None and self.expires_at > now)


def _holds_slot(a: Any, now: datetime) -> ColumnElement[bool]:
    return or_(a.c.completed_at.is_not(None), and_(a.c.skipped_at.is_(None), a.c.expires_at > now))


def _slots_taken(now: datetime) -> Any:
    taken = _A.alias("taken")
    return (
        select(func.count())
        .select_from(taken)
        .where(taken.c.item_id == _I.c.id, _holds_slot(taken, now))
        .scalar_subquery()
    )


def active_lease(
    session: Session, *, benchmark_id: int, annotator_id: int, now: datetime
) -> int | None:
    """The item this annotator holds an unexpired, unfinished lease on, if any."""
    stmt = (
        select(_A.c.item_id)
        .join(_I, _I.c.id == _A.c.item_id)
        .where(
            _A.c.annotator_id == annotator_id,
            _A.c.completed_at.is_(None),
            _A.c.skipped_at.is_(None),
            _A.c.expires_at > now,
            _I.c.benchmark_id == benchmark_id,
            # A lease on an item decided meanwhile (rejected, say) is dead.
            or_(_I.c.status.in_(OPEN_STATUSES), _I.c.is_gold.is_(True)),
        )
        .order_by(_A.c.leased_at)
        .limit(1)
    )
    return session.execute(stmt).scalars().first()


def completed_count(session: Session, *, benchmark_id: int, annotator_id: int) -> int:
    """How many items of the benchmark this annotator has answered."""
    stmt = (
        select(func.count())
        .select_from(_A)
        .join(_I, _I.c.id == _A.c.item_id)
        .where(
            _A.c.annotator_id == annotator_id,
            _A.c.completed_at.is_not(None),
            _I.c.benchmark_id == benchmark_id,
        )
    )
    return int(session.execute(stmt).scalar_one())


def pick_open_item(
    session: Session,
    *,
    benchmark_id: int,
    annotator_id: int,
    statuses: Sequence[str],
    per_item: int,
    now: datetime,
    skipped: bool = False,
    exclude: Iterable[int] = (),
) -> int | None:
    """Lowest-id item in ``statuses`` with a free slot this annotator may take, row-locked.

    ``skipped=False`` excludes items the annotator answered or skipped; ``skipped=True``
    offers only the items they skipped, longest-skipped first. On PostgreSQL the row is
    taken ``FOR UPDATE SKIP LOCKED`` so concurrent annotators spread over items instead of
    queueing on one; the caller re-checks the slots with :func:`lease_rows` after the lock.
    """
    mine = _A.alias("mine")
    if skipped:
        stmt = (
            select(_I.c.id)
            .join(mine, and_(mine.c.item_id == _I.c.id, mine.c.annotator_id == annotator_id))
            .where(mine.c.skipped_at.is_not(None), mine.c.completed_at.is_(None))
            .order_by(mine.c.skipped_at, _I.c.id)
        )
    else:
        done = exists().where(
            mine.c.item_id == _I.c.id,
            mine.c.annotator_id == annotator_id,
            or_(mine.c.completed_at.is_not(None), mine.c.skipped_at.is_not(None)),
        )
        stmt = select(_I.c.id).where(~done).order_by(_I.c.id)
    stmt = stmt.where(
        _I.c.benchmark_id == benchmark_id,
        _I.c.status == statuses[0] if len(statuses) == 1 else _I.c.status.in_(list(statuses)),
        _slots_taken(now) < per_item,
    )
    excluded = list(exclude)
    if excluded:
        stmt = stmt.where(_I.c.id.not_in(excluded))
    stmt = stmt.limit(1).with_for_update(of=_I, skip_locked=True)
    return session.execute(stmt).scalars().first()


def pick_gold_item(session: Session, *, benchmark_id: int, annotator_id: int) -> int | None:
    """A gold item this annotator has neither answered nor skipped (gold has no slot limit)."""
    mine = _A.alias("mine")
    seen = exists().where(mine.c.item_id == _I.c.id, mine.c.annotator_id == annotator_id)
    stmt = (
        select(_I.c.id)
        .where(_I.c.benchmark_id == benchmark_id, _I.c.is_gold.is_(True), ~seen)
        .order_by(_I.c.id)
        .limit(1)
    )
    return session.execute(stmt).scalars().first()


def lease_rows(session: Session, item_id: int) -> list[LeaseRow]:
    """Every assignment of the item (a fresh read: call it after locking the item)."""
    stmt = select(_A.c.annotator_id, _A.c.completed_at, _A.c.skipped_at, _A.c.expires_at).where(
        _A.c.item_id == item_id
    )
    return [LeaseRow(*row) for row in session.execute(stmt)]


def set_lease(
    session: Session,
    *,
    item_id: int,
    annotator_id: int,
    now: datetime,
    expires_at: datetime,
    completed: bool = False,
) -> None:
    """Lease (or, with ``completed``, close) the annotator's slot, reusing an old row."""
    values = {
        "leased_at": now,
        "expires_at": expires_at,
        "completed_at": now if completed else None,
        "skipped_at": None,
    }
    stmt = (
        update(_A)
        .where(_A.c.item_id == item_id, _A.c.annotator_id == annotator_id)
        .values(**values)
    )
    if session.execute(stmt).rowcount == 0:  # type: ignore[attr-defined]
        session.add(
            Assignment(
                item_id=item_id,
                annotator_id=annotator_id,
                leased_at=now,
                expires_at=expires_at,
                completed_at=now if completed else None,
            )
        )
        session.flush()


def skip_lease(session: Session, *, item_id: int, annotator_id: int, now: datetime) -> bool:
    """Free the annotator's unfinished lease; False when there was none to skip."""
    stmt = (
        update(_A)
        .where(
            _A.c.item_id == item_id,
            _A.c.annotator_id == annotator_id,
            _A.c.completed_at.is_(None),
            _A.c.skipped_at.is_(None),
        )
        .values(skipped_at=now, expires_at=now)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def reset_assignments(session: Session, item_id: int, now: datetime) -> None:
    """Free every slot of an item sent back for another round (its annotators may answer again)."""
    stmt = (
        update(_A)
        .where(_A.c.item_id == item_id)
        .values(completed_at=None, skipped_at=None, expires_at=now)
    )
    session.execute(stmt)


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


def my_current_annotation(session: Session, item_id: int, annotator_id: int) -> Annotation | None:
    """The annotator's current answer to the item, if any."""
    stmt = select(Annotation).where(
        col(Annotation.item_id) == item_id,
        col(Annotation.annotator_id) == annotator_id,
        col(Annotation.is_current).is_(True),
    )
    return session.execute(stmt).scalars().first()


def add_annotation(
    session: Session,
    *,
    item_id: int,
    annotator_id: int,
    answer: Any,
    flags: list[str],
    comment: str,
    supersedes: Annotation | None,
) -> Annotation:
    """Append an answer; a revision retires the row it supersedes (rows are never edited)."""
    if supersedes is not None:
        session.execute(update(_N).where(_N.c.id == supersedes.id).values(is_current=False))
    row = Annotation(
        item_id=item_id,
        annotator_id=annotator_id,
        answer=answer,
        flags=flags,
        comment=comment,
        supersedes_id=supersedes.id if supersedes is not None else None,
    )
    session.add(row)
    session.flush()
    return row


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
