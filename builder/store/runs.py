"""Curation runs: when curate ran, with which embedder and seed, and its report."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from builder.errors import StoreError
from builder.store.models import CurationRun

__all__ = ["create_run", "latest_run", "set_run_report"]


def create_run(session: Session, *, benchmark_id: int, embedder: str, seed: int) -> int:
    """A new curation run row (its report is set by :func:`set_run_report`); returns its id."""
    run = CurationRun(benchmark_id=benchmark_id, embedder=embedder, seed=seed, report={})
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def set_run_report(session: Session, run_id: int, report: dict[str, Any]) -> None:
    """Store the run's report."""
    run = session.get(CurationRun, run_id)
    if run is None:
        raise StoreError(f"curation run {run_id} does not exist")
    run.report = report
    session.add(run)


def latest_run(session: Session, benchmark_id: int) -> CurationRun | None:
    """The newest run of a benchmark, if any."""
    stmt = (
        select(CurationRun)
        .where(CurationRun.benchmark_id == benchmark_id)
        .order_by(col(CurationRun.id).desc())
        .limit(1)
    )
    return session.exec(stmt).first()
