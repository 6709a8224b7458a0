"""Benchmarks registered in a workspace."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from builder.store.audit import log_event
from builder.store.db import run_core
from builder.store.models import Benchmark, utcnow

__all__ = ["BenchRef", "benchmark_refs", "benchmark_spec", "get_benchmark", "upsert_benchmark"]


class BenchRef(NamedTuple):
    """A benchmark's identity and the hash of its spec (the spec itself is cached by hash)."""

    id: int
    name: str
    spec_hash: str


@functools.cache
def _q_bench(by: str) -> Any:
    b = Benchmark.__table__  # type: ignore[attr-defined]
    stmt = sa_select(b.c.id, b.c.name, b.c.spec_hash)
    return stmt.where(b.c[by] == bindparam("key")) if by else stmt.order_by(b.c.name)


def benchmark_refs(
    session: Session, *, name: str | None = None, id: int | None = None
) -> list[BenchRef]:
    """The benchmark called ``name`` (or with ``id``), or every benchmark by name."""
    by, key = ("name", name) if name is not None else ("id", id) if id is not None else ("", None)
    return [BenchRef(*row) for row in run_core(session, _q_bench(by), {"key": key})]


def benchmark_spec(session: Session, benchmark_id: int) -> dict[str, Any]:
    """The stored spec of a benchmark (JSON)."""
    b = Benchmark.__table__  # type: ignore[attr-defined]
    return dict(session.execute(sa_select(b.c.spec).where(b.c.id == benchmark_id)).scalar_one())


def get_benchmark(session: Session, name: str) -> Benchmark | None:
    """The benchmark called ``name``, if any."""
    return session.exec(select(Benchmark).where(Benchmark.name == name)).first()


def upsert_benchmark(
    session: Session,
    *,
    name: str,
    spec: dict[str, Any],
    spec_hash: str,
    guidelines: str | None,
    actor: str,
) -> tuple[Benchmark, str]:
    """Create or update a benchmark; returns it and 'created' | 'updated' | 'unchanged'."""
    bench = get_benchmark(session, name)
    before: dict[str, Any] | None = None
    if bench is None:
        bench = Benchmark(name=name, spec=spec, spec_hash=spec_hash, guidelines=guidelines)
        session.add(bench)
        session.flush()
        outcome = "created"
    elif bench.spec_hash == spec_hash and bench.guidelines == guidelines:
        return bench, "unchanged"
    else:
        before = bench.spec
        bench.spec, bench.spec_hash, bench.guidelines = spec, spec_hash, guidelines
        bench.updated_at = utcnow()
        session.add(bench)
        outcome = "updated"
    log_event(
        session,
        actor=actor,
        action="benchmark.create" if outcome == "created" else "benchmark.update",
        entity="benchmark",
        entity_id=name,
        benchmark_id=bench.id,
        before=before,
        after=spec,
    )
    return bench, outcome
