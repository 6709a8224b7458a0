"""Releases: the published versions of a benchmark and the item revisions each holds.

The files in the registry are the truth; these tables are the index. Bulk writes go
below the ORM: a release of 100,000 items must not build 100,000 tracked instances.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from builder.domain import ItemStatus
from builder.store.models import Item, Release, ReleaseItem, utcnow

__all__ = [
    "get_release",
    "insert_release",
    "mark_released",
    "pinned_splits",
    "release_items",
    "released_at_revision",
    "releases",
    "set_yanked",
]

# SQLite caps bound parameters (32,766 in modern builds); stay well under it.
_CHUNK = 5000


def pinned_splits(session: Session, benchmark_id: int) -> dict[int, str]:
    """item id → the split it had in the newest release that held it."""
    stmt = (
        select(ReleaseItem.item_id, ReleaseItem.split)
        .join(Release, col(Release.id) == col(ReleaseItem.release_id))
        .where(Release.benchmark_id == benchmark_id)
        .order_by(col(Release.id))
    )
    # Later releases overwrite earlier ones in the dict: the newest pin wins.
    return {int(item_id): split for item_id, split in session.execute(stmt)}


def release_items(session: Session, release_id: int) -> list[tuple[int, int, str, Any]]:
    """(item id, revision, split, answer) of one release."""
    stmt = select(
        ReleaseItem.item_id, ReleaseItem.revision, ReleaseItem.split, ReleaseItem.answer
    ).where(ReleaseItem.release_id == release_id)
    return [(int(i), int(r), s, a) for i, r, s, a in session.execute(stmt)]


def releases(session: Session, benchmark_id: int) -> list[Release]:
    """Releases of a benchmark, oldest first."""
    stmt = select(Release).where(Release.benchmark_id == benchmark_id).order_by(col(Release.id))
    return list(session.exec(stmt))


def get_release(session: Session, benchmark_id: int, version: str) -> Release | None:
    """One release by version."""
    stmt = select(Release).where(Release.benchmark_id == benchmark_id, Release.version == version)
    return session.exec(stmt).first()


def released_at_revision(session: Session, item_id: int, revision: int) -> bool:
    """Whether some release holds this exact revision of the item."""
    stmt = select(col(ReleaseItem.release_id)).where(
        col(ReleaseItem.item_id) == item_id, col(ReleaseItem.revision) == revision
    )
    return session.execute(stmt.limit(1)).first() is not None


def insert_release(
    session: Session,
    *,
    benchmark_id: int,
    version: str,
    parent: str | None,
    content_hash: str,
    registry_url: str,
    created_by: str,
    notes: str,
    manifest: dict[str, Any],
    items: Iterable[tuple[int, int, str, Any]],
    created_at: datetime | None = None,
) -> int:
    """Insert a release and its items ``(item id, revision, split, answer)``; returns its id.

    ``created_at`` defaults to now (an adopted release keeps its manifest's time).
    Flushes at once so a concurrent release of the same version fails here, on the
    unique constraint, before any file is published.
    """
    release = Release(
        benchmark_id=benchmark_id,
        version=version,
        parent=parent,
        content_hash=content_hash,
        registry_url=registry_url,
        created_by=created_by,
        notes=notes,
        manifest=manifest,
    )
    if created_at is not None:
        release.created_at = created_at
    session.add(release)
    session.flush()
    assert release.id is not None
    rows = [(release.id, i, r, sp, orjson.dumps(a).decode()) for i, r, sp, a in items]
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        # Driver-level executemany with the answers encoded once: 100,000 rows in well under
        # a second, where SQLAlchemy's per-row type processing takes several.
        conn.exec_driver_sql(
            "INSERT INTO releaseitem (release_id, item_id, revision, split, answer) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    else:
        table = ReleaseItem.__table__  # type: ignore[attr-defined]
        dicts = [
            {"release_id": rel, "item_id": i, "revision": r, "split": sp, "answer": a}
            for (rel, i, r, sp, _), (_, _, _, a) in zip(rows, items, strict=True)
        ]
        for start in range(0, len(dicts), _CHUNK):
            conn.execute(insert(table), dicts[start : start + _CHUNK])
    return release.id


def mark_released(session: Session, release_id: int) -> int:
    """The release's approved items become released; returns how many changed."""
    held = select(ReleaseItem.item_id).where(ReleaseItem.release_id == release_id)
    result = session.execute(
        update(Item)
        .where(col(Item.id).in_(held), col(Item.status) == ItemStatus.approved)
        .values(status=ItemStatus.released, updated_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_yanked(session: Session, release_id: int, reason: str) -> None:
    """Mark a release yanked (it stays readable)."""
    release = session.get(Release, release_id)
    assert release is not None
    release.yanked = True
    release.yank_reason = reason
    session.add(release)
