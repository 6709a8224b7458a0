"""Helpers for the release tests: approved items straight into the store; fixture ``rel_ws``.

Approved items normally come out of review; these helpers insert them directly from
ingested sample records, with the corpus' own section as the final answer and two
annotators' current answers (the second disagrees on every ``disagree_every``-th item),
as the review workflow would leave them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.ingest import ingest_files
from builder.store.models import Annotation, Item, Record, User
from builder.workspace import Workspace
from tests.support.common import workspace_with, write_jsonl

LEAD = "lea"
NAME = "debian-sections"


def with_cache(settings: Settings, tmp: Path) -> Settings:
    """``settings`` with the pull cache inside the test's tmp dir (never ~/.cache)."""
    return replace(settings, cache_dir=tmp / "cache")


def pull_kw(ws: Workspace, **more: Any) -> dict[str, Any]:
    """``registry=`` and ``cache_dir=`` of ``ws`` (and ``more``), for pulling its releases."""
    return {"registry": ws.settings.registry, "cache_dir": ws.settings.cache_dir, **more}


def open_ws(settings: Settings, tmp: Path, **changes: Any) -> Workspace:
    """A workspace (pull cache in ``tmp``) whose benchmark uses the sample spec + ``changes``."""
    return workspace_with(with_cache(settings, tmp), tmp, **changes)


def ingest(ws: Workspace, rows: list[dict[str, Any]], tmp: Path, name: str = "pool") -> None:
    """Ingest ``rows`` into the pool."""
    ingest_files(ws, [write_jsonl(tmp / f"{name}.jsonl", rows)])


def add_users(ws: Workspace, **roles: str) -> dict[str, int]:
    """Create users (name=role); returns name → id."""
    with ws.db.session() as s:
        users = [User(name=n, role=r) for n, r in roles.items()]
        s.add_all(users)
        s.flush()
        return {u.name: int(u.id) for u in users}  # type: ignore[arg-type]


def approve(
    ws: Workspace,
    rows: list[dict[str, Any]],
    source_ids: list[str],
    *,
    answer: Any = None,
    disagree_every: int = 5,
    annotators: tuple[str, ...] = ("ann1", "ann2"),
) -> dict[str, int]:
    """Make the records ``source_ids`` approved items; returns source id → item id.

    The answer is ``answer(row)`` when given, else the row's ``section``.
    """
    by_id = {str(r["package"]): r for r in rows}
    with ws.db.session() as s:
        users = {u.name: u.id for u in s.exec(select(User))}
    missing = [a for a in annotators if a not in users]
    if missing:
        users.update(add_users(ws, **dict.fromkeys(missing, "annotator")))
    out: dict[str, int] = {}
    with ws.db.session() as s:
        records = {
            r.source_id: r
            for r in s.exec(select(Record).where(Record.source_id.in_(source_ids)))  # type: ignore[attr-defined]
        }
        for n, sid in enumerate(source_ids):
            row = by_id[sid]
            final = answer(row) if answer else row["section"]
            rec = records[sid]
            item = Item(
                benchmark_id=rec.benchmark_id, record_id=rec.id, status="approved",  # type: ignore[arg-type]
                answer=final, cluster=n % 4, stratum=row["priority"], weight=3.0,
            )  # fmt: skip
            s.add(item)
            s.flush()
            assert item.id is not None
            out[sid] = item.id
            for k, who in enumerate(annotators):
                given = final
                if k == 1 and disagree_every and n % disagree_every == 0:
                    given = "misc" if final != "misc" else "utils"
                    if isinstance(final, list):
                        given = [given]
                s.add(Annotation(item_id=item.id, annotator_id=users[who], answer=given))
    return out


def source_ids(rows: list[dict[str, Any]]) -> list[str]:
    """The rows' source ids (their package names)."""
    return [str(r["package"]) for r in rows]


def seed(
    ws: Workspace,
    rows: list[dict[str, Any]],
    tmp: Path,
    approved: list[dict[str, Any]] | None = None,
) -> dict[str, int]:
    """Ingest ``rows``, add the lead ``LEAD`` and approve ``approved`` (all rows by default);
    returns source id → item id."""
    ingest(ws, rows, tmp)
    add_users(ws, **{LEAD: "lead"})
    return approve(ws, rows, source_ids(rows if approved is None else approved))


def set_item(ws: Workspace, item_id: int, **values: Any) -> None:
    """Change an item (a new final answer or text bumps its revision, as review would)."""
    with ws.db.session() as s:
        item = s.get(Item, item_id)
        assert item is not None
        if "answer" in values or "text" in values:
            item.revision += 1
        for k, v in values.items():
            setattr(item, k, v)
        s.add(item)


@pytest.fixture
def rel_ws(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> Iterator[Workspace]:
    """SQLite workspace: 60 pool records, the first 40 approved items, a lead ``lea``."""
    ws = open_ws(sqlite_settings, tmp_path)
    seed(ws, sample_rows[:60], tmp_path, sample_rows[:40])
    yield ws
    ws.db.dispose()
