"""The labeling queue: who gets which item next, leases, submits, skips and revisions.

Rules:

* each item gets ``review.annotators_per_item`` answers from distinct annotators;
* blind: nothing here returns another person's answer;
* an item handed out is leased to that annotator for ``review.lease_minutes``; an
  abandoned lease expires and the slot goes to someone else; a skip frees the slot at
  once and the item comes back to the skipper only when nothing else is left;
* items already started come first (they finish sooner), then new ones, in id order;
* gold items (a known answer) are mixed in unannounced, one per ``review.gold_every``
  answers of each annotator (default :data:`GOLD_EVERY`; 0: never);
* nothing an annotator gets back depends on other people's answers or on whether the item
  is gold: :func:`submit` says only that the answer was saved (:class:`Saved`, no status),
  :func:`my_answers` shows their own answers and whether each is still revisable (until a
  reviewer decides the item or it is released, for every item alike), :func:`progress`
  counts answers, not items, so their own submit always moves it by exactly one, and a
  refusal reads the same whatever the others answered;
* a revision of an item that already has all its answers goes to a reviewer; only the
  first complete set of answers can approve itself (see ``builder/review/consensus.py``);
* concurrency: the item row is locked before its slots are counted
  (``builder/store/leases.py``), so with any number of annotators at once no item ever
  gets more answers than asked for, and an answer is either saved or refused with a
  reason — never dropped silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from builder.domain import ItemStatus, Role
from builder.errors import ReviewError
from builder.review import extractive
from builder.review._common import bench_in, clock, locked_item, spec_of
from builder.review.auth import Actor, annotator_account, authorize
from builder.review.consensus import (
    OPEN,
    apply_consensus,
    check_comment,
    closed_to_annotators,
    normalize_flags,
    validate_answer,
)
from builder.review.items import AnswerView, item_fields
from builder.spec import BenchmarkSpec, ReviewSpec
from builder.store.annotations import add_annotation, current_rows, my_current_annotation
from builder.store.audit import log_event
from builder.store.items import item_counts, item_view
from builder.store.leases import (
    LeaseRow,
    active_lease,
    answers_given,
    close_own_lease,
    completed_count,
    has_gold,
    lease_rows,
    pick_gold_item,
    pick_open_item,
    set_lease,
    skip_lease,
)
from builder.store.models import Item
from builder.workspace import Workspace

__all__ = [
    "GOLD_EVERY",
    "Progress",
    "Saved",
    "SubmitResult",
    "Task",
    "next_item",
    "open_answered",
    "progress",
    "record_answer",
    "skip",
    "submit",
]

GOLD_EVERY = ReviewSpec().gold_every
"""The default of ``review.gold_every``: one gold item per this many answers, at a position
that varies per annotator and block."""
_RETRIES = 8


@dataclass(frozen=True)
class Task:
    """An item handed to an annotator."""

    item_id: int
    source_id: str
    fields: dict[str, Any]
    """Input fields to show, in spec order (render as text, never as markup)."""
    curation_flags: dict[str, Any]
    """What curation noticed (PII kinds, near-duplicate source ids)."""
    lease_expires_at: datetime | None
    """None when revising an answered item (no lease needed)."""
    previous: AnswerView | None = None
    """The annotator's own current answer when revising."""


@dataclass(frozen=True)
class Saved:
    """What an annotator learns of their submitted answer: that it was saved. Nothing else —
    not the item's status, which would tell them what the others answered."""

    item_id: int
    revised: bool
    """True when the answer replaced the annotator's earlier one."""
    unchanged: bool = False
    """True when it repeated their current answer exactly (nothing was written)."""


@dataclass(frozen=True)
class SubmitResult:
    """What became of a submitted answer, for the library and the lead's import (never for
    the annotator: see :class:`Saved`)."""

    item_id: int
    status: str
    """The item's status afterwards."""
    revised: bool
    """True when the answer replaced the annotator's earlier one."""
    unchanged: bool = False
    """True when it repeated the current answer exactly (nothing was written)."""


