"""Append-only audit log: every change a person (or a policy) makes is an event."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from builder.store.models import AuditEvent

__all__ = ["history", "log_event", "recent_events"]


def log_event(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    benchmark_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Add an audit event to the session's transaction (committed with the change it logs)."""
    event = AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        benchmark_id=benchmark_id,
        before=before,
        after=after,
    )
    session.add(event)
    return event


def history(session: Session, *, entity: str, entity_id: str | int) -> list[AuditEvent]:
    """Every event about one entity, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
        .order_by(col(AuditEvent.id))
    )
    return list(session.exec(stmt))


def recent_events(
    session: Session,
    *,
    actions: Collection[str],
    since: datetime | None,
    limit: int,
    entity: str | None = None,
    entity_id: str | None = None,
) -> list[AuditEvent]:
    """Events of these actions at or after ``since`` (of one entity if given), newest first.

    At most ``limit``: the login throttle reads its counters from here, and an attack must
    not make each login read an unbounded history.
    """
    stmt = select(AuditEvent).where(col(AuditEvent.action).in_(list(actions)))
    if since is not None:
        stmt = stmt.where(col(AuditEvent.at) >= since)
    if entity is not None:
        stmt = stmt.where(AuditEvent.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    return list(session.exec(stmt.order_by(col(AuditEvent.id).desc()).limit(limit)))
