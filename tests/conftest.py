"""Shared fixtures: real SQLite files, a real PostgreSQL server, a workspace with the sample spec.

PostgreSQL: the session starts its own server in a temp dir (as the ``postgres`` user when
run as root, since initdb refuses root) and stops it afterwards. Without the binaries the
PostgreSQL tests skip locally, but fail when ``BENCHSMITH_REQUIRE_ALL=1`` (set by CI), so
nothing silently skips in CI.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.config import Settings
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.pgserver import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SAMPLE_SPEC = DATA / "debian-sections.yaml"
SAMPLE_DATA = DATA / "debian_packages.jsonl.gz"
REQUIRE_ALL = os.environ.get("BENCHSMITH_REQUIRE_ALL") == "1"


def missing(what: str) -> None:
    """Skip locally, fail in CI: a missing dependency must never pass silently there."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} (BENCHSMITH_REQUIRE_ALL=1: CI must run every test)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        yield None
        return
    # Not under pytest's tmp dir: that is private to root and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="benchsmith-pg-"))
    server = PostgresServer(Path(bins[-1]).parent, root)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer | None) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    if postgres_server is None:
        missing("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    assert postgres_server is not None
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bench.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    home = tmp_path / "ws"
    return Settings.from_env(
        {},
        home=home,
        database_url=database_url,
        registry=str(tmp_path / "registry"),
        private_registry=str(tmp_path / "private"),
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings for tests that only need the embedded default."""
    return Settings.from_env(
        {},
        home=tmp_path / "ws",
        registry=str(tmp_path / "registry"),
        private_registry=str(tmp_path / "private"),
    )


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    """A workspace with the sample benchmark registered (SQLite and PostgreSQL)."""
    init_workspace(settings, SAMPLE_SPEC)
    ws = open_workspace(settings)
    yield ws
    ws.db.dispose()


@pytest.fixture
def sqlite_workspace(sqlite_settings: Settings) -> Iterator[Workspace]:
    """A SQLite-only workspace with the sample benchmark registered."""
    init_workspace(sqlite_settings, SAMPLE_SPEC)
    ws = open_workspace(sqlite_settings)
    yield ws
    ws.db.dispose()


@pytest.fixture(scope="session")
def sample_rows() -> list[dict[str, object]]:
    """The bundled Debian sample corpus as dicts."""
    import gzip
    import json

    with gzip.open(SAMPLE_DATA, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
