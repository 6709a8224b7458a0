"""SQL for curation: the pool read in chunks, existing and released items, runs and new items."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlmodel import Session, col, select

from builder.errors import StoreError
from builder.store.models import Benchmark, CurationRun, Item, ItemStatus, Record, utcnow

__all__ = [
    "ExistingItem",
    "NewItem",
    "PoolRow",
    "add_items",
    "create_run",
    "curation_runs",
    "existing_items",
    "get_run",
    "iter_pool",
    "latest_run",
    "record_texts",
    "released_texts",
    "set_run_report",
    "update_item_placement",
]

_IN_CHUNK = 900  # ids per IN (...) list: far below every backend's parameter limit


@dataclass(frozen=True, slots=True)
class PoolRow:
    """What curation needs of one record."""

    id: int
    source_id: str
    text: str
    stratum: str | None
    """The strata field's value as text (None when not asked for or missing)."""


@dataclass(frozen=True, slots=True)
class ExistingItem:
    """An item already in the benchmark (any status)."""

    id: int
    record_id: int
    status: str


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


def _stratum(data: dict[str, Any] | None, field: str) -> str | None:
    value = (data or {}).get(field)
    if value is None or value == "":
        return None
    return str(value)[:256]


def iter_pool(
    session: Session, benchmark_id: int, *, chunk: int = 8192, strata_field: str | None = None
) -> Iterator[list[PoolRow]]:
    """The pool in record-id order, ``chunk`` rows at a time (keyset pages: constant memory)."""
    cols: list[Any] = [col(Record.id), col(Record.source_id), col(Record.text)]
    if strata_field:
        cols.append(col(Record.data))
    last = 0
    while True:
        stmt = (
            sa_select(*cols)
            .where(col(Record.benchmark_id) == benchmark_id, col(Record.id) > last)
            .order_by(col(Record.id))
            .limit(chunk)
        )
        rows = session.execute(stmt).all()
        if not rows:
            return
        yield [
            PoolRow(
                id=r[0],
                source_id=r[1],
                text=r[2],
                stratum=_stratum(r[3], strata_field) if strata_field else None,
            )
            for r in rows
        ]
        last = rows[-1][0]


def record_texts(session: Session, record_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """record id → (source id, text) for the given records."""
    out: dict[int, tuple[str, str]] = {}
    ids = list(record_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        stmt = sa_select(col(Record.id), col(Record.source_id), col(Record.text)).where(
            col(Record.id).in_(ids[start : start + _IN_CHUNK])
        )
        for rid, sid, text in session.execute(stmt):
            out[int(rid)] = (sid, text)
    return out


def existing_items(session: Session, benchmark_id: int) -> list[ExistingItem]:
    """Every item of the benchmark, whatever its status, by id."""
    stmt = (
        sa_select(col(Item.id), col(Item.record_id), col(Item.status))
        .where(col(Item.benchmark_id) == benchmark_id)
        .order_by(col(Item.id))
    )
    return [
        ExistingItem(id=int(i), record_id=int(r), status=s) for i, r, s in session.execute(stmt)
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
            .where(col(Item.status) == ItemStatus.released.value, col(Item.id) > last)
            .order_by(col(Item.id))
            .limit(chunk)
        )
        rows = session.execute(stmt).all()
        if not rows:
            return
        for _id, bench, source_id, item_text, record_text in rows:
            yield f"released item {bench}/{source_id}", item_text or record_text
        last = rows[-1][0]


def create_run(session: Session, *, benchmark_id: int, embedder: str, seed: int) -> int:
    """A new curation run row (its report is set by :func:`set_run_report`); returns its id."""
    run = CurationRun(benchmark_id=benchmark_id, embedder=embedder, seed=seed, report={})
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def set_run_report(session: Session, run_id: int, report: dict[str, Any]) -> None:
    """Store the run's report."""
    run = session.get(CurationRun, run_id)
    if run is None:
        raise StoreError(f"curation run {run_id} does not exist")
    run.report = report
    session.add(run)


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
            status=ItemStatus.candidate.value,
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


def curation_runs(session: Session, benchmark_id: int) -> list[CurationRun]:
    """Runs of a benchmark, oldest first."""
    stmt = (
        select(CurationRun)
        .where(CurationRun.benchmark_id == benchmark_id)
        .order_by(col(CurationRun.id))
    )
    return list(session.exec(stmt))


def latest_run(session: Session, benchmark_id: int) -> CurationRun | None:
    """The newest run of a benchmark, if any."""
    stmt = (
        select(CurationRun)
        .where(CurationRun.benchmark_id == benchmark_id)
        .order_by(col(CurationRun.id).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def get_run(session: Session, run_id: int) -> CurationRun | None:
    """One run by id."""
    return session.get(CurationRun, run_id)