def _gold_due(annotator_id: int, done: int, every: int = GOLD_EVERY) -> bool:
    """Whether the annotator's next answer (after ``done``) is due to be a gold item: one
    per block of ``every`` answers, at a position drawn from (annotator, block); 0: never."""
    if every <= 0:
        return False
    block, pos = divmod(done, every)
    digest = hashlib.sha256(f"{annotator_id}:{block}".encode()).digest()
    return pos == int.from_bytes(digest[:4], "big") % every


def _others_holding(rows: Sequence[LeaseRow], annotator_id: int, at: datetime) -> int:
    return sum(1 for r in rows if r.annotator_id != annotator_id and r.holds_slot(at))


def _take(
    s: Session,
    *,
    bench_id: int,
    annotator_id: int,
    statuses: Sequence[ItemStatus],
    per_item: int,
    at: datetime,
    until: datetime,
    skipped: bool,
) -> int | None:
    tried: list[int] = []
    for _ in range(_RETRIES):
        cand = pick_open_item(
            s,
            benchmark_id=bench_id,
            annotator_id=annotator_id,
            statuses=statuses,
            per_item=per_item,
            now=at,
            skipped=skipped,
            exclude=tried,
        )
        if cand is None:
            return None
        # Re-count after the row lock: the pick's snapshot may predate a concurrent lease.
        rows = lease_rows(s, cand)
        mine = [r for r in rows if r.annotator_id == annotator_id]
        done_by_me = any(r.completed_at for r in mine)
        if not done_by_me and _others_holding(rows, annotator_id, at) < per_item:
            set_lease(s, item_id=cand, annotator_id=annotator_id, now=at, expires_at=until,
                      exists=bool(mine))  # fmt: skip
            return cand
        tried.append(cand)
    return None


def _task(
    s: Session,
    spec: BenchmarkSpec,
    item_id: int,
    until: datetime | None,
    previous: AnswerView | None = None,
) -> Task:
    view = item_view(s, item_id)
    assert view is not None
    return Task(item_id=item_id, source_id=view.source_id, fields=item_fields(spec, view),
                curation_flags=dict(view.flags), lease_expires_at=until, previous=previous)  # fmt: skip


def next_item(
    ws: Workspace, actor: Actor, *, benchmark: str | None = None, now: datetime | None = None
) -> Task | None:
    """The annotator's current item (its lease renewed) or a newly leased one; None when done."""
    at = clock(now)
    with ws.db.session() as s:
        actor, uid = annotator_account(s, actor)
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        k = spec.review.annotators_per_item
        until = at + timedelta(minutes=spec.review.lease_minutes)
        item_id = active_lease(s, benchmark_id=bench.id, annotator_id=uid, now=at)
        if item_id is not None:
            set_lease(s, item_id=item_id, annotator_id=uid, now=at, expires_at=until)
            return _task(s, spec, item_id, until)
        every = spec.review.gold_every
        if (
            every
            and has_gold(s, bench.id)
            and _gold_due(uid, completed_count(s, benchmark_id=bench.id, annotator_id=uid), every)
        ):
            item_id = pick_gold_item(s, benchmark_id=bench.id, annotator_id=uid)
            if item_id is not None:
                set_lease(s, item_id=item_id, annotator_id=uid, now=at, expires_at=until)
                return _task(s, spec, item_id, until)
        for statuses, skipped in (
            ((ItemStatus.in_review,), False),
            ((ItemStatus.candidate,), False),
            (tuple(sorted(OPEN)), True),
        ):
            item_id = _take(
                s,
                bench_id=bench.id,
                annotator_id=uid,
                statuses=statuses,
                per_item=k,
                at=at,
                until=until,
                skipped=skipped,
            )
            if item_id is not None:
                return _task(s, spec, item_id, until)
        return None


