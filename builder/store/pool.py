"""The pool: ingested records, and the counts `status` reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from builder.store.models import IngestBatch, Item, Record, Release, utcnow

__all__ = [
    "RECORD_COLUMNS",
    "existing_records",
    "finish_batch",
    "insert_records",
    "item_counts",
    "pool_size",
    "release_rows",
    "start_batch",
]


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
    """Number of records in the pool."""
    stmt = select(func.count()).select_from(Record).where(Record.benchmark_id == benchmark_id)
    return int(session.exec(stmt).one())


def item_counts(session: Session, benchmark_id: int) -> dict[str, int]:
    """Items per status."""
    stmt = (
        select(Item.status, func.count())
        .where(Item.benchmark_id == benchmark_id)
        .group_by(Item.status)
        .order_by(Item.status)
    )
    return {status: int(n) for status, n in session.exec(stmt)}


def release_rows(session: Session, benchmark_id: int) -> list[Release]:
    """Releases of a benchmark, oldest first."""
    stmt = select(Release).where(Release.benchmark_id == benchmark_id).order_by(col(Release.id))
    return list(session.exec(stmt))
