"""Annotator skill: Dawid–Skene confusion matrices and item posteriors, majority vote beside.

The model is Dawid & Skene's (A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of
Observer Error-Rates Using the EM Algorithm", Applied Statistics 28(1), 1979, 20–28,
https://doi.org/10.2307/2346806): every annotator ``w`` has a confusion matrix
``e_w[k, c] = P(w answers k | the true label is c)``, labels have a prior ``p[c]``, and EM
estimates both with each item's posterior ``P(true label = c | its answers)``. The fit is
crowd-kit's :class:`crowdkit.aggregation.DawidSkene` (``errors_`` is indexed by (worker,
answered label) with a column per true label; ``priors_``; ``probas_``; see
https://toloka.ai/docs/crowd-kit/reference/crowdkit.aggregation.classification.dawid_skene.DawidSkene/),
started from majority vote, with fixed :data:`N_ITER` and :data:`TOL`, so the same answers give
the same numbers.

**Skill** is the accuracy the confusion matrix implies on an item drawn from the prior:
``skill_w = Σ_c p[c] · e_w[c, c]`` (0–1). A multilabel task is fitted as one binary
(present / absent) Dawid–Skene per label anybody gave; an annotator's skill is then the mean
of those per-label skills, and an item's posterior the product over labels of ``max(q, 1 − q)`` for
``q = P(label present)`` (the per-label fits are independent, so this is the posterior of the
whole label set). Multiple choice: the label is the choice letter (A–J), so the classes are
positions, not meanings. Reference answers (typed or extractive) have no label set:
:func:`applicable` says so.

What enters the fit: every current answer on a non-gold item. Gold items are kept out so
that gold accuracy, shown beside the skill, is an independent check of it. The estimates
are advisory: nothing here changes an item's status or answer.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import Session

from builder.domain import Role, TaskType
from builder.review._common import bench_in
from builder.review.auth import Actor, authorize
from builder.review.consensus import answer_key
from builder.review.dashboard import annotators_from
from builder.spec import BenchmarkSpec, TaskSpec
from builder.store.annotations import AnswerRow, answer_rows
from builder.workspace import Workspace

__all__ = [
    "MIN_ANSWERS",
    "N_ITER",
    "TOL",
    "AnnotatorSkill",
    "ItemPosterior",
    "QueueOrder",
    "SkillReport",
    "SkillStatus",
    "annotator_skill",
    "applicable",
    "lowest_posterior_first",
    "skill_from",
]

N_ITER = 100
"""Most EM iterations (crowd-kit's default)."""
TOL = 1e-5
"""EM stops when the evidence lower bound per answer improves by less than this."""
MIN_ANSWERS = 20
"""Fewer answers than this and an annotator's skill is "too few to judge": a confusion
matrix from a handful of answers is mostly the prior."""
_CACHE_SIZE = 8


class SkillStatus(StrEnum):
    """What the dashboard makes of an annotator's skill."""

    ok = "ok"
    below = "below threshold"
    too_few = "too few to judge"


class QueueOrder(StrEnum):
    """How the Adjudicate queue is ordered."""

    oldest = "oldest"
    """Disagreements first, then agreed-but-flagged items, each oldest first (the default)."""
    lowest_posterior = "lowest_posterior"
    """Items whose Dawid–Skene label is least certain first."""


@dataclass(frozen=True)
class AnnotatorSkill:
    """One annotator's estimated skill, with the checks a lead reads it against."""

    annotator: str
    answers: int
    """Non-gold items they answered (the answers the fit used)."""
    skill: float | None
    """``Σ_c p[c] · e[c, c]`` in 0–1 (see the module docstring); None when not estimated."""
    status: SkillStatus
    confusion: dict[str, dict[str, float]] = field(default_factory=dict)
    """True label → answered label → probability (single-label tasks; every row sums to 1)."""
    per_label: dict[str, float] = field(default_factory=dict)
    """Multilabel: label → that label's binary skill."""
    mv_agreement: float | None = None
    """Share of their answers equal to the majority of the *other* answers of the item
    (items where the others have one most common answer; own vote left out so that two-annotator
    items count)."""
    mv_compared: int = 0
    """Answers that share is over."""
    gold_answered: int = 0
    gold_accuracy: float | None = None
    """Correct share on gold items (:func:`builder.review.dashboard.annotators_from`)."""


@dataclass(frozen=True)
class ItemPosterior:
    """One item's Dawid–Skene label and how sure the model is of it."""

    item_id: int
    answers: int
    ds_label: Any
    """A label, or a list of labels (multilabel, in the spec's order)."""
    posterior: float
    """P(the true label is ``ds_label`` | the answers), 0–1."""
    mv_label: Any | None
    """Majority vote's label (crowd-kit ``MajorityVote``); None on a tie."""
    differs: bool
    """Majority vote has a label and it is not Dawid–Skene's."""


@dataclass(frozen=True)
class SkillReport:
    """Annotator skill and item posteriors of one benchmark (a cached report is shared
    between callers: read it, do not change it)."""

    applicable: bool
    note: str
    """Why not applicable, or how the labels were read (multilabel, multiple choice)."""
    threshold: float
    min_answers: int
    annotators: list[AnnotatorSkill] = field(default_factory=list)
    items: dict[int, ItemPosterior] = field(default_factory=dict)
    priors: dict[str, float] = field(default_factory=dict)
    """Estimated share of each true label (multilabel: share of items with the label)."""
    iterations: int = 0
    """EM iterations run (the most of the per-label fits for multilabel)."""

    @property
    def flagged(self) -> list[AnnotatorSkill]:
        """Annotators with enough answers whose skill is below the threshold."""
        return [a for a in self.annotators if a.status is SkillStatus.below]

    @property
    def disagreements(self) -> int:
        """Items where majority vote and Dawid–Skene pick different labels."""
        return sum(p.differs for p in self.items.values())


def applicable(task: TaskSpec) -> tuple[bool, str]:
    """Whether Dawid–Skene applies to the task, and the note the dashboard shows."""
    if task.type is TaskType.reference_answer:
        kind = "extractive spans" if task.context_field is not None else "free-text answers"
        return False, (
            f"Not applicable: reference answers ({kind}) have no fixed label set, so there is "
            "no confusion matrix to estimate. Use gold accuracy and token F1 agreement instead."
        )
    if task.type is TaskType.multilabel:
        return True, (
            "Multilabel: one binary (present / absent) Dawid–Skene per label that anybody "
            "gave; skill is the mean of those per-label skills."
        )
    if task.type is TaskType.multiple_choice:
        return True, (
            "Multiple choice: the label is the choice letter, so the confusion matrix is over "
            "positions A–J, not meanings."
        )
    return True, ""


@dataclass(frozen=True)
class _Fit:
    skills: dict[str, float]
    confusion: dict[str, dict[str, dict[str, float]]]
    probas: pd.DataFrame
    """Rows: item ids; columns: labels."""
    mv: pd.DataFrame
    priors: dict[str, float]
    iterations: int


def _fit(frame: pd.DataFrame, order: Sequence[Any]) -> _Fit:
    """Fit crowd-kit's Dawid–Skene and majority vote to (task, worker, label) rows; the
    labels of priors and confusion matrices follow ``order``."""
    # Imported here: crowd-kit pulls in transformers (seconds and ~150 MB), which every
    # page and CLI command that touches the review queue would otherwise pay at import.
    from crowdkit.aggregation import DawidSkene, MajorityVote

    ds = DawidSkene(n_iter=N_ITER, tol=TOL).fit(frame)
    mv = MajorityVote().fit(frame)
    assert ds.errors_ is not None and ds.priors_ is not None and ds.probas_ is not None
    assert mv.probas_ is not None
    labels = [lab for lab in order if lab in ds.probas_.columns]
    priors = {lab: float(ds.priors_[lab]) for lab in labels}
    skills: dict[str, float] = {}
    confusion: dict[str, dict[str, dict[str, float]]] = {}
    for worker, errors in ds.errors_.groupby(level="worker", sort=True):
        # Rows are the labels this worker gave; one they never gave has probability 0.
        e = (
            errors.droplevel("worker")
            .reindex(index=labels, columns=labels, fill_value=0.0)
            .to_numpy(dtype=float)
        )  # e[k, c] = P(answers k | true c)
        skills[str(worker)] = float(np.dot([priors[c] for c in labels], np.diag(e)))
        confusion[str(worker)] = {
            str(c): {str(k): float(e[j, i]) for j, k in enumerate(labels)}
            for i, c in enumerate(labels)
        }
    return _Fit(skills, confusion, ds.probas_, mv.probas_, priors, len(ds.loss_history_))


def _mv_labels(mv: pd.DataFrame) -> dict[int, Any | None]:
    """item → majority vote's label; None where the top vote share is shared (crowd-kit then
    takes the first column, but a tie is no majority)."""
    shares = mv.to_numpy(dtype=float)
    unique = (shares == shares.max(axis=1, keepdims=True)).sum(axis=1) == 1
    columns = list(mv.columns)
    return {
        int(i): columns[k] if one else None
        for i, k, one in zip(mv.index, shares.argmax(axis=1), unique, strict=True)
    }


def _loo_agreement(task: TaskSpec, votes: dict[int, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """annotator → (agreeing, compared) against the majority of the item's other answers."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for answers in votes.values():
        if len(answers) < 2:
            continue
        keys = {n: answer_key(task, a) for n, a in answers.items()}
        counts = Counter(keys.values())
        for name, mine in keys.items():
            counts[mine] -= 1  # the others' votes: leave this annotator's own out
            top = max(counts.values())
            leaders = [k for k, c in counts.items() if c == top]
            counts[mine] += 1
            if len(leaders) == 1:  # else the others are split: no majority to agree with
                out[name][0] += mine == leaders[0]
                out[name][1] += 1
    return {n: (a, b) for n, (a, b) in out.items()}


def _status(skill: float | None, answers: int, threshold: float, min_answers: int) -> SkillStatus:
    if skill is None or answers < min_answers:
        return SkillStatus.too_few
    return SkillStatus.below if skill < threshold else SkillStatus.ok


def skill_from(
    task: TaskSpec,
    rows: Sequence[AnswerRow],
    *,
    threshold: float,
    min_answers: int = MIN_ANSWERS,
) -> SkillReport:
    """Estimate every annotator's skill and every non-gold item's posterior label.

    ``rows`` are the benchmark's current answers (:func:`builder.store.annotations.answer_rows`);
    ``threshold`` (0–1, ``review.skill_threshold``) and ``min_answers`` decide each
    annotator's :class:`SkillStatus`. Answers that are not one of ``task.labels`` are left out.
    Pure and deterministic; raises nothing on empty input (the report says why it is empty).
    """
    ok, note = applicable(task)
    if not ok:
        return SkillReport(ok, note, threshold, min_answers)
    gold = {
        s.annotator: s
        for s in annotators_from(task, rows, [], datetime.now(UTC))[0]
        if s.gold_answered
    }
    votes: dict[int, dict[str, Any]] = defaultdict(dict)
    allowed = set(task.labels)
    multilabel = task.type is TaskType.multilabel
    for r in rows:
        if r.is_gold:
            continue
        if multilabel:
            valid = isinstance(r.answer, list) and all(
                isinstance(a, str) and a in allowed for a in r.answer
            )
        else:
            valid = isinstance(r.answer, str) and r.answer in allowed
        if valid:
            votes[r.item_id][r.annotator] = r.answer
    answered = Counter(n for v in votes.values() for n in v)
    names = sorted(set(answered) | set(gold))
    loo = _loo_agreement(task, votes)

    def person(name: str, est: _Estimates | None) -> AnnotatorSkill:
        skill = est.skills.get(name) if est is not None else None
        agree, compared = loo.get(name, (0, 0))
        g = gold.get(name)
        return AnnotatorSkill(
            annotator=name,
            answers=answered[name],
            skill=skill,
            status=_status(skill, answered[name], threshold, min_answers),
            confusion=est.confusion.get(name, {}) if est is not None else {},
            per_label=est.per_label.get(name, {}) if est is not None else {},
            mv_agreement=agree / compared if compared else None,
            mv_compared=compared,
            gold_answered=g.gold_answered if g else 0,
            gold_accuracy=g.gold_accuracy if g else None,
        )

    if not any(len(v) >= 2 for v in votes.values()):
        why = "No item has answers from two or more annotators yet: skill cannot be estimated."
        return SkillReport(
            ok, " ".join(x for x in (why, note) if x), threshold, min_answers,
            annotators=[person(n, None) for n in names],
        )  # fmt: skip
    tasks, workers, answers = zip(
        *((i, n, a) for i in sorted(votes) for n, a in sorted(votes[i].items())), strict=True
    )
    if task.type is TaskType.multilabel:
        est, items = _multilabel(task, tasks, workers, answers)
    else:
        est, items = _single_label(task, tasks, workers, answers)
    return SkillReport(
        applicable=True,
        note=note,
        threshold=threshold,
        min_answers=min_answers,
        annotators=[person(n, est) for n in names],
        items=items,
        priors=est.priors,
        iterations=est.iterations,
    )


@dataclass(frozen=True)
class _Estimates:
    skills: dict[str, float]
    confusion: dict[str, dict[str, dict[str, float]]]
    per_label: dict[str, dict[str, float]]
    priors: dict[str, float]
    iterations: int


def _single_label(
    task: TaskSpec, tasks: tuple[int, ...], workers: tuple[str, ...], answers: tuple[Any, ...]
) -> tuple[_Estimates, dict[int, ItemPosterior]]:
    """One Dawid–Skene over the labels (classification, multiple-choice letters)."""
    counts = Counter(tasks)
    fit = _fit(pd.DataFrame({"task": tasks, "worker": workers, "label": answers}), task.labels)
    # Whole columns at once: a per-item pandas lookup costs seconds at 100k answers.
    post = dict(zip(fit.probas.index, fit.probas.max(axis=1).to_numpy(dtype=float), strict=True))
    best = fit.probas.idxmax(axis=1).to_dict()
    majority = _mv_labels(fit.mv)
    items: dict[int, ItemPosterior] = {}
    for item_id in fit.probas.index:
        mv = majority[int(item_id)]
        items[int(item_id)] = ItemPosterior(
            item_id=int(item_id),
            answers=counts[item_id],
            ds_label=best[item_id],
            posterior=float(post[item_id]),
            mv_label=mv,
            differs=mv is not None and mv != best[item_id],
        )
    est = _Estimates(fit.skills, fit.confusion, {}, fit.priors, fit.iterations)
    return est, items


def _multilabel(
    task: TaskSpec, tasks: tuple[int, ...], workers: tuple[str, ...], answers: tuple[Any, ...]
) -> tuple[_Estimates, dict[int, ItemPosterior]]:
    """One binary Dawid–Skene per label somebody gave, combined (see the module docstring).

    A label nobody gave is not fitted (everyone agrees it is absent): it is left out of the
    skills' mean, has prior 0 and adds nothing to any item's uncertainty, so a task with many
    unused labels neither fits them all nor reads as near-perfect agreement.
    """
    per_label: dict[str, dict[str, float]] = defaultdict(dict)
    present: dict[str, dict[Any, float]] = {}
    voted: dict[str, dict[Any, float]] = {}
    priors = dict.fromkeys(task.labels, 0.0)
    iters = 0
    used = [lab for lab in task.labels if any(lab in a for a in answers)]
    for lab in used:
        # Text classes, not booleans: pandas reads a boolean column key as a mask.
        has = ["yes" if lab in a else "no" for a in answers]
        fit = _fit(pd.DataFrame({"task": tasks, "worker": workers, "label": has}), ["no", "yes"])
        for w, s in fit.skills.items():
            per_label[w][lab] = s
        present[lab] = fit.probas["yes"].to_dict()
        voted[lab] = fit.mv["yes"].to_dict()
        priors[lab] = fit.priors.get("yes", 0.0)
        iters = max(iters, fit.iterations)
    skills = {w: float(np.mean(list(d.values()))) for w, d in per_label.items()}
    counts = Counter(tasks)
    items: dict[int, ItemPosterior] = {}
    for item_id in sorted(counts):
        q = {lab: float(present[lab][item_id]) for lab in used}
        ds_label = [lab for lab in used if q[lab] > 0.5]
        posterior = float(np.prod([max(v, 1.0 - v) for v in q.values()]))
        share = {lab: float(voted[lab][item_id]) for lab in used}
        mv = None if any(v == 0.5 for v in share.values()) else [
            lab for lab in used if share[lab] > 0.5
        ]  # fmt: skip
        items[int(item_id)] = ItemPosterior(
            int(item_id),
            counts[item_id],
            ds_label,
            posterior,
            mv,
            mv is not None and mv != ds_label,
        )
    return _Estimates(skills, {}, dict(per_label), priors, iters), items


# ---------------------------------------------------------------- with the database

# A fit at 100k answers takes about a second; the dashboard and the Adjudicate page ask on
# every rerun, so remember the last few reports by a digest of exactly what they depend on.
_FITS: OrderedDict[str, SkillReport] = OrderedDict()
_LOCK = threading.Lock()


def _digest(spec: BenchmarkSpec, rows: Sequence[AnswerRow]) -> str:
    h = hashlib.sha256(spec.task.model_dump_json().encode())
    h.update(repr(spec.review.skill_threshold).encode())
    h.update(
        pickle.dumps(
            [(r.item_id, r.annotator, r.answer, r.is_gold, r.gold_answer) for r in rows],
            protocol=5,
        )
    )
    return h.hexdigest()


def _report(spec: BenchmarkSpec, rows: Sequence[AnswerRow]) -> SkillReport:
    key = _digest(spec, rows)
    with _LOCK:
        hit = _FITS.get(key)
        if hit is not None:
            _FITS.move_to_end(key)
            return hit
    report = skill_from(spec.task, rows, threshold=spec.review.skill_threshold)
    with _LOCK:
        _FITS[key] = report
        while len(_FITS) > _CACHE_SIZE:
            _FITS.popitem(last=False)
    return report


def annotator_skill(ws: Workspace, actor: Actor, *, benchmark: str | None = None) -> SkillReport:
    """The benchmark's :class:`SkillReport` (reviewers and leads only: it rates people).

    Reuses the last fit while the answers are unchanged. Raises PermissionDenied below the
    reviewer role.
    """
    with ws.db.session() as s:
        authorize(s, actor, Role.reviewer, "seeing annotator skill")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        rows = answer_rows(s, bench.id)
    return _report(spec, rows)


def lowest_posterior_first(
    session: Session, benchmark_id: int, spec: BenchmarkSpec, item_ids: Sequence[int]
) -> list[int]:
    """``item_ids`` with the least certain Dawid–Skene label first (inside the caller's
    transaction). Ties, and items without a posterior (a task it does not apply to, an item
    nobody answered), keep their order; the latter go last."""
    report = _report(spec, answer_rows(session, benchmark_id))
    order = {i: n for n, i in enumerate(item_ids)}

    def key(i: int) -> tuple[float, int]:
        p = report.items.get(i)
        return (p.posterior if p is not None else 2.0, order[i])

    return sorted(item_ids, key=key)
