"""Data migrations, on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command

from builder.hashing import content_hash
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

    db.migrate("0002")
    migrated = _hashes(db)
    assert migrated == {name: content_hash(spec) for name, spec in specs.items()}
    # An ASCII spec without tiny floats encodes the same both ways; the other does not.
    assert migrated["debian-sections"] == legacy["debian-sections"]
    assert migrated["categories"] != legacy["categories"]

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert _hashes(db) == legacy
    db.dispose()


def test_0004_hashes_specs_without_defaults_so_new_fields_keep_the_hash(
    database_url: str,
) -> None:
    base, _ = load_spec(SAMPLE_SPEC)
    # A spec stored before a field existed: its JSON lacks the key today's model defaults.
    stored = base.model_dump(mode="json")
    old_review = {k: v for k, v in stored["review"].items() if k != "gold_every"}
    assert old_review != stored["review"], "the sample spec's review section lost no field"
    stored = {**stored, "review": old_review}
    db = Database(database_url, migrate=False)
    db.migrate("0003")
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        conn.execute(
            _benchmark.insert().values(
                name=base.name,
                spec=stored,
                spec_hash=content_hash(stored),
                created_at=now,
                updated_at=now,
            )
        )
    db.migrate()
    assert db.current_revision() == head_revision()
    # The hash init computes from the unchanged spec file: equal, so init sees no change.
    assert _hashes(db) == {base.name: base.spec_hash()}
    assert base.spec_hash() == content_hash(base.model_dump(mode="json", exclude_defaults=True))

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    # Back to the full dump's hash of what was stored (the dump of the model of its day).
    assert _hashes(db) == {base.name: content_hash(stored)}
    db.dispose()
