"""What an answer is, when answers agree, and the decisions that settle an item.

Pure part: :func:`validate_answer` (the same rules for the app, the CLI import and the
reviewer), :func:`answer_key` (when two answers count as the same; for reference answers
:func:`builder.answers.normalize_reference_answer`, the rule scoring uses), :func:`resolve`
(the policy once an item has all its answers) and :func:`suggest` (a majority to start
adjudication from). Database part: :func:`apply_consensus` (called inside a submit's
transaction), :func:`decide` (a reviewer's verdict), :func:`closed_to_annotators`; gold items are
:mod:`builder.review.gold`.

Blind review that cannot be gamed:

* only the first complete set of answers of a round can be approved by the policy; an
  annotator's revision of an item that already has all its answers always goes to a
  reviewer (conflict, or consensus when they now agree), so nobody can find the other
  answers by revising until the item approves itself;
* an annotator's answer stays revisable until a reviewer decides the item or it is
  released (:func:`closed_to_annotators`) — not until the policy approves it, which would
  tell them the others agreed; gold items follow the very same rule;
* a reviewer (or lead) never decides an item they answered themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from builder.answers import normalize_reference_answer
from builder.domain import ItemStatus, Role, Verdict
from builder.errors import ReviewError
from builder.review import extractive
from builder.review._common import clock, locked_item, spec_of
from builder.review.auth import Actor, authorize
from builder.spec import BenchmarkSpec, ReviewSpec, TaskSpec, TaskType
from builder.store.annotations import current_answers, has_answered, retire_annotations
from builder.store.audit import log_event
from builder.store.decisions import add_decision, reviewer_settled
from builder.store.leases import reset_assignments
from builder.store.models import Item
from builder.store.releases import released_at_revision
from builder.workspace import Workspace

__all__ = [
    "CHOICE_FLAGS",
    "DECIDED",
    "FLAGS",
    "GOLD_REASON",
    "MAX_ANSWER_CHARS",
    "MAX_COMMENT_CHARS",
    "OPEN",
    "DecisionResult",
    "Outcome",
    "Verdict",
    "answer_from_text",
    "answer_key",
    "apply_consensus",
    "approve",
    "check_comment",
    "closed_to_annotators",
    "decide",
    "normalize_flags",
    "resolve",
    "suggest",
    "validate_answer",
]

FLAGS: tuple[str, ...] = (
    "ambiguous",
    "out_of_scope",
    "pii",
    "duplicate",
    "no_right_choice",
    "several_right_choices",
)
"""What an annotator can flag an item as, besides answering it (the last two are for
multiple-choice items: no choice, or more than one, is right; like every flag they send
the item to a reviewer)."""
CHOICE_FLAGS: tuple[str, ...] = ("no_right_choice", "several_right_choices")
"""The flags that only make sense for a multiple-choice item."""
MAX_ANSWER_CHARS = 20_000
MAX_COMMENT_CHARS = 5_000
OPEN = frozenset({ItemStatus.candidate, ItemStatus.in_review})
"""Statuses in which an item takes new answers."""
DECIDED = frozenset({ItemStatus.approved, ItemStatus.rejected, ItemStatus.released})
"""Statuses of a settled item (approved or rejected, or released). Annotators may still
revise an approved item while no reviewer decided it: see :func:`closed_to_annotators`."""
POLICY = "policy:auto_approve_unanimous"
"""The audit actor of automatic approvals."""
GOLD_REASON = "gold answer"
"""The reason of the approval that marking an item gold records."""


def _labels_hint(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:12])
    return shown + (f", … ({len(labels)} in all)" if len(labels) > 12 else "")


def validate_answer(task: TaskSpec, answer: Any) -> Any:
    """Check an answer against the task and return its stored form, or raise a
    :class:`ReviewError` saying why not.

    classification → one label; multiple_choice → a choice letter A–J (any case);
    multilabel → a non-empty list of labels in the spec's order;
    reference_answer → non-empty text, stripped but otherwise as written (comparison
    uses :func:`answer_key`); extractive (``task.context_field``) → see
    :func:`builder.review.extractive.precheck` (the context check is at record time).
    """
    if task.context_field is not None:
        return extractive.precheck(answer)
    if answer is None or answer == []:
        what = "text" if task.type is TaskType.reference_answer else "label"
        raise ReviewError(f"no {what} given; answer the item, or skip it")
    if task.type is TaskType.multiple_choice and isinstance(answer, str):
        answer = answer.strip().upper()  # "b" typed on a command line is choice B
    if task.type in (TaskType.classification, TaskType.multiple_choice):
        if not isinstance(answer, str) or answer not in task.labels:
            raise ReviewError(
                f"label {answer!r} is not one of the benchmark's labels "
                f"({_labels_hint(task.labels)}); pick one of task.labels"
            )
        return answer
    if task.type is TaskType.multilabel:
        chosen = [answer] if isinstance(answer, str) else answer
        if not isinstance(chosen, list | tuple | set | frozenset):
            raise ReviewError(f"labels {answer!r} must be a list of labels")
        bad = [a for a in chosen if not isinstance(a, str) or a not in task.labels]
        if bad:
            raise ReviewError(
                f"label(s) {bad!r} are not among the benchmark's labels "
                f"({_labels_hint(task.labels)}); pick from task.labels"
            )
        if not chosen:
            raise ReviewError("no label given; answer the item, or skip it")
        return [label for label in task.labels if label in set(chosen)]
    if not isinstance(answer, str) or not answer.strip():
        raise ReviewError("the reference answer is empty; write the answer text")
    if len(answer) > MAX_ANSWER_CHARS:
        raise ReviewError(
            f"the reference answer has {len(answer)} characters; keep it under {MAX_ANSWER_CHARS}"
        )
    return answer.strip()


def answer_from_text(task: TaskSpec, text: str) -> Any:
    """An answer typed on a command line: a label, comma-separated labels, or the text."""
    if task.type is TaskType.multilabel:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def normalize_flags(flags: Iterable[str]) -> list[str]:
    """Known flags, de-duplicated, in :data:`FLAGS` order."""
    given = list(flags)
    bad = [f for f in given if f not in FLAGS]
    if bad:
        raise ReviewError(f"unknown flag(s) {bad!r}; use any of {', '.join(FLAGS)}")
    return [f for f in FLAGS if f in given]


def check_comment(comment: str | None) -> str:
    """A comment within bounds (None → empty)."""
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise ReviewError(
            f"the comment has {len(text)} characters; keep it under {MAX_COMMENT_CHARS}"
        )
    return text


def answer_key(task: TaskSpec, answer: Any) -> Any:
    """What must be equal for two answers to agree: the label, the sorted label set, or
    for reference answers :func:`builder.answers.normalize_reference_answer` of the text
    (case, Unicode form, punctuation, dashes, quotes, articles and spacing ignored);
    extractive answers: the sorted normalised span texts (``()`` = unanswerable)."""
    if task.context_field is not None:
        return extractive.answer_key(answer)
    if task.type is TaskType.multilabel:
        return tuple(sorted(answer))
    if task.type is TaskType.reference_answer:
        return normalize_reference_answer(str(answer))
    return answer


def suggest(task: TaskSpec, answers: Sequence[Any]) -> Any | None:
    """A majority answer to start adjudication from; None on a tie or no answers."""
    if not answers:
        return None
    if task.type is TaskType.multilabel:
        votes = Counter(label for a in answers for label in a)
        picked = [lab for lab in task.labels if votes[lab] * 2 > len(answers)]
        return picked or None
    counts = Counter(answer_key(task, a) for a in answers)
    (top, n), *rest = counts.most_common()
    if rest and rest[0][1] == n:
        return None
    return next(a for a in answers if answer_key(task, a) == top)


@dataclass(frozen=True)
class Outcome:
    """What the policy makes of an item's complete set of answers."""

    status: ItemStatus
    """approved (unanimous, unflagged, auto-approval on), consensus (unanimous but needs a
    reviewer) or conflict (they disagree)."""
    answer: Any | None


