"""Evaluations: a model's scores on one release version (the leaderboard's rows)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from builder.store.models import Evaluation

__all__ = ["add_evaluation", "evaluations"]


def add_evaluation(
    session: Session,
    *,
    benchmark: str,
    version: str,
    split: str,
    model: str,
    created_by: str,
    predictions_sha256: str,
    metrics: dict[str, Any],
) -> int:
    """Store one scored run; returns its id."""
    row = Evaluation(
        benchmark=benchmark,
        version=version,
        split=split,
        model=model,
        created_by=created_by,
        predictions_sha256=predictions_sha256,
        metrics=metrics,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def evaluations(
    session: Session, benchmark: str, *, version: str | None = None, split: str | None = None
) -> list[Evaluation]:
    """Stored evaluations of a benchmark, oldest first."""
    stmt = select(Evaluation).where(Evaluation.benchmark == benchmark)
    if version is not None:
        stmt = stmt.where(Evaluation.version == version)
    if split is not None:
        stmt = stmt.where(Evaluation.split == split)
    return list(session.exec(stmt.order_by(col(Evaluation.id))))
