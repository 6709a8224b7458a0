"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL (teams)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from builder.errors import StoreError

__all__ = ["Database", "alembic_config", "head_revision"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN (pysqlite's implicit transactions defeat
        # BEGIN IMMEDIATE); WAL lets readers run beside one writer; busy_timeout waits
        # instead of failing when another writer holds the lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk ingest updates a large index
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers never deadlock on a
        # read→write lock upgrade, which busy_timeout cannot resolve.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """One database: an engine plus sessions; migrated to head on open."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.engine = _sqlite_engine(url)
            elif url.startswith("postgresql"):
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            else:
                raise StoreError(
                    f"database URL {url!r} is not supported; use sqlite:///PATH or "
                    "postgresql+psycopg://USER@HOST/DB"
                )
        except ModuleNotFoundError as e:
            raise StoreError(
                f"the driver for {url.split(':', 1)[0]} is missing ({e.name}); "
                "install it with: pip install 'benchsmith[postgres]'"
            ) from None
        if migrate:
            self.migrate()

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite backend."""
        return self.engine.dialect.name == "sqlite"

    def current_revision(self) -> str | None:
        """The migration the database is at (None when empty)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema; a no-op when already at ``revision``."""
        try:
            if revision == "head" and self.current_revision() == head_revision():
                return
            cfg = alembic_config()
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except OperationalError as e:
            raise StoreError(
                f"cannot open or migrate the database at {self.safe_url}: {e.orig}"
            ) from None

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
