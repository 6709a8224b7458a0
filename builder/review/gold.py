"""Gold items: a lead's known answer, mixed unannounced into every annotator's queue.

Marking approves the item with that answer (audited as a decision with reason
:data:`~builder.review.consensus.GOLD_REASON`); unmarking keeps it approved. Annotators are
never told: a gold item is served, revised and acknowledged like any other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from builder.domain import ItemStatus, Role
from builder.review._common import clock, locked_item, spec_of
from builder.review.auth import Actor, authorize
from builder.review.consensus import GOLD_REASON, DecisionResult, approve, validate_answer
from builder.store.audit import log_event
from builder.store.models import Item
from builder.workspace import Workspace

__all__ = ["mark_gold", "unmark_gold"]


def _set_gold(s: Session, actor: Actor, item: Item, gold: bool, answer: Any) -> None:
    """Mark (``gold``, with ``answer``) or unmark the item as gold, audited."""
    assert item.id is not None
    before = {"is_gold": item.is_gold, "gold_answer": item.gold_answer}
    item.is_gold, item.gold_answer = gold, answer
    log_event(
        s,
        actor=actor.name,
        action="item.gold" if gold else "item.ungold",
        entity="item",
        entity_id=item.id,
        benchmark_id=item.benchmark_id,
        before=before,
        after={"is_gold": gold, "gold_answer": answer},
    )


def mark_gold(
    ws: Workspace, actor: Actor, item_id: int, answer: Any, *, now: datetime | None = None
) -> DecisionResult:
    """A lead gives the item a known answer: it is approved with it and, unannounced, mixed
    into every annotator's queue to measure their accuracy."""
    at = clock(now)
    with ws.db.session() as s:
        actor = authorize(s, actor, Role.lead, "marking gold items")
        item = locked_item(s, item_id)
        _, spec = spec_of(s, item.benchmark_id)
        answer = validate_answer(spec.task, answer)
        _set_gold(s, actor, item, True, answer)
        if item.status != ItemStatus.approved or item.answer != answer:
            approve(
                s,
                item,
                answer,
                reviewer_id=actor.user_id,
                actor=actor.name,
                reason=GOLD_REASON,
                at=at,
                action="item.decide",
            )
        s.add(item)
        return DecisionResult(item_id, item.status, item.revision, item.answer)


def unmark_gold(
    ws: Workspace, actor: Actor, item_id: int, *, now: datetime | None = None
) -> DecisionResult:
    """Stop using the item as gold (it stays approved with its answer)."""
    at = clock(now)
    with ws.db.session() as s:
        actor = authorize(s, actor, Role.lead, "marking gold items")
        item = locked_item(s, item_id)
        _set_gold(s, actor, item, False, None)
        item.updated_at = at
        s.add(item)
        return DecisionResult(item_id, item.status, item.revision, item.answer)
