"""recompute benchmark.spec_hash without the fields left at their defaults

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 06:00:00.000000

A data migration: :meth:`builder.spec.BenchmarkSpec.spec_hash` now hashes the spec's JSON
dump *without* default-valued fields, so that adding a spec field (always with a default)
no longer changes every registered benchmark's hash (which made ``init`` refuse an
unchanged spec file after an upgrade). Each stored spec is read through today's model and
hashed the new way; downgrade hashes the stored JSON (the full dump of its day), as 0002 did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from builder.hashing import content_hash
from builder.spec import BenchmarkSpec

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_benchmark = sa.table(
    "benchmark",
    sa.column("id", sa.Integer()),
    sa.column("spec", sa.JSON()),
    sa.column("spec_hash", sa.String(length=64)),
)


def _rehash(fn: Callable[[Any], str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_benchmark.c.id, _benchmark.c.spec)).all()
    for bench_id, spec in rows:
        bind.execute(
            _benchmark.update().where(_benchmark.c.id == bench_id).values(spec_hash=fn(spec))
        )


def upgrade() -> None:
    _rehash(lambda spec: BenchmarkSpec.model_validate(spec).spec_hash())


def downgrade() -> None:
    _rehash(content_hash)