def resolve(
    task: TaskSpec, review: ReviewSpec, answers: Sequence[tuple[Any, Sequence[str]]]
) -> Outcome:
    """Apply the consensus policy to (answer, flags) pairs. A flagged item always meets a reviewer."""
    if task.context_field is not None:  # spans agree by token overlap, not equality
        keys = {True} if extractive.spans_agree([a for a, _ in answers]) else {True, False}
    else:
        keys = {answer_key(task, a) for a, _ in answers}
    if len(keys) != 1:
        return Outcome(ItemStatus.conflict, None)
    flagged = any(flags for _, flags in answers)
    status = (
        ItemStatus.approved
        if review.auto_approve_unanimous and not flagged
        else ItemStatus.consensus
    )
    if task.context_field is not None:
        return Outcome(status, extractive.merge_spans([a for a, _ in answers]))
    return Outcome(status, answers[0][0])


def _snapshot(item: Item) -> dict[str, Any]:
    return {"status": item.status, "answer": item.answer, "revision": item.revision}


def approve(
    s: Session,
    item: Item,
    answer: Any,
    *,
    reviewer_id: int | None,
    actor: str,
    reason: str,
    at: datetime,
    action: str,
) -> None:
    """Approve with ``answer``: a new revision when a released answer changes."""
    assert item.id is not None
    before = _snapshot(item)
    changed = item.answer is not None and item.answer != answer
    # Asked only when the answer changes: a first approval needs no look at releases.
    if changed and (
        item.status == ItemStatus.released or released_at_revision(s, item.id, item.revision)
    ):
        item.revision += 1
    if not (item.status == ItemStatus.released and not changed):
        item.status = ItemStatus.approved
    item.answer = answer
    item.updated_at = at
    s.add(item)
    add_decision(
        s,
        item_id=item.id,
        reviewer_id=reviewer_id,
        verdict=Verdict.approved,
        answer=answer,
        reason=reason,
    )
    log_event(
        s,
        actor=actor,
        action=action,
        entity="item",
        entity_id=item.id,
        benchmark_id=item.benchmark_id,
        before=before,
        after=_snapshot(item),
    )


