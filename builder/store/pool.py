"""The pool: ingest batches and the records they added (read by curation in chunks)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from builder.store.models import IngestBatch, Item, Record, utcnow

__all__ = [
    "RECORD_COLUMNS",
    "PoolKeys",
    "PoolRow",
    "existing_records",
    "finish_batch",
    "ingest_sources",
    "insert_records",
    "iter_pool",
    "iter_pool_keys",
    "pool_id_span",
    "pool_rows_between",
    "pool_size",
    "record_texts",
    "records_outside_items",
    "start_batch",
    "texts_between",
    "with_text",
]

_IN_CHUNK = 900  # ids per IN (...) list: far below every backend's parameter limit


def start_batch(session: Session, *, benchmark_id: int, source: str) -> int:
    """Open an ingest batch for one file; returns its id."""
    batch = IngestBatch(benchmark_id=benchmark_id, source=source)
    session.add(batch)
    session.flush()
    assert batch.id is not None
    return batch.id


def finish_batch(session: Session, batch_id: int, **counts: int) -> None:
    """Record the batch's final counts."""
    batch = session.get(IngestBatch, batch_id)
    assert batch is not None
    for key, value in counts.items():
        setattr(batch, key, value)
    batch.finished_at = utcnow()
    session.add(batch)


def existing_records(
    session: Session, benchmark_id: int, source_ids: Sequence[str]
) -> dict[str, tuple[str, int]]:
    """source id → (content hash, batch id) for the ids already in the pool."""
    if not source_ids:
        return {}
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # One array parameter instead of thousands of IN (...) parameters to plan.
        sql = (
            "SELECT source_id, content_hash, batch_id FROM record "
            "WHERE benchmark_id = %s AND source_id = ANY(%s)"
        )
        rows = conn.exec_driver_sql(sql, (benchmark_id, list(source_ids)))
    else:
        # Driver-level SQL: compiling thousands of IN parameters per chunk costs more
        # than the query itself.
        marks = ", ".join("?" * len(source_ids))
        sql = (
            "SELECT source_id, content_hash, batch_id FROM record "
            f"WHERE benchmark_id = ? AND source_id IN ({marks})"
        )
        rows = conn.exec_driver_sql(sql, (benchmark_id, *source_ids))
    return {sid: (h, b) for sid, h, b in rows}


RECORD_COLUMNS = ("benchmark_id", "source_id", "content_hash", "text", "data", "batch_id")


