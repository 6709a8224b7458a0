"""Helpers shared by the review modules: the benchmark of a transaction, the clock, and
the item row a change locks."""

from __future__ import annotations

import time
from datetime import datetime

from sqlmodel import Session

from builder.errors import NotFoundError
from builder.spec import BenchmarkSpec
from builder.store.benchmarks import BenchRef, benchmark_refs
from builder.store.items import lock_item
from builder.store.models import Item, utcnow
from builder.workspace import Workspace, choose_benchmark, parsed_spec

__all__ = ["bench_in", "clock", "locked_item", "spec_of"]


def clock(now: datetime | None) -> datetime:
    """``now`` when a caller (a test, a replay) fixes the time, else the current UTC time."""
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}; pass a UTC-aware datetime")
    return now


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
    """The benchmark to act on (:func:`~builder.workspace.choose_benchmark`), read inside the
    caller's transaction: :meth:`Workspace.benchmark` opens a session of its own."""
    key = (ws.db.url, name or ws.settings.benchmark)
    ref = _cached(key)
    if ref is not None:
        return ref, parsed_spec(session, ref)
    ref, spec = choose_benchmark(session, name=name, settings=ws.settings)
    _remember(key, ref)
    return ref, spec


def spec_of(session: Session, benchmark_id: int) -> tuple[BenchRef, BenchmarkSpec]:
    """The benchmark an item belongs to, and its parsed spec."""
    key = (str(session.get_bind().engine.url), benchmark_id)
    ref = _cached(key)
    if ref is None:
        (ref,) = benchmark_refs(session, id=benchmark_id)
        _remember(key, ref)
    return ref, parsed_spec(session, ref)


def locked_item(session: Session, item_id: int) -> Item:
    """The item, its row locked for the caller's transaction; NotFoundError when none."""
    item = lock_item(session, item_id)
    if item is None:
        raise NotFoundError(f"item {item_id} does not exist; see `benchsmith items list`")
    return item