def apply_consensus(
    s: Session,
    item: Item,
    spec: BenchmarkSpec,
    *,
    at: datetime,
    auto_approve: bool = True,
    current: Sequence[tuple[Any, Sequence[str]]] | None = None,
) -> None:
    """Once the item has all its answers, approve it or route it to a reviewer (same
    transaction). ``auto_approve=False`` (a revision of an item that already had all its
    answers) routes even unanimous answers to a reviewer: only a round's first complete set
    of answers may approve itself. ``current``: the item's current (answer, flags), oldest
    first, when the caller already holds them (a submit does: one read less); else read."""
    assert item.id is not None
    if current is None:
        current = current_answers(s, item.id)
    if len(current) < spec.review.annotators_per_item:
        return
    outcome = resolve(spec.task, spec.review, current)
    if outcome.status is ItemStatus.approved and not auto_approve:
        outcome = Outcome(ItemStatus.consensus, outcome.answer)
    if outcome.status is ItemStatus.approved:
        approve(
            s,
            item,
            outcome.answer,
            reviewer_id=None,
            actor=POLICY,
            reason="unanimous",
            at=at,
            action="item.auto_approve",
        )
    elif item.status != outcome.status:
        before = _snapshot(item)
        item.status = outcome.status
        item.updated_at = at
        s.add(item)
        log_event(
            s,
            actor=POLICY,
            action="item.route",
            entity="item",
            entity_id=item.id,
            benchmark_id=item.benchmark_id,
            before=before,
            after=_snapshot(item),
        )


