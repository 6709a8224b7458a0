"""Helpers for the review tests: items straight from the pool, users, spec variants.

Items normally come from curation; these tests insert them directly (status candidate)
from ingested sample records, as the curation pipeline would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import select

from builder.config import Settings
from builder.ingest import ingest_files
from builder.review.auth import Actor
from builder.review.users import add_user
from builder.store.models import Item, Record, Role
from builder.store.review import get_user
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.conftest import SAMPLE_SPEC

PASSWORD = "correct-horse-battery"


def make_items(
    ws: Workspace,
    rows: list[dict[str, Any]],
    n: int = 12,
    *,
    tmp: Path,
    benchmark: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[int]:
    """Ingest ``rows[:n]`` and make each record a candidate item; returns item ids in order."""
    src = tmp / f"rows-{n}-{benchmark or 'default'}.jsonl"
    with src.open("w", encoding="utf-8") as f:
        for row in rows[:n]:
            f.write(json.dumps({**row, **(extra or {})}) + "\n")
    ingest_files(ws, [src], benchmark=benchmark)
    bench, _ = ws.benchmark(benchmark)
    with ws.db.session() as s:
        records = s.exec(
            select(Record).where(Record.benchmark_id == bench.id).order_by(Record.id)  # type: ignore[arg-type]
        ).all()
        items = [
            Item(benchmark_id=bench.id, record_id=r.id, cluster=i % 3, reason="test")  # type: ignore[arg-type]
            for i, r in enumerate(records)
        ]
        s.add_all(items)
        s.flush()
        return [it.id for it in items]  # type: ignore[misc]


def make_user(
    ws: Workspace, name: str, role: Role | str = Role.annotator, password: str | None = PASSWORD
) -> Actor:
    """Create a user and return them as a logged-in actor would be."""
    add_user(ws, name, role, password)
    return actor(ws, name)


def actor(ws: Workspace, name: str) -> Actor:
    """The actor for an existing user."""
    with ws.db.session() as s:
        user = get_user(s, name)
        assert user is not None and user.id is not None
        return Actor(name=user.name, role=Role(user.role), user_id=user.id)


def spec_variant(tmp: Path, **changes: Any) -> Path:
    """A copy of the sample spec with ``task`` / ``review`` fields replaced."""
    spec = yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))
    for section, values in changes.items():
        spec[section] = {**spec.get(section, {}), **values}
    spec["guidelines"] = None
    path = tmp / f"spec-{abs(hash(json.dumps(changes, sort_keys=True)))}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def workspace_with(settings: Settings, tmp: Path, **changes: Any) -> Workspace:
    """A workspace whose benchmark uses a spec variant (see :func:`spec_variant`)."""
    init_workspace(settings, spec_variant(tmp, **changes) if changes else SAMPLE_SPEC)
    return open_workspace(settings)
