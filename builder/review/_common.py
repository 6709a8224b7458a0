"""Helpers shared by the review modules: the benchmark of a transaction, and the clock."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from builder.errors import ConfigError, NotFoundError
from builder.spec import BenchmarkSpec
from builder.store.benchmarks import get_benchmark, list_benchmarks
from builder.store.models import Benchmark, utcnow
from builder.workspace import Workspace

__all__ = ["bench_in", "clock", "spec_of"]

# Validating a spec costs far more than the queries of a queue call; specs are immutable
# per hash, so parse each once per process.
_SPECS: dict[str, BenchmarkSpec] = {}


def clock(now: datetime | None) -> datetime:
    """``now`` when a caller (a test, a replay) fixes the time, else the current UTC time."""
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}; pass a UTC-aware datetime")
    return now


def bench_in(session: Session, ws: Workspace, name: str | None) -> tuple[Benchmark, BenchmarkSpec]:
    """The benchmark to act on, read inside the caller's transaction (no extra round trip).

    Selection and errors follow :meth:`Workspace.benchmark` (which opens its own session,
    and so cannot be called while this one holds SQLite's write lock).
    """
    wanted = name or ws.settings.benchmark
    if wanted:
        bench = get_benchmark(session, wanted)
        if bench is None:
            names = [b.name for b in list_benchmarks(session)]
            raise NotFoundError(
                f"benchmark {wanted!r} is not in this workspace (it has {names or 'none'}); "
                "check --benchmark or run `benchsmith init --spec FILE`"
            )
    else:
        benches = list_benchmarks(session)
        if not benches:
            raise ConfigError(
                f"no benchmark in the workspace {ws.settings.home}; "
                "run `benchsmith init --spec FILE` first"
            )
        if len(benches) > 1:
            raise ConfigError(
                f"the workspace holds several benchmarks {[b.name for b in benches]}; "
                "pick one with --benchmark NAME"
            )
        bench = benches[0]
    spec = _SPECS.get(bench.spec_hash)
    if spec is None:
        spec = _SPECS[bench.spec_hash] = BenchmarkSpec.model_validate(bench.spec)
    return bench, spec


def spec_of(session: Session, benchmark_id: int) -> tuple[Benchmark, BenchmarkSpec]:
    """The benchmark an item belongs to, and its parsed spec."""
    bench = session.get(Benchmark, benchmark_id)
    if bench is None:  # pragma: no cover - items reference benchmarks by foreign key
        raise NotFoundError(f"benchmark id {benchmark_id} does not exist")
    spec = _SPECS.get(bench.spec_hash)
    if spec is None:
        spec = _SPECS[bench.spec_hash] = BenchmarkSpec.model_validate(bench.spec)
    return bench, spec
