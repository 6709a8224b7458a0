"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL (teams)."""

from __future__ import annotations

import os
import threading
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

__all__ = ["Database", "alembic_config", "head_revision", "run_core"]

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


def run_core(session: Session, stmt: Any, params: dict[str, Any] | None = None) -> Any:
    """Run a Core statement on the session's connection and return the result."""
    # The ORM execution path costs a few hundred microseconds a statement, more than SQLite
    # takes to run most of the queue's queries.
    return session.connection().execute(stmt, params or {})


# SQLite serialises writers anyway (BEGIN IMMEDIATE). Queuing this process's threads on a
# lock first replaces SQLite's sleep-and-retry busy handler (sleeps of up to 100 ms) with a
# prompt hand-over; other processes still wait through busy_timeout. Re-entrant, so a thread
# that nests sessions meets SQLite's own rules, not a deadlock of ours; the wait is bounded
# by the busy timeout, after which SQLite decides as it would without the lock.
_SQLITE_LOCKS: dict[str, threading.RLock] = {}
_SQLITE_LOCKS_GUARD = threading.Lock()
_BUSY_TIMEOUT_S = 30


def _create_private(path: Path) -> None:
    """Create an empty database file readable by the owner only (0600), if there is none.

    The database holds password hashes. SQLite gives the ``-wal`` and ``-shm`` files it
    creates beside a database the database file's mode, so they are private too. A folder
    made here is 0700. An existing file keeps its mode (a team may share it on purpose).
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    os.chmod(path, 0o600)  # whatever the umask


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
    if path and path != ":memory:":
        _create_private(Path(path))
    engine = create_engine(
        url, connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN (pysqlite's implicit transactions defeat
        # BEGIN IMMEDIATE); WAL lets readers run beside one writer; busy_timeout waits
        # instead of failing when another writer holds the lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
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
    """One database: an engine plus sessions; migrated to head on open.

    :meth:`session` is the only way into a transaction.
    """

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
        """One transaction: committed on success, rolled back on any error.

        On SQLite this process's threads take turns (see ``_SQLITE_LOCKS``).
        """
        lock = self._sqlite_lock()
        held = lock is not None and lock.acquire(timeout=_BUSY_TIMEOUT_S)
        try:
            session = Session(self.engine, expire_on_commit=False)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        finally:
            if held:
                assert lock is not None
                lock.release()

    def _sqlite_lock(self) -> threading.RLock | None:
        if not self.is_sqlite:
            return None
        with _SQLITE_LOCKS_GUARD:
            return _SQLITE_LOCKS.setdefault(self.url, threading.RLock())

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
