"""Items: the records a curation run chose, their status, flags and final answer.

Bulk reads return plain tuples/dataclasses, not ORM objects: a release of 100,000 items
must not build 100,000 tracked instances.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Text, bindparam, func, type_coerce, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlmodel import Session, col, select

from builder.domain import ItemStatus
from builder.errors import StoreError
from builder.store.db import run_core
from builder.store.models import Annotation, Benchmark, Item, Record, as_text, members, utcnow
from builder.store.pool import with_text

__all__ = [
    "RELEASABLE",
    "ApprovedItem",
    "ExistingItem",
    "ItemRow",
    "ItemView",
    "NewItem",
    "add_items",
    "adjudication_item_ids",
    "approved_items",
    "approved_rows",
    "existing_items",
    "item_counts",
    "item_view",
    "item_with_record",
    "items_by_source",
    "list_items",
    "lock_item",
    "released_texts",
    "update_item_placement",
]

RELEASABLE: tuple[ItemStatus, ...] = (ItemStatus.approved, ItemStatus.released)
"""Item statuses a release freezes: approved, and released items that stay approved."""

_I = Item.__table__  # type: ignore[attr-defined]
_N = Annotation.__table__  # type: ignore[attr-defined]
_IN_CHUNK = 900  # ids per IN (...) list: far below every backend's parameter limit
_STATUS = members(ItemStatus)  # bulk reads map the status text here (see EnumText)


# ---------------------------------------------------------------- one item


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
        sa_select(_I.c.id, r.c.source_id, _I.c.text, _I.c.flags, r.c.text, r.c.data)
        .join(r, r.c.id == _I.c.record_id)
        .where(_I.c.id == bindparam("item"))
    )


def item_view(session: Session, item_id: int) -> ItemView | None:
    """The item with its record's fields."""
    row = run_core(session, _q_item_view(), {"item": item_id}).first()
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


# ---------------------------------------------------------------- listings and counts


def item_counts(session: Session, benchmark_id: int) -> dict[str, int]:
    """Items per status."""
    stmt = (
        select(Item.status, func.count())
        .where(Item.benchmark_id == benchmark_id)
        .group_by(Item.status)
        .order_by(Item.status)
    )
    # Plain strings: the counts are printed and serialised as they are.
    return {str(status): int(n) for status, n in session.exec(stmt)}


def adjudication_item_ids(
    session: Session,
    benchmark_id: int,
    statuses: Sequence[ItemStatus],
    limit: int,
    *,
    not_answered_by: int | None = None,
) -> list[int]:
    """Items waiting for a reviewer, oldest first; ``not_answered_by`` leaves out the items
    that user ever answered (current, superseded or sent-back answers alike)."""
    stmt = (
        sa_select(_I.c.id)
        .where(_I.c.benchmark_id == benchmark_id, _I.c.status.in_(list(statuses)))
        .order_by(_I.c.updated_at, _I.c.id)
        .limit(limit)
    )
    if not_answered_by is not None:
        mine = sa_select(_N.c.id).where(
            _N.c.item_id == _I.c.id, _N.c.annotator_id == not_answered_by
        )
        stmt = stmt.where(~mine.exists())
    return [int(i) for i in session.execute(stmt).scalars()]


