"""Settings: workspace, database URL, registry URLs, from flags and ``BENCHSMITH_*`` variables.

Build a :class:`Settings` at the entry point (CLI, app, test) and pass it down; nothing here
reads the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

__all__ = ["DEFAULT_MAX_FIELD_BYTES", "SESSION_IDLE", "SESSION_MAX", "Settings"]

DEFAULT_MAX_FIELD_BYTES = 1_000_000
SESSION_IDLE = timedelta(hours=3)
"""A review app login ends after this long without a page run (a long lunch, not a night)."""
SESSION_MAX = timedelta(hours=12)
"""A review app login ends this long after it began, however busy (a working day)."""


@dataclass(frozen=True)
class Settings:
    """Where a workspace lives and what it talks to."""

    home: Path
    """Workspace folder: database (SQLite default), embedding cache, local registry."""
    database_url: str
    """SQLAlchemy URL; ``sqlite:///<home>/benchsmith.db`` unless set."""
    registry: str
    """Public release registry: a folder or any fsspec URL."""
    private_registry: str
    """Registry for the private holdout split; never the public one."""
    benchmark: str | None = None
    """Benchmark to act on when the workspace holds several."""
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
    """Largest field accepted by ingest, in UTF-8 bytes."""
    cache_dir: Path | None = None
    """Cache for pulled releases (``~/.cache/benchsmith`` unless set)."""
    trusted_keys: tuple[Path, ...] = ()
    """Public key files (PEM) of trusted release publishers, from ``BENCHSMITH_TRUSTED_KEYS``
    (paths separated by ``os.pathsep``); when any is set, pulls refuse releases they did not sign."""
    session_idle: timedelta = SESSION_IDLE
    """Review app logins end after this long idle (``BENCHSMITH_SESSION_IDLE_MINUTES``)."""
    session_max: timedelta = SESSION_MAX
    """Review app logins end this long after login (``BENCHSMITH_SESSION_MAX_HOURS``)."""

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        home: str | Path | None = None,
        database_url: str | None = None,
        registry: str | None = None,
        private_registry: str | None = None,
        benchmark: str | None = None,
    ) -> Settings:
        """Flags win over ``BENCHSMITH_*`` variables, which win over defaults."""
        env = os.environ if env is None else env
        root = Path(home or env.get("BENCHSMITH_HOME") or ".benchsmith").expanduser().absolute()
        max_bytes_raw = env.get("BENCHSMITH_MAX_FIELD_BYTES", str(DEFAULT_MAX_FIELD_BYTES))
        try:
            max_bytes = int(max_bytes_raw)
        except ValueError:
            from builder.errors import ConfigError

            raise ConfigError(
                f"BENCHSMITH_MAX_FIELD_BYTES={max_bytes_raw!r} is not an integer; "
                "set it to a byte count such as 1000000"
            ) from None
        idle = _duration(env, "BENCHSMITH_SESSION_IDLE_MINUTES", SESSION_IDLE, timedelta(minutes=1))
        longest = _duration(env, "BENCHSMITH_SESSION_MAX_HOURS", SESSION_MAX, timedelta(hours=1))
        cache = env.get("BENCHSMITH_CACHE") or str(Path("~/.cache/benchsmith").expanduser())
        return cls(
            home=root,
            database_url=database_url
            or env.get("BENCHSMITH_DATABASE_URL")
            or f"sqlite:///{root / 'benchsmith.db'}",
            registry=registry or env.get("BENCHSMITH_REGISTRY") or str(root / "registry"),
            private_registry=private_registry
            or env.get("BENCHSMITH_PRIVATE_REGISTRY")
            or str(root / "private-registry"),
            benchmark=benchmark or env.get("BENCHSMITH_BENCHMARK") or None,
            max_field_bytes=max_bytes,
            cache_dir=Path(cache),
            trusted_keys=tuple(
                Path(p).expanduser()
                for p in env.get("BENCHSMITH_TRUSTED_KEYS", "").split(os.pathsep)
                if p.strip()
            ),
            session_idle=idle,
            session_max=longest,
        )

    @property
    def embedding_cache(self) -> Path:
        """Folder of cached embeddings keyed by (model id, content hash)."""
        return self.home / "embeddings"

    @property
    def scan_cache(self) -> Path:
        """Folder of cached per-record scan facts keyed by content hash (``curate`` reruns)."""
        return self.home / "scan_cache"

    @property
    def keys_dir(self) -> Path:
        """Folder of the workspace's release signing key (``signing.key``, ``signing.pub``)."""
        return self.home / "keys"

    @property
    def rejects_dir(self) -> Path:
        """Folder where ``ingest --skip-invalid`` writes rejected rows."""
        return self.home / "rejects"

    def with_benchmark(self, name: str | None) -> Settings:
        """A copy acting on benchmark ``name``."""
        return replace(self, benchmark=name)


def _duration(env: Mapping[str, str], key: str, default: timedelta, unit: timedelta) -> timedelta:
    """A positive whole number of ``unit`` from ``env[key]`` (``default`` when unset)."""
    raw = env.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) == 0:
        from builder.errors import ConfigError

        raise ConfigError(
            f"{key}={raw!r} is not a positive whole number; set it to e.g. "
            f"{int(default / unit)} or unset it"
        )
    return int(raw) * unit