def record_answer(
    s: Session,
    actor: Actor,
    item: Item,
    spec: BenchmarkSpec,
    answer: Any,
    *,
    flags: Iterable[str] = (),
    comment: str | None = "",
    at: datetime,
    via: str = "app",
) -> SubmitResult:
    """Save an answer inside the caller's transaction (item row locked, role checked).

    Shared by :func:`submit` and the CLI import so both follow the same rules.
    """
    assert item.id is not None and actor.user_id is not None
    answer = validate_answer(spec.task, answer)
    if spec.task.context_field is not None:  # spans located and checked in the context
        view = item_view(s, item.id)
        assert view is not None
        answer = extractive.check_item_answer(view.source_id, item_fields(spec, view), spec, answer)
    flag_list = normalize_flags(flags)
    text = check_comment(comment)
    uid = actor.user_id
    # One read (item locked) serves the revision check and the consensus policy below.
    current = current_rows(s, item.id)
    mine = next((r for r in current if r.annotator_id == uid), None)
    if mine is not None:
        # Repeating an answer is a no-op even once decided, so re-imports are idempotent.
        if (mine.answer, mine.flags, mine.comment) == (answer, flag_list, text):
            return SubmitResult(item.id, item.status, revised=False, unchanged=True)
        _check_revisable(s, item)
    else:
        _take_slot(s, item, uid, spec.review.annotators_per_item, at)
    row_id = add_annotation(s, item_id=item.id, annotator_id=uid, answer=answer,
                            flags=flag_list, comment=text,
                            supersedes=mine.id if mine is not None else None, now=at)  # fmt: skip
    log_event(
        s,
        actor=actor.name,
        action="annotation.revise" if mine else "annotation.create",
        entity="item",
        entity_id=item.id,
        benchmark_id=item.benchmark_id,
        before={"answer": mine.answer, "flags": mine.flags} if mine else None,
        after={
            "annotation": row_id,
            "answer": answer,
            "flags": flag_list,
            "comment": text,
            "via": via,
        },
    )
    item.updated_at = at
    # Gold answers never change the item; a gold item's submit made the same reads as any
    # other's above, so its timing does not tell it apart.
    if not item.is_gold:
        if item.status == ItemStatus.candidate:
            item.status = ItemStatus.in_review
        answers = [(r.answer, r.flags) for r in current if r.annotator_id != uid]
        # A revision never approves: only the first complete set of answers may.
        apply_consensus(s, item, spec, at=at, auto_approve=mine is None,
                        current=[*answers, (answer, flag_list)])  # fmt: skip
    s.add(item)
    return SubmitResult(item.id, item.status, revised=mine is not None)


def _take_slot(s: Session, item: Item, uid: int, per_item: int, at: datetime) -> None:
    """Close the annotator's slot for a first answer: one statement when they hold a live
    lease (the usual submit); else re-read the slots and take a free one (a late submit,
    an import) or refuse. A closed item refuses whatever the lease says."""
    assert item.id is not None
    if (item.is_gold or item.status in OPEN) and close_own_lease(
        s, item_id=item.id, annotator_id=uid, now=at
    ):
        return
    rows = lease_rows(s, item.id)
    own = next((r for r in rows if r.annotator_id == uid), None)
    holds = own is not None and own.holds_slot(at)
    full = not holds and _others_holding(rows, uid, at) >= per_item
    expired = own is not None and full
    # One message whatever the item's status: "conflict" or "approved" here would tell
    # a late annotator what the others answered.
    if not item.is_gold and (item.status not in OPEN or full):
        raise ReviewError(
            f"item {item.id} takes no more answers"
            + (" — your lease expired and the slot was taken" if expired else "")
            + "; your answer was not saved, take the next item"
        )
    set_lease(s, item_id=item.id, annotator_id=uid, now=at, expires_at=at, completed=True,
              exists=own is not None)  # fmt: skip


