"""Benchmarks registered in a workspace."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from builder.store.audit import log_event
from builder.store.models import Benchmark, utcnow

__all__ = ["get_benchmark", "list_benchmarks", "upsert_benchmark"]


def list_benchmarks(session: Session) -> list[Benchmark]:
    """All benchmarks, by name."""
    return list(session.exec(select(Benchmark).order_by(col(Benchmark.name))))


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
    if bench is None:
        bench = Benchmark(name=name, spec=spec, spec_hash=spec_hash, guidelines=guidelines)
        session.add(bench)
        session.flush()
        log_event(
            session,
            actor=actor,
            action="benchmark.create",
            entity="benchmark",
            entity_id=name,
            benchmark_id=bench.id,
            after=spec,
        )
        return bench, "created"
    if bench.spec_hash == spec_hash and bench.guidelines == guidelines:
        return bench, "unchanged"
    before = bench.spec
    bench.spec, bench.spec_hash, bench.guidelines = spec, spec_hash, guidelines
    bench.updated_at = utcnow()
    session.add(bench)
    log_event(
        session,
        actor=actor,
        action="benchmark.update",
        entity="benchmark",
        entity_id=name,
        benchmark_id=bench.id,
        before=before,
        after=spec,
    )
    return bench, "updated"
