"""Shared fixtures: real SQLite files, a real PostgreSQL server, a workspace with the sample spec.

PostgreSQL: the session starts its own server in a temp dir (as the ``postgres`` user when
run as root, since initdb refuses root) and stops it afterwards. Without the binaries the
PostgreSQL tests skip locally, but fail when ``BENCHSMITH_REQUIRE_ALL=1`` (set by CI), so
nothing silently skips in CI.
"""

from __future__ import annotations

import glob
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings
from typer.testing import CliRunner, Result

from builder.cli import app
from builder.config import Settings
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import SAMPLE_DATA, SAMPLE_SPEC, Cli, missing
from tests.support.pgserver import PostgresServer

if TYPE_CHECKING:
    from builder.curate.embed import Embedder

# CI machines are shared and noisy: a property test's per-example deadline would fail on
# load, not on behaviour, so no property test has one (the example count still bounds time).
hypothesis_settings.register_profile("benchsmith", deadline=None)
hypothesis_settings.load_profile("benchsmith")

# Fixture modules, available to every test without importing them.
pytest_plugins = ["tests.support.review", "tests.support.releases", "tests.support.ray_cluster"]


@pytest.fixture
def cli() -> Cli:
    """The one way tests run the CLI: ``cli("status", "--json", env=...)`` → the Result
    (``exit_code``, ``stdout``, ``stderr``, ``output``); ``input`` is fed to stdin."""
    runner = CliRunner()

    def invoke(
        *args: str | Path, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> Result:
        return runner.invoke(app, [str(a) for a in args], env=env, input=input)

    return invoke


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for ``cli``: a workspace under tmp_path, no outer ``BENCHSMITH_*`` leaking in."""
    return {
        "BENCHSMITH_HOME": str(tmp_path / "ws"),
        "BENCHSMITH_DATABASE_URL": "",
        "BENCHSMITH_BENCHMARK": "",
        "BENCHSMITH_REGISTRY": "",
        "BENCHSMITH_PRIVATE_REGISTRY": "",
    }


@pytest.fixture
def ops_env(cli_env: dict[str, str]) -> dict[str, str]:
    """``cli_env`` with the CLI acting as user ``ops`` (``BENCHSMITH_USER``)."""
    return {**cli_env, "BENCHSMITH_USER": "ops"}


@pytest.fixture
def cli_ws(cli_env: dict[str, str]) -> Iterator[Workspace]:
    """The workspace ``cli(..., env=cli_env)`` works on, with the sample benchmark registered."""
    yield from _sample_workspace(Settings.from_env(cli_env))


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


def _settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    return Settings.from_env(
        {},
        home=tmp_path / "ws",
        database_url=database_url,
        registry=str(tmp_path / "registry"),
        private_registry=str(tmp_path / "private"),
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings under tmp_path, on SQLite and on PostgreSQL (see ``database_url``)."""
    return _settings(tmp_path, database_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings for tests that only need the embedded default."""
    return _settings(tmp_path)


def _sample_workspace(settings: Settings) -> Iterator[Workspace]:
    """The sample benchmark registered in a workspace at ``settings``; disposed afterwards."""
    init_workspace(settings, SAMPLE_SPEC)
    ws = open_workspace(settings)
    yield ws
    ws.db.dispose()


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    """A workspace with the sample benchmark registered (SQLite and PostgreSQL)."""
    yield from _sample_workspace(settings)


@pytest.fixture
def sqlite_workspace(sqlite_settings: Settings) -> Iterator[Workspace]:
    """A SQLite-only workspace with the sample benchmark registered."""
    yield from _sample_workspace(sqlite_settings)


@pytest.fixture(scope="session")
def sample_rows() -> list[dict[str, object]]:
    """The bundled Debian sample corpus as dicts."""
    import gzip
    import json

    with gzip.open(SAMPLE_DATA, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def static() -> Embedder:
    """The static embedder (model2vec); skips locally, fails in CI, when its model is missing."""
    from builder.curate.embed import get_embedder
    from builder.errors import ModelMissingError

    try:
        return get_embedder("static")
    except ModelMissingError as e:
        missing(str(e))
