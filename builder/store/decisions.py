"""Decisions: a reviewer's (or the auto-approval policy's) verdict and final answer; append-only."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlmodel import Session, col

from builder.domain import Verdict
from builder.store.models import Decision, Item, Record, User

__all__ = [
    "ExportDecision",
    "add_decision",
    "decisions_of",
    "export_decisions",
    "reviewer_settled",
]

_IN_CHUNK = 900  # ids per IN (...) list: far below every backend's parameter limit


def add_decision(
    session: Session,
    *,
    item_id: int,
    reviewer_id: int | None,
    verdict: Verdict,
    answer: Any,
    reason: str,
) -> Decision:
    """Append a decision row (inserted at the transaction's next flush, with its other
    changes: a submit that auto-approves pays no separate flush for it)."""
    row = Decision(
        item_id=item_id, reviewer_id=reviewer_id, verdict=verdict, answer=answer, reason=reason
    )
    session.add(row)
    return row


def reviewer_settled(
    session: Session, item_ids: Iterable[int], *, ignore_reason: str | None = None
) -> set[int]:
    """Those of ``item_ids`` whose latest decision is a person's approval or rejection (not
    the auto-approval policy's, not a send-back). Approvals by a person with the reason
    ``ignore_reason`` (gold markings) are passed over, as if they had not been taken."""
    wanted = sorted(set(item_ids))
    latest: dict[int, tuple[int | None, str]] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        stmt = (
            select(
                col(Decision.item_id),
                col(Decision.reviewer_id),
                col(Decision.verdict),
                col(Decision.reason),
            )
            .where(col(Decision.item_id).in_(wanted[start : start + _IN_CHUNK]))
            .order_by(col(Decision.item_id), col(Decision.id))
        )
        for item_id, reviewer_id, verdict, reason in session.execute(stmt):
            passed_over = (
                ignore_reason is not None
                and reviewer_id is not None
                and reason == ignore_reason
                and str(verdict) == Verdict.approved.value
            )
            if not passed_over:
                latest[int(item_id)] = (reviewer_id, str(verdict))
    settled = {Verdict.approved.value, Verdict.rejected.value}
    return {i for i, (who, verdict) in latest.items() if who is not None and verdict in settled}


def decisions_of(session: Session, item_id: int) -> list[tuple[Decision, str | None]]:
    """The item's decisions with the reviewer's name (None for the policy), oldest first."""
    stmt = (
        select(Decision, col(User.name))
        .outerjoin(User, col(User.id) == col(Decision.reviewer_id))
        .where(col(Decision.item_id) == item_id)
        .order_by(col(Decision.id))
    )
    return [(d, name) for d, name in session.execute(stmt)]


class ExportDecision(NamedTuple):
    """A decision with the names an audit needs."""

    decision: Decision
    source_id: str
    reviewer: str | None


def export_decisions(session: Session, benchmark_id: int) -> Iterator[ExportDecision]:
    """Every decision, by item then time."""
    stmt = (
        select(Decision, col(Record.source_id), col(User.name))
        .join(Item, col(Item.id) == col(Decision.item_id))
        .join(Record, col(Record.id) == col(Item.record_id))
        .outerjoin(User, col(User.id) == col(Decision.reviewer_id))
        .where(col(Item.benchmark_id) == benchmark_id)
        .order_by(col(Decision.item_id), col(Decision.id))
    )
    for d, sid, name in session.execute(stmt):
        yield ExportDecision(d, sid, name)
