"""SQL of the labeling queue: leases (assignments), picking the next item, skipping.

Concurrency contract (see ``builder/review/queue.py``): every write that can take a slot of
an item (a lease, a late submit, an import) first locks the item row — ``SELECT … FOR
UPDATE`` on PostgreSQL (``SKIP LOCKED`` when picking from the queue), the database-wide
``BEGIN IMMEDIATE`` write lock on SQLite — and then re-reads the item's assignments with
:func:`lease_rows` in a fresh statement, so two annotators can never both take the last slot.

The statements are built once, with bind parameters: building SQLAlchemy expressions costs
more than SQLite takes to run them, and these run on every click.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from builder.domain import ItemStatus
from builder.store.db import run_core
from builder.store.models import Assignment, Item, User

__all__ = [
    "LeaseRow",
    "active_lease",
    "answers_given",
    "close_own_lease",
    "completed_count",
    "has_gold",
    "lease_rows",
    "pick_gold_item",
    "pick_open_item",
    "reset_assignments",
    "set_lease",
    "skip_lease",
    "work_log",
]

OPEN_STATUSES = (ItemStatus.candidate, ItemStatus.in_review)

_A = Assignment.__table__  # type: ignore[attr-defined]
_I = Item.__table__  # type: ignore[attr-defined]


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


def _holds_slot(a: Any, now: Any) -> ColumnElement[bool]:
    return or_(a.c.completed_at.is_not(None), and_(a.c.skipped_at.is_(None), a.c.expires_at > now))


# The queue's statements are built once, with bind parameters: building SQLAlchemy
# expressions costs more than SQLite takes to run them, and these run on every click.
def _now() -> Any:
    return bindparam("now", type_=_A.c.expires_at.type)


@functools.cache
def _q_active_lease() -> Any:
    return (
        select(_A.c.item_id)
        .join(_I, _I.c.id == _A.c.item_id)
        .where(
            _A.c.annotator_id == bindparam("uid"),
            _A.c.completed_at.is_(None),
            _A.c.skipped_at.is_(None),
            _A.c.expires_at > _now(),
            _I.c.benchmark_id == bindparam("bench"),
            # A lease on an item decided meanwhile (rejected, say) is dead.
            or_(_I.c.status.in_(OPEN_STATUSES), _I.c.is_gold.is_(True)),
        )
        .order_by(_A.c.leased_at)
        .limit(1)
    )


def active_lease(
    session: Session, *, benchmark_id: int, annotator_id: int, now: datetime
) -> int | None:
    """The item this annotator holds an unexpired, unfinished lease on, if any."""
    params = {"uid": annotator_id, "bench": benchmark_id, "now": now}
    return run_core(session, _q_active_lease(), params).scalar()


@functools.cache
def _q_completed(per_annotator: bool) -> Any:
    """Finished slots in the benchmark (``bench``): everyone's, or one annotator's (``uid``)."""
    where = [_A.c.completed_at.is_not(None), _I.c.benchmark_id == bindparam("bench")]
    if per_annotator:
        where.insert(0, _A.c.annotator_id == bindparam("uid"))
    return select(func.count()).select_from(_A).join(_I, _I.c.id == _A.c.item_id).where(*where)


def completed_count(session: Session, *, benchmark_id: int, annotator_id: int) -> int:
    """How many items of the benchmark this annotator has answered."""
    params = {"uid": annotator_id, "bench": benchmark_id}
    return int(run_core(session, _q_completed(True), params).scalar_one())


def answers_given(session: Session, benchmark_id: int) -> int:
    """How many answers everyone together has given in the benchmark (finished slots)."""
    return int(run_core(session, _q_completed(False), {"bench": benchmark_id}).scalar_one())


@functools.cache
def _q_pick(statuses: tuple[ItemStatus, ...], skipped: bool, excluding: bool) -> Any:
    mine, taken = _A.alias("mine"), _A.alias("taken")
    uid: Any = bindparam("uid")
    if skipped:
        stmt = (
            select(_I.c.id)
            .join(mine, and_(mine.c.item_id == _I.c.id, mine.c.annotator_id == uid))
            .where(mine.c.skipped_at.is_not(None), mine.c.completed_at.is_(None))
            .order_by(mine.c.skipped_at, _I.c.id)
        )
    else:
        done = exists().where(
            mine.c.item_id == _I.c.id,
            mine.c.annotator_id == uid,
            or_(mine.c.completed_at.is_not(None), mine.c.skipped_at.is_not(None)),
        )
        stmt = select(_I.c.id).where(~done).order_by(_I.c.id)
    slots_taken = (
        select(func.count())
        .select_from(taken)
        .where(taken.c.item_id == _I.c.id, _holds_slot(taken, _now()))
        .scalar_subquery()
    )
    stmt = stmt.where(
        _I.c.benchmark_id == bindparam("bench"),
        _I.c.status == statuses[0] if len(statuses) == 1 else _I.c.status.in_(statuses),
        slots_taken < bindparam("k"),
    )
    if excluding:
        stmt = stmt.where(_I.c.id.not_in(bindparam("exclude", expanding=True)))
    return stmt.limit(1).with_for_update(of=_I, skip_locked=True)


def pick_open_item(
    session: Session,
    *,
    benchmark_id: int,
    annotator_id: int,
    statuses: Sequence[ItemStatus],
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
    excluded = list(exclude)
    stmt = _q_pick(tuple(statuses), skipped, bool(excluded))
    params: dict[str, Any] = {"uid": annotator_id, "bench": benchmark_id, "now": now,
                              "k": per_item}  # fmt: skip
    if excluded:
        params["exclude"] = excluded
    return run_core(session, stmt, params).scalar()


@functools.cache
def _q_gold() -> Any:
    mine = _A.alias("mine")
    seen = exists().where(mine.c.item_id == _I.c.id, mine.c.annotator_id == bindparam("uid"))
    return (
        select(_I.c.id)
        .where(_I.c.benchmark_id == bindparam("bench"), _I.c.is_gold.is_(True), ~seen)
        .order_by(_I.c.id)
        .limit(1)
    )


@functools.cache
def _q_has_gold() -> Any:
    return (
        select(_I.c.id)
        .where(_I.c.benchmark_id == bindparam("bench"), _I.c.is_gold.is_(True))
        .limit(1)
    )


def has_gold(session: Session, benchmark_id: int) -> bool:
    """Whether the benchmark has any gold item (an index probe)."""
    return run_core(session, _q_has_gold(), {"bench": benchmark_id}).first() is not None


def pick_gold_item(session: Session, *, benchmark_id: int, annotator_id: int) -> int | None:
    """A gold item this annotator has neither answered nor skipped (gold has no slot limit)."""
    return run_core(session, _q_gold(), {"uid": annotator_id, "bench": benchmark_id}).scalar()


@functools.cache
def _q_leases() -> Any:
    return select(_A.c.annotator_id, _A.c.completed_at, _A.c.skipped_at, _A.c.expires_at).where(
        _A.c.item_id == bindparam("item")
    )


def lease_rows(session: Session, item_id: int) -> list[LeaseRow]:
    """Every assignment of the item (a fresh read: call it after locking the item)."""
    return [LeaseRow(*row) for row in run_core(session, _q_leases(), {"item": item_id})]


@functools.cache
def _q_set_lease() -> tuple[Any, Any]:
    values = {
        "leased_at": bindparam("now", type_=_A.c.leased_at.type),
        "expires_at": bindparam("until", type_=_A.c.expires_at.type),
        "completed_at": bindparam("done", type_=_A.c.completed_at.type),
        "skipped_at": None,
    }
    upd = (
        update(_A)
        .where(_A.c.item_id == bindparam("item"), _A.c.annotator_id == bindparam("uid"))
        .values(**values)
    )
    ins = insert(_A).values(item_id=bindparam("item"), annotator_id=bindparam("uid"), **values)
    return upd, ins


def set_lease(
    session: Session,
    *,
    item_id: int,
    annotator_id: int,
    now: datetime,
    expires_at: datetime,
    completed: bool = False,
    exists: bool | None = None,
) -> None:
    """Lease (or, with ``completed``, close) the annotator's slot, reusing an old row.

    ``exists`` says whether the annotator already has a row for the item, when the caller
    knows from :func:`lease_rows` (saves a round trip); None: find out.
    """
    upd, ins = _q_set_lease()
    params = {"item": item_id, "uid": annotator_id, "now": now, "until": expires_at,
              "done": now if completed else None}  # fmt: skip
    if exists is False or run_core(session, upd, params).rowcount == 0:
        run_core(session, ins, params)


@functools.cache
def _q_close_own() -> Any:
    now = _now()
    return (
        update(_A)
        .where(
            _A.c.item_id == bindparam("item"),
            _A.c.annotator_id == bindparam("uid"),
            _A.c.completed_at.is_(None),
            _A.c.skipped_at.is_(None),
            _A.c.expires_at > now,
        )
        .values(completed_at=now, expires_at=now)
    )


def close_own_lease(session: Session, *, item_id: int, annotator_id: int, now: datetime) -> bool:
    """Mark the annotator's live lease on the item done, in one statement; False when they
    hold none (expired, skipped, never leased): the caller then re-reads the slots with
    :func:`lease_rows`. ``leased_at`` stays, so the lease spans the time spent on the item."""
    params = {"item": item_id, "uid": annotator_id, "now": now}
    return bool(run_core(session, _q_close_own(), params).rowcount)


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
    return bool(run_core(session, stmt).rowcount)


def reset_assignments(session: Session, item_id: int, now: datetime) -> None:
    """Free every slot of an item sent back for another round (its annotators may answer again)."""
    stmt = (
        update(_A)
        .where(_A.c.item_id == item_id)
        .values(completed_at=None, skipped_at=None, expires_at=now)
    )
    run_core(session, stmt)


def work_log(session: Session, benchmark_id: int) -> list[tuple[str, datetime, datetime]]:
    """(annotator, leased_at, completed_at) of every finished assignment."""
    stmt = (
        select(col(User.name), _A.c.leased_at, _A.c.completed_at)
        .join(_I, _I.c.id == _A.c.item_id)
        .join(User, col(User.id) == _A.c.annotator_id)
        .where(_I.c.benchmark_id == benchmark_id, _A.c.completed_at.is_not(None))
    )
    return [(n, a, b) for n, a, b in session.execute(stmt)]
