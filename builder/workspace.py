"""A workspace: settings + database + the benchmark being worked on."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from builder.config import Settings
from builder.errors import ConfigError, NotFoundError
from builder.spec import BenchmarkSpec, load_spec
from builder.store.benchmarks import (
    BenchRef,
    benchmark_refs,
    benchmark_spec,
    get_benchmark,
    upsert_benchmark,
)
from builder.store.db import Database
from builder.store.models import Benchmark

__all__ = [
    "InitResult",
    "Workspace",
    "choose_benchmark",
    "current_actor",
    "init_workspace",
    "open_workspace",
    "parsed_spec",
]


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
        """The benchmark to act on (see :func:`choose_benchmark`), in a session of its own."""
        with self.db.session() as s:
            ref, spec = choose_benchmark(s, name=name, settings=self.settings)
            bench = get_benchmark(s, ref.name)
        assert bench is not None
        return bench, spec


# Validating a spec costs far more than the queries of a queue call; specs are immutable
# per hash, so parse each once per process.
_SPECS: dict[str, BenchmarkSpec] = {}


def parsed_spec(session: Session, ref: BenchRef) -> BenchmarkSpec:
    """The benchmark's spec, parsed once per spec hash."""
    spec = _SPECS.get(ref.spec_hash)
    if spec is None:
        spec = _SPECS[ref.spec_hash] = BenchmarkSpec.model_validate(benchmark_spec(session, ref.id))
    return spec


def choose_benchmark(
    session: Session, *, name: str | None, settings: Settings
) -> tuple[BenchRef, BenchmarkSpec]:
    """The benchmark to act on: ``name``, the settings' choice, or the workspace's only one.

    The CLI (through :meth:`Workspace.benchmark`) and the review actions (inside their own
    transaction) both choose here, so they agree on the choice and on the errors.
    """
    wanted = name or settings.benchmark
    if wanted:
        refs = benchmark_refs(session, name=wanted)
        if not refs:
            names = [b.name for b in benchmark_refs(session)]
            raise NotFoundError(
                f"benchmark {wanted!r} is not in this workspace (it has {names or 'none'}); "
                "check --benchmark or run `benchsmith init --spec FILE`"
            )
    else:
        refs = benchmark_refs(session)
        if not refs:
            raise ConfigError(
                f"no benchmark in the workspace {settings.home}; "
                "run `benchsmith init --spec FILE` first"
            )
        if len(refs) > 1:
            raise ConfigError(
                f"the workspace holds several benchmarks {[b.name for b in refs]}; "
                "pick one with --benchmark NAME"
            )
    return refs[0], parsed_spec(session, refs[0])


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did."""

    workspace: Path
    benchmark: str
    action: str
    """created | updated | unchanged"""


def _ensure_dirs(settings: Settings) -> None:
    # The workspace holds the database (password hashes) and the signing key: the folders
    # made here are the owner's only (0700); existing ones keep their mode.
    for d in (settings.home, settings.embedding_cache, settings.rejects_dir):
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
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
