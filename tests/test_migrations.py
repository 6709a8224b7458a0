"""Data migrations, on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command

from builder.spec import BenchmarkSpec, load_spec
from builder.store.db import Database, alembic_config, head_revision
from tests.support.common import SAMPLE_SPEC

_benchmark = sa.table(
    "benchmark",
    sa.column("id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("spec", sa.JSON()),
    sa.column("spec_hash", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _legacy_spec_hash(spec: dict[str, Any]) -> str:
    """builder.spec.BenchmarkSpec.spec_hash before builder.hashing (ASCII-escaped stdlib json)."""
    payload = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _hashes(db: Database) -> dict[str, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(_benchmark.c.name, _benchmark.c.spec_hash)).all())


def test_0002_recomputes_spec_hashes_with_canonical_json(database_url: str) -> None:
    base, _ = load_spec(SAMPLE_SPEC)
    # Non-ASCII, a float whose text differs between the encoders (1e-05 vs 0.00001) and an
    # integer beyond 64 bits (orjson's limit).
    raw = base.model_dump(mode="json")
    other = BenchmarkSpec.model_validate(
        {
            **raw,
            "name": "categories",
            "title": "Catégorie “Debian”",
            "release": {**raw["release"], "private_holdout": 1e-05},
            "curation": {**raw["curation"], "seed": 2**70},
        }
    )
    specs = {s.name: s.model_dump(mode="json") for s in (base, other)}
    db = Database(database_url, migrate=False)
    db.migrate("0001")
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        for name, spec in specs.items():
            conn.execute(
                _benchmark.insert().values(
                    name=name,
                    spec=spec,
                    spec_hash=_legacy_spec_hash(spec),
                    created_at=now,
                    updated_at=now,
                )
            )
    legacy = _hashes(db)

    db.migrate()
    assert db.current_revision() == head_revision()
    migrated = _hashes(db)
    assert migrated == {"debian-sections": base.spec_hash(), "categories": other.spec_hash()}
    # An ASCII spec without tiny floats encodes the same both ways; the other does not.
    assert migrated["debian-sections"] == legacy["debian-sections"]
    assert migrated["categories"] != legacy["categories"]

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert _hashes(db) == legacy
    db.dispose()