def _check_revisable(s: Session, item: Item) -> None:
    """Refuse a revision once a reviewer decided the item or it was released — the same
    refusal, in the same words, for gold and normal items."""
    assert item.id is not None
    if closed_to_annotators(s, [(item.id, item.status)]):
        raise ReviewError(
            f"item {item.id} is closed: a reviewer decided it or it was released, so answers "
            "can no longer be revised — ask a reviewer to send it back"
        )


def submit(
    ws: Workspace,
    actor: Actor,
    item_id: int,
    answer: Any,
    *,
    flags: Iterable[str] = (),
    comment: str | None = "",
    now: datetime | None = None,
) -> Saved:
    """Save the annotator's answer (or revise it until a reviewer decides the item or it is
    released). Says only that it was saved: labeling is blind."""
    at = clock(now)
    with ws.db.session() as s:
        actor, _ = annotator_account(s, actor)
        item = locked_item(s, item_id)
        _, spec = spec_of(s, item.benchmark_id)
        done = record_answer(s, actor, item, spec, answer, flags=flags, comment=comment, at=at)
        return Saved(done.item_id, revised=done.revised, unchanged=done.unchanged)


def skip(ws: Workspace, actor: Actor, item_id: int, *, now: datetime | None = None) -> None:
    """Give the item back: its slot frees at once; it returns to this annotator last."""
    at = clock(now)
    with ws.db.session() as s:
        actor, uid = annotator_account(s, actor)
        item = locked_item(s, item_id)
        if not skip_lease(s, item_id=item_id, annotator_id=uid, now=at):
            raise ReviewError(f"item {item_id} is not leased to {actor.name!r}; nothing to skip")
        log_event(
            s,
            actor=actor.name,
            action="assignment.skip",
            entity="item",
            entity_id=item_id,
            benchmark_id=item.benchmark_id,
        )


def open_answered(ws: Workspace, actor: Actor, item_id: int) -> Task:
    """An item the annotator already answered, with their answer, for revising it (refused,
    as a revision would be, once a reviewer decided it or it was released)."""
    with ws.db.session() as s:
        actor, uid = annotator_account(s, actor)
        mine = my_current_annotation(s, item_id, uid)
        if mine is None:
            raise ReviewError(
                f"{actor.name!r} has no current answer to item {item_id}; take items from the queue"
            )
        item = locked_item(s, item_id)
        _check_revisable(s, item)
        _, spec = spec_of(s, item.benchmark_id)
        return _task(s, spec, item_id, None, AnswerView.of(mine, actor.name))


@dataclass(frozen=True)
class Progress:
    """How far the benchmark (and this annotator) got, in answers.

    Answers, not items: an annotator's own answer always adds exactly one to ``given``,
    whether it was an item's first answer or its last, a gold item's or not. (A count of
    items with all their answers would move on some submits and not on others, telling the
    annotator whether someone else had answered that item — and never on a gold item.)
    """

    total: int
    """Items in the benchmark."""
    needed: int
    """Answers the benchmark asks for: items × annotators per item."""
    given: int
    """Answers given so far, by everyone (gold items' included)."""
    mine: int
    """Items this annotator answered."""

    @property
    def fraction(self) -> float:
        """Share of the needed answers given (0 when none are needed; at most 1)."""
        return min(1.0, self.given / self.needed) if self.needed else 0.0


def progress(ws: Workspace, actor: Actor, *, benchmark: str | None = None) -> Progress:
    """Counts for the annotator's progress bar (aggregates only: see :class:`Progress`)."""
    with ws.db.session() as s:
        actor = authorize(s, actor, Role.annotator, "labeling")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        total = sum(item_counts(s, bench.id).values())
        mine = (
            completed_count(s, benchmark_id=bench.id, annotator_id=actor.user_id)
            if actor.user_id is not None
            else 0
        )
        return Progress(
            total=total,
            needed=total * spec.review.annotators_per_item,
            given=answers_given(s, bench.id),
            mine=mine,
        )