class ItemRow(NamedTuple):
    """One line of ``items list``."""

    item_id: int
    source_id: str
    status: ItemStatus
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
        sa_select(func.count())
        .select_from(_N)
        .where(_N.c.item_id == _I.c.id, _N.c.is_current.is_(True))
        .scalar_subquery()
    )
    stmt = (
        sa_select(
            _I.c.id,
            col(Record.source_id),
            as_text(_I.c.status),
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
    return [
        ItemRow(i, sid, _STATUS[st], rev, cl, gold, ans, n)
        for i, sid, st, rev, cl, gold, ans, n in session.execute(stmt)
    ]


def approved_rows(session: Session, benchmark_id: int) -> list[tuple[int, int | None, Any]]:
    """(item id, cluster, final answer) of approved and released items."""
    stmt = sa_select(_I.c.id, _I.c.cluster, _I.c.answer).where(
        _I.c.benchmark_id == benchmark_id, _I.c.status.in_(RELEASABLE)
    )
    return [(i, c, a) for i, c, a in session.execute(stmt)]


# ---------------------------------------------------------------- curation


@dataclass(frozen=True, slots=True)
class ExistingItem:
    """An item already in the benchmark (any status)."""

    id: int
    record_id: int
    status: ItemStatus


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item a curation run adds."""

    record_id: int
    text: str | None
    cluster: int | None
    stratum: str | None
    reason: str
    weight: float
    flags: dict[str, Any]


def existing_items(session: Session, benchmark_id: int) -> list[ExistingItem]:
    """Every item of the benchmark, whatever its status, by id."""
    stmt = (
        sa_select(col(Item.id), col(Item.record_id), as_text(col(Item.status)))
        .where(col(Item.benchmark_id) == benchmark_id)
        .order_by(col(Item.id))
    )
    return [
        ExistingItem(id=int(i), record_id=int(r), status=_STATUS[s])
        for i, r, s in session.execute(stmt)
    ]


def released_texts(session: Session, *, chunk: int = 2000) -> Iterator[tuple[str, str]]:
    """(source name, text) of every released item in the workspace (redacted text if any)."""
    last = 0
    while True:
        stmt = (
            sa_select(
                col(Item.id),
                col(Benchmark.name),
                col(Record.source_id),
                col(Item.text),
                col(Record.text),
            )
            .join(Record, col(Record.id) == col(Item.record_id))
            .join(Benchmark, col(Benchmark.id) == col(Item.benchmark_id))
            .where(col(Item.status) == ItemStatus.released, col(Item.id) > last)
            .order_by(col(Item.id))
            .limit(chunk)
        )
        rows = session.execute(stmt).all()
        if not rows:
            return
        for _id, bench, source_id, item_text, record_text in rows:
            yield f"released item {bench}/{source_id}", item_text or record_text
        last = rows[-1][0]


def add_items(
    session: Session, *, benchmark_id: int, run_id: int, items: Sequence[NewItem]
) -> list[int]:
    """Insert candidate items picked by run ``run_id``; returns their ids in order.

    Refuses (StoreError) when one of the records became an item meanwhile, e.g. by a
    concurrent curate run: the caller's transaction is then rolled back whole.
    """
    ids = [it.record_id for it in items]
    taken: list[int] = []
    for start in range(0, len(ids), _IN_CHUNK):
        stmt = select(Item.record_id).where(
            Item.benchmark_id == benchmark_id,
            col(Item.record_id).in_(ids[start : start + _IN_CHUNK]),
        )
        taken.extend(session.exec(stmt))
    if taken:
        raise StoreError(
            f"{len(taken)} picked record(s) became items while this run was working (another "
            "curate ran at the same time?); nothing was added, run curate again"
        )
    rows = [
        Item(
            benchmark_id=benchmark_id,
            record_id=it.record_id,
            status=ItemStatus.candidate,
            text=it.text,
            cluster=it.cluster,
            stratum=it.stratum,
            reason=it.reason,
            weight=it.weight,
            flags=it.flags,
            run_id=run_id,
        )
        for it in items
    ]
    session.add_all(rows)
    try:
        session.flush()
    except SAIntegrityError:
        raise StoreError(
            "another curate run added some of the same records at the same time; nothing was "
            "added, run curate again"
        ) from None
    return [int(r.id) for r in rows if r.id is not None]


def update_item_placement(session: Session, placements: Sequence[tuple[int, int, float]]) -> None:
    """Set (item id, cluster, weight) of existing items after a top-up re-clustered the pool."""
    if not placements:
        return
    now = utcnow()
    # ORM bulk UPDATE by primary key: one executemany, not one statement per item.
    session.execute(
        update(Item),
        [{"id": i, "cluster": c, "weight": w, "updated_at": now} for i, c, w in placements],
    )


# ---------------------------------------------------------------- releases


@dataclass(frozen=True, slots=True)
class ApprovedItem:
    """One releasable item joined with its record (what a release row is built from)."""

    item_id: int
    source_id: str
    revision: int
    answer: Any
    cluster: int | None
    stratum: str | None
    weight: float
    text: str | None
    """Redacted text, or None for the record's own text."""
    data: dict[str, Any]
    """The record's mapped fields."""
    status: ItemStatus


def approved_items(session: Session, benchmark_id: int, *, text_field: str) -> list[ApprovedItem]:
    """Items a release would freeze (approved or released), sorted by source id; ``data``
    carries the record's ``text_field`` (see :func:`builder.store.pool.with_text`)."""
    conn = session.connection()
    raw = conn.dialect.name == "sqlite"
    answer_col: Any = type_coerce(Item.answer, Text) if raw else col(Item.answer)
    data_col: Any = type_coerce(Record.data, Text) if raw else col(Record.data)
    stmt = (
        sa_select(
            col(Item.id),
            col(Record.source_id),
            col(Item.revision),
            answer_col,
            col(Item.cluster),
            col(Item.stratum),
            col(Item.weight),
            col(Item.text),
            data_col,
            as_text(col(Item.status)),
            col(Record.text),
        )
        .join(Record, col(Record.id) == col(Item.record_id))
        .where(col(Item.benchmark_id) == benchmark_id, col(Item.status).in_(RELEASABLE))
        .order_by(col(Record.source_id))
    )
    # Core execution on the connection: no ORM row processing for 100,000 rows.
    rows = conn.execute(stmt).all()
    answers: list[Any] = [r[3] for r in rows]
    datas: list[Any] = [r[8] for r in rows]
    if raw:
        # SQLite hands back the stored JSON text: decode each column with one parse of a
        # JSON array (a per-value json.loads costs several times more at this size).
        answers, datas = _decode_all(answers), _decode_all(datas)
    return [
        ApprovedItem(
            item_id=int(i),
            source_id=sid,
            revision=int(rev),
            answer=ans,
            cluster=cl,
            stratum=st,
            weight=float(w),
            text=txt,
            data=with_text(data, record_text, text_field),
            status=_STATUS[status],
        )
        for (i, sid, rev, _, cl, st, w, txt, _, status, record_text), ans, data in zip(
            rows, answers, datas, strict=True
        )
    ]


def _decode_all(texts: Sequence[str | None]) -> list[Any]:
    """JSON texts (SQL NULL → None) decoded in one pass."""
    if not texts:
        return []
    return list(orjson.loads("[" + ",".join("null" if t is None else t for t in texts) + "]"))
