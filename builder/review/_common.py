"""Helpers shared by the review modules: the benchmark of a transaction, and the clock."""

from __future__ import annotations

import time
from datetime import datetime

from sqlmodel import Session

from builder.errors import ConfigError, NotFoundError
from builder.spec import BenchmarkSpec
from builder.store.models import utcnow
from builder.store.review import BenchRef, benchmark_refs, benchmark_spec
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


def _spec(session: Session, ref: BenchRef) -> BenchmarkSpec:
    spec = _SPECS.get(ref.spec_hash)
    if spec is None:
        spec = _SPECS[ref.spec_hash] = BenchmarkSpec.model_validate(benchmark_spec(session, ref.id))
    return spec


# Which benchmark a name (or id) means changes only when a lead re-registers a spec; every
# queue call asks, so remember the answer for a few seconds per database.
_REFS: dict[tuple[str, str | int | None], tuple[float, BenchRef]] = {}
REF_TTL_S = 5.0


def _cached(key: tuple[str, str | int | None]) -> BenchRef | None:
    hit = _REFS.get(key)
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def _remember(key: tuple[str, str | int | None], ref: BenchRef) -> BenchRef:
    _REFS[key] = (time.monotonic() + REF_TTL_S, ref)
    return ref


def bench_in(session: Session, ws: Workspace, name: str | None) -> tuple[BenchRef, BenchmarkSpec]:
    """The benchmark to act on, read inside the caller's transaction (no extra round trip).

    Selection and errors follow :meth:`Workspace.benchmark` (which opens its own session,
    and so cannot be called while this one holds SQLite's write lock).
    """
    wanted = name or ws.settings.benchmark
    key = (ws.db.url, wanted)
    ref = _cached(key)
    if ref is not None:
        return ref, _spec(session, ref)
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
                f"no benchmark in the workspace {ws.settings.home}; "
                "run `benchsmith init --spec FILE` first"
            )
        if len(refs) > 1:
            raise ConfigError(
                f"the workspace holds several benchmarks {[b.name for b in refs]}; "
                "pick one with --benchmark NAME"
            )
    return _remember(key, refs[0]), _spec(session, refs[0])


def spec_of(session: Session, benchmark_id: int) -> tuple[BenchRef, BenchmarkSpec]:
    """The benchmark an item belongs to, and its parsed spec."""
    key = (str(session.get_bind().engine.url), benchmark_id)
    ref = _cached(key)
    if ref is None:
        (ref,) = benchmark_refs(session, id=benchmark_id)
        _remember(key, ref)
    return ref, _spec(session, ref)