def insert_records(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Bulk insert of record rows, tuples in :data:`RECORD_COLUMNS` order (``data`` is the
    canonical JSON text, stored as is).

    The pool is the one table loaded by the million, so this goes below the ORM: COPY on
    PostgreSQL, a driver-level executemany on SQLite; ``data`` is not re-encoded.
    """
    if not rows:
        return
    conn = session.connection()
    cols = ", ".join(RECORD_COLUMNS)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY record ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in RECORD_COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO record ({cols}) VALUES ({marks})", list(rows))


def pool_size(session: Session, benchmark_id: int) -> int:
    """Records in the pool (the population a release's sample stands for)."""
    stmt = select(func.count()).select_from(Record).where(Record.benchmark_id == benchmark_id)
    return int(session.exec(stmt).one())


def ingest_sources(session: Session, benchmark_id: int) -> list[str]:
    """Distinct source files ingested into the pool, in ingest order."""
    stmt = (
        select(IngestBatch.source)
        .where(IngestBatch.benchmark_id == benchmark_id, IngestBatch.ingested > 0)
        .order_by(col(IngestBatch.id))
    )
    return list(dict.fromkeys(session.exec(stmt)))


@dataclass(frozen=True, slots=True)
class PoolRow:
    """What curation needs of one record."""

    id: int
    source_id: str
    text: str
    stratum: str | None
    """The strata field's value as text (None when not asked for or missing)."""


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
    for rows in _pages(session, benchmark_id, cols, chunk):
        yield [
            PoolRow(
                id=r[0],
                source_id=r[1],
                text=r[2],
                stratum=_stratum(r[3], strata_field) if strata_field else None,
            )
            for r in rows
        ]


def _pages(
    session: Session, benchmark_id: int, cols: list[Any], chunk: int
) -> Iterator[Sequence[Any]]:
    """Rows of ``cols`` (the record id first) in record-id order, ``chunk`` at a time: keyset
    pages, so memory stays constant and a page costs the same wherever it starts."""
    last = 0
    while True:
        stmt = (
            sa_select(*cols)
            .where(col(Record.benchmark_id) == benchmark_id, col(Record.id) > last)
            .order_by(col(Record.id))
            .limit(chunk)
        )
        # Core, not the ORM's execute: plain column rows, read about a third faster.
        rows = session.connection().execute(stmt).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


@dataclass(frozen=True, slots=True)
class PoolKeys:
    """One chunk of the pool without its texts (a curation rerun reads only these)."""

    ids: list[int]
    source_ids: list[str]
    content_hashes: list[str]
    strata: list[str | None]
    """The strata field's value as text per record (all None when not asked for)."""


def iter_pool_keys(
    session: Session, benchmark_id: int, *, chunk: int = 8192, strata_field: str | None = None
) -> Iterator[PoolKeys]:
    """The pool in record-id order, ``chunk`` records at a time, without texts (keyset pages)."""
    cols: list[Any] = [col(Record.id), col(Record.source_id), col(Record.content_hash)]
    if strata_field:
        cols.append(col(Record.data))
    for rows in _pages(session, benchmark_id, cols, chunk):
        # One list per column by indexing: zip(*rows) over SQLAlchemy rows costs ~4× as much.
        strata: list[str | None] = [None] * len(rows)
        if strata_field:
            strata = [_stratum(r[3], strata_field) for r in rows]
        yield PoolKeys([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], strata)


def texts_between(
    session: Session, benchmark_id: int, first_id: int, last_id: int
) -> dict[int, str]:
    """record id → text for the pool's records with ``first_id ≤ id ≤ last_id``."""
    stmt = sa_select(col(Record.id), col(Record.text)).where(
        col(Record.benchmark_id) == benchmark_id,
        col(Record.id) >= first_id,
        col(Record.id) <= last_id,
    )
    # Record ids are primary keys, never null: the column's `int | None` is the model's.
    rows = session.connection().execute(stmt).all()
    return cast("dict[int, str]", {rid: text for rid, text in rows})


def pool_id_span(session: Session, benchmark_id: int) -> tuple[int, int] | None:
    """(lowest, highest) record id of the pool, or None when it is empty (to cut the pool
    into id ranges that workers read on their own)."""
    stmt = sa_select(func.min(col(Record.id)), func.max(col(Record.id))).where(
        col(Record.benchmark_id) == benchmark_id
    )
    lo, hi = session.execute(stmt).one()
    return None if lo is None else (int(lo), int(hi))


def pool_rows_between(
    session: Session,
    benchmark_id: int,
    first_id: int,
    last_id: int,
    *,
    strata_field: str | None = None,
) -> list[PoolRow]:
    """The pool's records with ``first_id ≤ id ≤ last_id``, in record-id order."""
    cols: list[Any] = [col(Record.id), col(Record.source_id), col(Record.text)]
    if strata_field:
        cols.append(col(Record.data))
    stmt = (
        sa_select(*cols)
        .where(
            col(Record.benchmark_id) == benchmark_id,
            col(Record.id) >= first_id,
            col(Record.id) <= last_id,
        )
        .order_by(col(Record.id))
    )
    return [
        PoolRow(
            id=r[0],
            source_id=r[1],
            text=r[2],
            stratum=_stratum(r[3], strata_field) if strata_field else None,
        )
        for r in session.execute(stmt)
    ]


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


def with_text(data: dict[str, Any], text: str, text_field: str) -> dict[str, Any]:
    """A record's mapped fields with its text field put back: ingest stores the text once,
    in ``Record.text``, and leaves it out of ``data`` when equal (records ingested before
    that carry it in both: ``data`` is then returned as it is). ``data`` is changed in place."""
    if text_field not in data:
        data[text_field] = text
    return data


def records_outside_items(
    session: Session, benchmark_id: int, *, text_field: str
) -> list[tuple[str, dict[str, Any]]]:
    """(source id, data with the text field) of pool records that are not items of the
    benchmark (training data for a baseline that must never see benchmark items)."""
    chosen = select(Item.record_id).where(Item.benchmark_id == benchmark_id)
    stmt = (
        select(Record.source_id, Record.data, Record.text)
        .where(Record.benchmark_id == benchmark_id, col(Record.id).not_in(chosen))
        .order_by(col(Record.source_id))
    )
    return [(sid, with_text(data, text, text_field)) for sid, data, text in session.execute(stmt)]
