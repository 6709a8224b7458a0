"""The store on SQLite and a real PostgreSQL server: migrations, pragmas, audit, times."""

from __future__ import annotations

from datetime import UTC

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from builder.errors import StoreError
from builder.store.audit import history, log_event
from builder.store.db import Database, head_revision
from builder.store.models import Benchmark


def test_migrations_upgrade_empty_database_to_head(database_url: str) -> None:
    db = Database(database_url, migrate=False)
    assert db.current_revision() is None
    db.migrate()
    assert db.current_revision() == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "record",
        "item",
        "annotation",
        "decision",
        "user",
        "release",
        "releaseitem",
        "auditevent",
        "evaluation",
        "assignment",
        "benchmark",
    } <= tables
    db.migrate()  # idempotent
    db.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    """A model change without a migration fails here, before it can lose data in the field."""
    db = Database(database_url)
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    db.dispose()
    assert diff == []


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    db.dispose()


def test_audit_log_and_aware_datetimes(database_url: str) -> None:
    db = Database(database_url)
    with db.session() as s:
        b = Benchmark(name="x", spec={}, spec_hash="h")
        s.add(b)
        s.flush()
        log_event(
            s,
            actor="ana",
            action="benchmark.create",
            entity="benchmark",
            entity_id="x",
            after={"a": 1},
        )
        log_event(
            s,
            actor="ana",
            action="benchmark.update",
            entity="benchmark",
            entity_id="x",
            before={"a": 1},
            after={"a": 2},
        )
    with db.session() as s:
        events = history(s, entity="benchmark", entity_id="x")
        assert [e.action for e in events] == ["benchmark.create", "benchmark.update"]
        assert events[1].before == {"a": 1} and events[1].after == {"a": 2}
        assert events[0].at.tzinfo is not None and events[0].at.utcoffset() == UTC.utcoffset(None)
    db.dispose()


def test_failed_session_rolls_back(database_url: str) -> None:
    db = Database(database_url)
    with pytest.raises(RuntimeError), db.session() as s:
        s.add(Benchmark(name="y", spec={}, spec_hash="h"))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:
        assert s.get(Benchmark, 1) is None
    db.dispose()


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(StoreError, match="mysql://x is not supported|'mysql://x' is not supported"):
        Database("mysql://x")
