"""Items made by importing answers from another tool (reason ``imported``, no curation run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from builder.domain import ItemStatus
from builder.store.models import Item, Record

__all__ = ["add_imported_items", "pool_records"]

_CHUNK = 500


def pool_records(
    session: Session, benchmark_id: int, source_ids: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """source id → (record id, text) for the ids that are in the benchmark's pool."""
    out: dict[str, tuple[int, str]] = {}
    ids = list(dict.fromkeys(source_ids))
    for start in range(0, len(ids), _CHUNK):
        stmt = select(col(Record.source_id), col(Record.id), col(Record.text)).where(
            col(Record.benchmark_id) == benchmark_id,
            col(Record.source_id).in_(ids[start : start + _CHUNK]),
        )
        out.update({sid: (int(rid), text) for sid, rid, text in session.execute(stmt)})
    return out


def add_imported_items(
    session: Session,
    *,
    benchmark_id: int,
    items: Sequence[tuple[int, str | None, dict[str, Any]]],
    reason: str,
) -> list[Item]:
    """Insert candidate items for (record id, redacted text or None, flags); in order."""
    rows = [
        Item(
            benchmark_id=benchmark_id,
            record_id=record_id,
            status=ItemStatus.candidate,
            text=text,
            reason=reason,
            flags=flags,
        )
        for record_id, text, flags in items
    ]
    session.add_all(rows)
    session.flush()
    return rows
