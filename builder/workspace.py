"""A workspace: settings + database + the benchmark being worked on."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from builder.config import Settings
from builder.errors import ConfigError, NotFoundError
from builder.spec import BenchmarkSpec, load_spec
from builder.store.benchmarks import get_benchmark, list_benchmarks, upsert_benchmark
from builder.store.db import Database
from builder.store.models import Benchmark

__all__ = ["InitResult", "Workspace", "current_actor", "init_workspace", "open_workspace"]


def current_actor() -> str:
    """Who is acting from the CLI (``BENCHSMITH_USER`` or the OS login)."""
    name = os.environ.get("BENCHSMITH_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@dataclass
class Workspace:
    """An opened workspace; ``db`` is migrated to head."""

    settings: Settings
    db: Database

    def benchmark(self, name: str | None = None) -> tuple[Benchmark, BenchmarkSpec]:
        """The benchmark to act on: ``name``, the settings' choice, or the only one."""
        wanted = name or self.settings.benchmark
        with self.db.session() as s:
            if wanted:
                bench = get_benchmark(s, wanted)
                if bench is None:
                    names = [b.name for b in list_benchmarks(s)]
                    raise NotFoundError(
                        f"benchmark {wanted!r} is not in this workspace (it has {names or 'none'}); "
                        "check --benchmark or run `benchsmith init --spec FILE`"
                    )
            else:
                benches = list_benchmarks(s)
                if not benches:
                    raise ConfigError(
                        f"no benchmark in the workspace {self.settings.home}; "
                        "run `benchsmith init --spec FILE` first"
                    )
                if len(benches) > 1:
                    raise ConfigError(
                        f"the workspace holds several benchmarks {[b.name for b in benches]}; "
                        "pick one with --benchmark NAME"
                    )
                bench = benches[0]
        return bench, BenchmarkSpec.model_validate(bench.spec)


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did."""

    workspace: Path
    benchmark: str
    action: str
    """created | updated | unchanged"""


def _ensure_dirs(settings: Settings) -> None:
    for d in (settings.home, settings.embedding_cache, settings.rejects_dir):
        d.mkdir(parents=True, exist_ok=True)
    if "://" not in settings.registry:
        Path(settings.registry).mkdir(parents=True, exist_ok=True)


def open_workspace(settings: Settings, *, create: bool = False) -> Workspace:
    """Open (and migrate) the workspace; refuse a missing SQLite workspace unless ``create``."""
    sqlite = settings.database_url.startswith("sqlite")
    if sqlite and not create and not settings.home.is_dir():
        raise ConfigError(
            f"no workspace at {settings.home}; run `benchsmith init --spec FILE` "
            "(or set BENCHSMITH_HOME / --workspace to an existing one)"
        )
    _ensure_dirs(settings)
    return Workspace(settings=settings, db=Database(settings.database_url))


def init_workspace(
    settings: Settings, spec_path: str | Path, *, update: bool = False
) -> InitResult:
    """Create the workspace if needed and register the benchmark from ``spec_path``."""
    spec, guidelines = load_spec(spec_path)
    ws = open_workspace(settings, create=True)
    with ws.db.session() as s:
        existing = get_benchmark(s, spec.name)
        if existing is not None and existing.spec_hash != spec.spec_hash() and not update:
            raise ConfigError(
                f"benchmark {spec.name!r} is already registered with a different spec; "
                "pass --update to replace it (the change is audited)"
            )
        _, action = upsert_benchmark(
            s,
            name=spec.name,
            spec=spec.model_dump(mode="json"),
            spec_hash=spec.spec_hash(),
            guidelines=guidelines,
            actor=current_actor(),
        )
    ws.db.dispose()
    return InitResult(workspace=settings.home, benchmark=spec.name, action=action)
