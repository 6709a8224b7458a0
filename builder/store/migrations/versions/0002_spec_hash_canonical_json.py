"""recompute benchmark.spec_hash with builder.hashing.canonical_json

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000

A data migration: spec hashes used to be the sha256 of stdlib ``json.dumps(spec,
sort_keys=True, separators=(",", ":"))`` (ASCII-escaped, floats like ``1e-07``); they are
now :func:`builder.hashing.content_hash` of the same JSON object. Without this, every
registered benchmark would look changed to ``init`` (which compares the stored hash with
the spec file's). Record content hashes are unchanged: the new encoding is byte-identical
to the one ingest always used. Works on SQLite and PostgreSQL (the JSON column is read
and written through SQLAlchemy, one row per benchmark).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from builder.hashing import content_hash

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_benchmark = sa.table(
    "benchmark",
    sa.column("id", sa.Integer()),
    sa.column("spec", sa.JSON()),
    sa.column("spec_hash", sa.String(length=64)),
)


def _legacy_spec_hash(spec: Any) -> str:
    """The spec hash before this migration (builder.spec up to revision 0001)."""
    payload = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _rehash(fn: Callable[[Any], str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_benchmark.c.id, _benchmark.c.spec)).all()
    for bench_id, spec in rows:
        bind.execute(
            _benchmark.update().where(_benchmark.c.id == bench_id).values(spec_hash=fn(spec))
        )


def upgrade() -> None:
    _rehash(content_hash)


def downgrade() -> None:
    _rehash(_legacy_spec_hash)