def closed_to_annotators(s: Session, items: Iterable[tuple[int, ItemStatus]]) -> set[int]:
    """Which of the (item id, status) pairs annotators can no longer revise: released
    items, and items a reviewer approved or rejected (their latest decision).

    Nothing else counts — not the policy's approval (it would tell an annotator that the
    others agreed), not a gold marking (gold items must look like any other item): a gold
    item is closed exactly when a normal item in its place would be.
    """
    pairs = list(items)
    closed = {i for i, status in pairs if status == ItemStatus.released}
    settled = [i for i, status in pairs if status in (ItemStatus.approved, ItemStatus.rejected)]
    if settled:
        closed |= reviewer_settled(s, settled, ignore_reason=GOLD_REASON)
    return closed


@dataclass(frozen=True)
class DecisionResult:
    """An item after a decision."""

    item_id: int
    status: str
    revision: int
    answer: Any


def decide(
    ws: Workspace,
    actor: Actor,
    item_id: int,
    verdict: Verdict | str,
    *,
    answer: Any = None,
    reason: str = "",
    now: datetime | None = None,
) -> DecisionResult:
    """A reviewer approves (with ``answer``, or the agreed one), rejects (with a reason) or
    sends the item back for a fresh round of answers. Refused on an item the reviewer
    answered themselves (in any round), whatever their role."""
    try:
        verdict = Verdict(verdict)
    except ValueError:
        raise ReviewError(
            f"unknown verdict {verdict!r}; use {', '.join(v.value for v in Verdict)}"
        ) from None
    at = clock(now)
    reason = check_comment(reason)
    with ws.db.session() as s:
        actor = authorize(s, actor, Role.reviewer, "deciding items")
        item = locked_item(s, item_id)
        _, spec = spec_of(s, item.benchmark_id)
        if actor.user_id is not None and has_answered(s, item_id, actor.user_id):
            raise ReviewError(
                f"item {item_id} has an answer of yours; nobody decides an item they "
                "answered themselves — leave it to another reviewer"
            )
        if item.is_gold:
            raise ReviewError(
                f"item {item_id} is a gold item; change its answer with `items gold` "
                "or unmark it first"
            )
        if verdict is Verdict.approved:
            if answer is None:
                answers = [a for a, _ in current_answers(s, item_id)]
                answer = suggest(spec.task, answers)
                if answer is None or len({answer_key(spec.task, a) for a in answers}) != 1:
                    raise ReviewError(
                        f"item {item_id} has no agreed answer; pick or write the final answer"
                    )
            answer = validate_answer(spec.task, answer)
            if spec.task.context_field is not None:  # a reviewer's spans are located too
                answer = extractive.check_stored_item(s, item_id, spec, answer)
            approve(
                s,
                item,
                answer,
                reviewer_id=actor.user_id,
                actor=actor.name,
                reason=reason,
                at=at,
                action="item.decide",
            )
        else:
            if verdict is Verdict.rejected and not reason:
                raise ReviewError(f"rejecting item {item_id} needs a reason; say why")
            before = _snapshot(item)
            if verdict is Verdict.rejected:
                item.status = ItemStatus.rejected
            else:
                retire_annotations(s, item_id)
                reset_assignments(s, item_id, at)
                item.status = ItemStatus.in_review
            item.updated_at = at
            s.add(item)
            add_decision(
                s,
                item_id=item_id,
                reviewer_id=actor.user_id,
                verdict=verdict,
                answer=None,
                reason=reason,
            )
            log_event(
                s,
                actor=actor.name,
                action="item.decide",
                entity="item",
                entity_id=item_id,
                benchmark_id=item.benchmark_id,
                before=before,
                after={**_snapshot(item), "verdict": verdict.value, "reason": reason},
            )
        return DecisionResult(item_id, item.status, item.revision, item.answer)
