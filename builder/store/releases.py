"""Releases, release items, evaluations and the approved items a release freezes.

Every query the release and evaluation code needs lives here (the only place with SQL).
Bulk reads return plain tuples/dicts, not ORM objects: a release of 100,000 items must
not build 100,000 tracked instances.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Text, func, insert, type_coerce, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from builder.store.models import (
    Annotation,
    CurationRun,
    Evaluation,
    IngestBatch,
    Item,
    ItemStatus,
    Record,
    Release,
    ReleaseItem,
    User,
    utcnow,
)

__all__ = [
    "RELEASABLE",
    "ApprovedItem",
    "add_evaluation",
    "approved_items",
    "count_users",
    "current_annotations",
    "evaluations",
    "get_release",
    "get_user",
    "ingest_sources",
    "insert_release",
    "latest_curation_run",
    "mark_released",
    "pinned_splits",
    "pool_count",
    "records_outside_items",
    "release_items",
    "releases",
    "set_yanked",
]

RELEASABLE: tuple[str, ...] = (ItemStatus.approved.value, ItemStatus.released.value)
"""Item statuses a release freezes: approved, and released items that stay approved."""

# SQLite caps bound parameters (32,766 in modern builds); stay well under it.
_CHUNK = 5000


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
    status: str


def approved_items(session: Session, benchmark_id: int) -> list[ApprovedItem]:
    """Items a release would freeze (approved or released), sorted by source id."""
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
            col(Item.status),
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
            data=data,
            status=status,
        )
        for (i, sid, rev, _, cl, st, w, txt, _, status), ans, data in zip(
            rows, answers, datas, strict=True
        )
    ]


def _decode_all(texts: Sequence[str | None]) -> list[Any]:
    """JSON texts (SQL NULL → None) decoded in one pass."""
    if not texts:
        return []
    return list(orjson.loads("[" + ",".join("null" if t is None else t for t in texts) + "]"))


def current_annotations(
    session: Session, benchmark_id: int, item_ids: Sequence[int]
) -> dict[int, list[tuple[int, Any]]]:
    """item id → [(annotator id, answer)] of the current (not superseded) annotations."""
    wanted = set(item_ids)
    stmt = (
        select(Annotation.item_id, Annotation.annotator_id, Annotation.answer)
        .join(Item, col(Item.id) == col(Annotation.item_id))
        .where(
            Item.benchmark_id == benchmark_id,
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


def pool_count(session: Session, benchmark_id: int) -> int:
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


def release_items(session: Session, release_id: int) -> list[tuple[int, int, str, Any]]:
    """(item id, revision, split, answer) of one release."""
    stmt = select(
        ReleaseItem.item_id, ReleaseItem.revision, ReleaseItem.split, ReleaseItem.answer
    ).where(ReleaseItem.release_id == release_id)
    return [(int(i), int(r), s, a) for i, r, s, a in session.execute(stmt)]


def latest_curation_run(session: Session, benchmark_id: int) -> CurationRun | None:
    """The newest curation run of the benchmark, if any."""
    stmt = (
        select(CurationRun)
        .where(CurationRun.benchmark_id == benchmark_id)
        .order_by(col(CurationRun.id).desc())
    )
    return session.exec(stmt).first()


def releases(session: Session, benchmark_id: int) -> list[Release]:
    """Releases of a benchmark, oldest first."""
    stmt = select(Release).where(Release.benchmark_id == benchmark_id).order_by(col(Release.id))
    return list(session.exec(stmt))


def get_release(session: Session, benchmark_id: int, version: str) -> Release | None:
    """One release by version."""
    stmt = select(Release).where(Release.benchmark_id == benchmark_id, Release.version == version)
    return session.exec(stmt).first()


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
) -> int:
    """Insert a release and its items ``(item id, revision, split, answer)``; returns its id.

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
        .where(col(Item.id).in_(held), col(Item.status) == ItemStatus.approved.value)
        .values(status=ItemStatus.released.value, updated_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_yanked(session: Session, release_id: int, reason: str) -> None:
    """Mark a release yanked (it stays readable)."""
    release = session.get(Release, release_id)
    assert release is not None
    release.yanked = True
    release.yank_reason = reason
    session.add(release)


def count_users(session: Session) -> int:
    """Users in the workspace (0 means nobody has been added yet)."""
    return int(session.exec(select(func.count()).select_from(User)).one())


def get_user(session: Session, name: str) -> User | None:
    """The user called ``name``, if any."""
    return session.exec(select(User).where(User.name == name)).first()


def add_evaluation(
    session: Session,
    *,
    benchmark: str,
    version: str,
    split: str,
    model: str,
    created_by: str,
    predictions_sha256: str,
    metrics: dict[str, Any],
) -> int:
    """Store one scored run; returns its id."""
    row = Evaluation(
        benchmark=benchmark,
        version=version,
        split=split,
        model=model,
        created_by=created_by,
        predictions_sha256=predictions_sha256,
        metrics=metrics,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def evaluations(
    session: Session, benchmark: str, *, version: str | None = None, split: str | None = None
) -> list[Evaluation]:
    """Stored evaluations of a benchmark, oldest first."""
    stmt = select(Evaluation).where(Evaluation.benchmark == benchmark)
    if version is not None:
        stmt = stmt.where(Evaluation.version == version)
    if split is not None:
        stmt = stmt.where(Evaluation.split == split)
    return list(session.exec(stmt.order_by(col(Evaluation.id))))


def records_outside_items(session: Session, benchmark_id: int) -> list[tuple[str, dict[str, Any]]]:
    """(source id, data) of pool records that are not items of the benchmark (training data
    for a baseline that must never see benchmark items)."""
    chosen = select(Item.record_id).where(Item.benchmark_id == benchmark_id)
    stmt = (
        select(Record.source_id, Record.data)
        .where(Record.benchmark_id == benchmark_id, col(Record.id).not_in(chosen))
        .order_by(col(Record.source_id))
    )
    return [(sid, data) for sid, data in session.execute(stmt)]
