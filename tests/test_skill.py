"""Annotator skill (Dawid–Skene through crowd-kit): a simulated crowd with known skills, the
Adjudicate order by posterior on SQLite and PostgreSQL, and the card's aggregation sentence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene, MajorityVote

from builder.config import Settings
from builder.domain import ItemStatus, Role, TaskType
from builder.errors import PermissionDenied, ReviewError
from builder.release.card import CardInfo, render_card
from builder.release.manifest import AgreementSummary, SplitSummary
from builder.review.consensus import decide
from builder.review.items import adjudication_queue
from builder.review.queue import next_item, submit
from builder.review.skill import (
    MIN_ANSWERS,
    N_ITER,
    TOL,
    SkillStatus,
    annotator_skill,
    applicable,
    lowest_posterior_first,
    skill_from,
)
from builder.spec import TaskSpec, load_spec
from builder.store.annotations import AnswerRow, answer_rows
from builder.workspace import Workspace
from tests.support.common import spec_variant, workspace_with
from tests.support.literal import shown
from tests.support.review import actor, app_test, make_items, make_user

LABELS = ["billing", "bug", "feature", "question"]
TRUE_SKILL = {"ann": 0.95, "bea": 0.9, "cid": 0.8, "dov": 0.6, "eli": 0.4}
TASK = TaskSpec(type=TaskType.classification, input_fields=["text"], labels=LABELS)


def _crowd(
    n_items: int = 300, seed: int = 12, skills: dict[str, float] = TRUE_SKILL
) -> tuple[list[AnswerRow], dict[int, str]]:
    """Every annotator answers every item: right with their skill, else a uniformly drawn
    wrong label (so the skill is exactly the accuracy their confusion matrix implies)."""
    rng = np.random.default_rng(seed)
    truth = {i: LABELS[rng.integers(len(LABELS))] for i in range(1, n_items + 1)}
    rows = []
    for item, right in truth.items():
        for name, p in skills.items():
            wrong = [lab for lab in LABELS if lab != right]
            said = right if rng.random() < p else wrong[rng.integers(len(wrong))]
            rows.append(AnswerRow(item, name, said, False, None, None, ItemStatus.conflict))
    return rows, truth


def test_dawid_skene_recovers_known_skills_and_equals_crowd_kit() -> None:
    rows, truth = _crowd()
    report = skill_from(TASK, rows, threshold=0.7)
    skill = {a.annotator: a.skill or 0.0 for a in report.annotators}
    assert sorted(skill, key=lambda n: -skill[n]) == list(TRUE_SKILL)  # ranked right
    for name, true in TRUE_SKILL.items():
        assert skill[name] == pytest.approx(true, abs=0.05), name
    assert [a.annotator for a in report.flagged] == ["dov", "eli"]
    assert {a.status for a in report.annotators if a.annotator not in ("dov", "eli")} == {
        SkillStatus.ok
    }

    # crowd-kit run directly on the same answers, with the same settings.
    frame = pd.DataFrame(
        [(r.item_id, r.annotator, r.answer) for r in rows], columns=["task", "worker", "label"]
    ).sort_values(["task", "worker"])
    ds = DawidSkene(n_iter=N_ITER, tol=TOL).fit(frame)
    assert ds.errors_ is not None and ds.priors_ is not None and ds.probas_ is not None
    assert ds.labels_ is not None
    for name in TRUE_SKILL:
        e = ds.errors_.loc[name]
        implied = sum(ds.priors_[c] * e.loc[c, c] for c in LABELS)
        assert skill[name] == pytest.approx(implied, rel=1e-12)
        mine = next(a for a in report.annotators if a.annotator == name)
        for c in LABELS:  # true label → answered label, every row a distribution
            assert mine.confusion[c] == pytest.approx({k: e.loc[k, c] for k in LABELS})
            assert sum(mine.confusion[c].values()) == pytest.approx(1.0)
    assert report.priors == pytest.approx({c: ds.priors_[c] for c in LABELS})
    assert report.iterations == len(ds.loss_history_) < N_ITER  # converged, not cut off
    for item, p in report.items.items():
        assert p.ds_label == ds.labels_[item]
        assert p.posterior == pytest.approx(ds.probas_.loc[item].max(), rel=1e-12)
    mv = MajorityVote().fit(frame)
    assert mv.labels_ is not None
    tied = {i for i, p in report.items.items() if p.mv_label is None}
    assert all(report.items[i].mv_label == mv.labels_[i] for i in report.items if i not in tied)

    # Weighting annotators by skill labels more items right than counting votes.
    ds_right = sum(p.ds_label == truth[i] for i, p in report.items.items())
    mv_right = sum(p.mv_label == truth[i] for i, p in report.items.items())
    assert ds_right > mv_right
    assert report.disagreements == sum(
        p.mv_label is not None and p.mv_label != p.ds_label for p in report.items.values()
    )


def test_the_fit_is_deterministic_and_order_free() -> None:
    rows, _ = _crowd(n_items=120)
    first = skill_from(TASK, rows, threshold=0.7)
    again = skill_from(TASK, list(reversed(rows)), threshold=0.7)
    assert first == again


def test_gold_items_stay_out_of_the_fit_and_give_gold_accuracy() -> None:
    rows, _ = _crowd(n_items=100)
    gold = [
        AnswerRow(1000 + k, name, "bug" if name != "eli" or k % 2 else "billing", True, "bug",
                  "bug", ItemStatus.approved)
        for k in range(4)
        for name in TRUE_SKILL
    ]  # fmt: skip
    report = skill_from(TASK, rows + gold, threshold=0.7)
    assert not any(i >= 1000 for i in report.items)
    without = skill_from(TASK, rows, threshold=0.7)
    by_name = {a.annotator: a for a in report.annotators}
    assert [a.skill for a in report.annotators] == [a.skill for a in without.annotators]
    assert (by_name["ann"].gold_answered, by_name["ann"].gold_accuracy) == (4, 1.0)
    assert (by_name["eli"].gold_answered, by_name["eli"].gold_accuracy) == (4, 0.5)
    assert by_name["ann"].answers == 100


def test_too_few_answers_are_not_judged_and_agreement_leaves_own_vote_out() -> None:
    rows, _ = _crowd(n_items=60)
    few = [
        AnswerRow(i, "new", r.answer, False, None, None, ItemStatus.conflict)
        for i, r in enumerate(rows[: MIN_ANSWERS * 5 - 5 : 5], start=1)
    ]  # copies ann's answers on the first items: a perfect but tiny record
    report = skill_from(TASK, rows + few, threshold=0.7)
    new = next(a for a in report.annotators if a.annotator == "new")
    assert new.answers == MIN_ANSWERS - 1 and new.status is SkillStatus.too_few
    assert new.skill is not None
    # Two annotators per item: agreement with "the majority" is agreement with the other one.
    pair = [
        AnswerRow(i, n, lab, False, None, None, ItemStatus.conflict)
        for i, (a, b) in enumerate([("bug", "bug"), ("bug", "billing"), ("bug", "bug")], start=1)
        for n, lab in (("x", a), ("y", b))
    ]
    two = skill_from(TASK, pair, threshold=0.7)
    assert [(a.mv_agreement, a.mv_compared) for a in two.annotators] == [(2 / 3, 3), (2 / 3, 3)]
    assert two.items[2].mv_label is None and not two.items[2].differs  # a tie has no MV label


def test_multilabel_is_one_binary_fit_per_label() -> None:
    labels = ["a", "b", "c", "unused"]
    task = TaskSpec(type=TaskType.multilabel, input_fields=["text"], labels=labels)
    rng = np.random.default_rng(5)
    rows = []
    for item in range(1, 301):
        truth = {lab for lab in labels[:3] if rng.random() < 0.4}
        # Four annotators: with only two informative ones, which is better is not identifiable.
        for name, p in (("good", 0.95), ("fair", 0.85), ("okay", 0.8), ("poor", 0.55)):
            said = [lab for lab in labels[:3] if (lab in truth) == (rng.random() < p)]
            if said:
                rows.append(AnswerRow(item, name, said, False, None, None, ItemStatus.conflict))
    report = skill_from(task, rows, threshold=0.7)
    by_name = {a.annotator: a for a in report.annotators}
    skill = {n: a.skill for n, a in by_name.items()}
    assert sorted(skill, key=lambda n: -(skill[n] or 0)) == ["good", "fair", "okay", "poor"]
    for name, p in (("good", 0.95), ("fair", 0.85), ("okay", 0.8), ("poor", 0.55)):
        assert skill[name] == pytest.approx(p, abs=0.05), name
    # A label nobody gave is not fitted: not in the mean, prior 0.
    assert set(by_name["poor"].per_label) == {"a", "b", "c"} and report.priors["unused"] == 0
    assert by_name["poor"].skill == pytest.approx(np.mean(list(by_name["poor"].per_label.values())))
    assert [a.annotator for a in report.flagged] == ["poor"]
    some = next(iter(report.items.values()))
    assert isinstance(some.ds_label, list) and 0 < some.posterior <= 1
    assert "binary" in report.note


def test_multiple_choice_letters_and_reference_answers_not_applicable() -> None:
    mcq = TaskSpec(type=TaskType.multiple_choice, input_fields=["q", "choices"],
                   choices_field="choices")  # fmt: skip
    rows = [
        AnswerRow(i, n, "B" if n != "z" or i % 3 else "C", False, None, None, ItemStatus.conflict)
        for i in range(1, 31)
        for n in ("x", "y", "z")
    ]
    report = skill_from(mcq, rows, threshold=0.7)
    assert report.applicable and "choice letter" in report.note
    assert {p.ds_label for p in report.items.values()} == {"B"}
    for ref in (
        TaskSpec(type=TaskType.reference_answer, input_fields=["q"]),
        TaskSpec(type=TaskType.reference_answer, input_fields=["q", "ctx"], context_field="ctx"),
    ):
        ok, note = applicable(ref)
        empty = skill_from(ref, rows, threshold=0.7)
        assert not ok and not empty.applicable and note.startswith("Not applicable")
        assert empty.annotators == [] and empty.items == {}


def test_no_overlap_means_no_estimate() -> None:
    rows = [AnswerRow(i, f"p{i % 2}", "bug", False, None, None, ItemStatus.approved)
            for i in range(40)]  # fmt: skip
    report = skill_from(TASK, rows, threshold=0.7)
    assert report.items == {} and "two or more annotators" in report.note
    assert {a.status for a in report.annotators} == {SkillStatus.too_few}


# ---------------------------------------------------------------- the Adjudicate order


def _three_annotators(n: int = 40, seed: int = 3) -> dict[int, tuple[str, str, str]]:
    """item → what ana (0.9), ben (0.85) and cy (0.55) answer, each right with that chance."""
    labels = ["devel", "utils", "net", "mail"]
    rng = np.random.default_rng(seed)
    out = {}
    for item in range(1, n + 1):
        t = int(rng.integers(4))
        out[item] = tuple(
            labels[t] if rng.random() < p else labels[(t + int(rng.integers(1, 4))) % 4]
            for p in (0.9, 0.85, 0.55)
        )
    return out  # type: ignore[return-value]


ANSWERS = _three_annotators()
CONFLICTS = [i for i, a in ANSWERS.items() if len(set(a)) > 1]
LEAST_CERTAIN = [6, 31]
"""ana and cy against ben, then all three different: Dawid–Skene's two lowest posteriors
(about 0.91 and 0.94; every other conflict is above 0.99)."""


def label_three_ways(ws: Workspace) -> None:
    """ana, ben and cy answer every item as :data:`ANSWERS` says, through the real queue."""
    make_user(ws, "cy")
    for k, name in enumerate(("ana", "ben", "cy")):
        who = actor(ws, name)
        while (task := next_item(ws, who)) is not None:
            submit(ws, who, task.item_id, ANSWERS[task.item_id][k])


def test_adjudicate_order_by_lowest_posterior(
    settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = workspace_with(settings, tmp_path, review={"annotators_per_item": 3})
    try:
        make_items(ws, sample_rows, len(ANSWERS), tmp=tmp_path)
        for name, role in (
            ("ana", Role.annotator),
            ("ben", Role.annotator),
            ("rita", Role.reviewer),
        ):
            make_user(ws, name, role)
        label_three_ways(ws)
        rita = actor(ws, "rita")
        assert [c.item_id for c in adjudication_queue(ws, rita, limit=100)] == CONFLICTS
        ids = [c.item_id for c in adjudication_queue(ws, rita, limit=100, order="lowest_posterior")]
        report = annotator_skill(ws, rita)
        post = {i: report.items[i].posterior for i in ids}
        assert sorted(ids) == CONFLICTS and ids == sorted(ids, key=lambda i: (post[i], i))
        assert ids[:2] == LEAST_CERTAIN and post[ids[1]] < 0.95 < 0.99 < post[ids[2]]
        assert [
            c.item_id for c in adjudication_queue(ws, rita, limit=3, order="lowest_posterior")
        ] == ids[:3]
        # The library function alone, inside a caller's transaction.
        bench, spec = ws.benchmark()
        with ws.db.session() as s:
            assert bench.id is not None
            assert lowest_posterior_first(s, bench.id, spec, CONFLICTS) == ids
            assert len(answer_rows(s, bench.id)) == 3 * len(ANSWERS)
        with pytest.raises(ReviewError, match="unknown queue order 'newest'; use one of"):
            adjudication_queue(ws, rita, order="newest")
        with pytest.raises(PermissionDenied):
            annotator_skill(ws, actor(ws, "ana"))
    finally:
        ws.db.dispose()


# ---------------------------------------------------------------- the app


@pytest.fixture
def skill_ws(app_ws_with: Callable[..., Workspace]) -> Workspace:
    """The app's workspace (SQLite) with :data:`ANSWERS` given by ana, ben and cy."""
    ws = app_ws_with(n=len(ANSWERS), review={"annotators_per_item": 3})
    label_three_ways(ws)
    return ws


def test_the_cached_fit_follows_every_change_of_the_answers(skill_ws: Workspace) -> None:
    rita = actor(skill_ws, "rita")
    first = annotator_skill(skill_ws, rita)
    assert annotator_skill(skill_ws, rita) is first  # unchanged answers: the same fit
    # Sending an item back retires its answers without adding one: the fit must notice.
    decide(skill_ws, rita, LEAST_CERTAIN[0], "sent_back")
    after = annotator_skill(skill_ws, rita)
    assert after is not first and LEAST_CERTAIN[0] not in after.items
    assert set(after.items) == set(first.items) - {LEAST_CERTAIN[0]}


def test_dashboard_flags_the_low_skill_annotator(skill_ws: Workspace) -> None:
    at = app_test(skill_ws, "rita", page="dashboard.py")
    assert not at.exception
    assert "Annotator skill" in [h.value for h in at.header]
    skill = next(d.value for d in at.dataframe if "skill (Dawid–Skene)" in d.value.columns)
    assert list(skill["annotator"]) == ["ana", "ben", "cy"]
    assert list(skill["answers"]) == [40, 40, 40]
    assert list(skill["status"]) == ["ok", "ok", "below threshold"]
    assert "gold accuracy" in skill.columns
    assert skill["skill (Dawid–Skene)"].iloc[0] > 0.9 > 0.7 > skill["skill (Dawid–Skene)"].iloc[2]
    warnings = [shown(w.value) for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("cy: skill 0.5")
    assert "below the threshold 0.7 over 40 answers" in warnings[0]


def test_dashboard_says_too_few_and_not_applicable(
    app_ws_with: Callable[..., Workspace],
) -> None:
    ws = app_ws_with(n=6)
    for name in ("ana", "ben"):
        who = actor(ws, name)
        for _ in range(3):
            task = next_item(ws, who)
            assert task is not None
            submit(ws, who, task.item_id, "devel")
    at = app_test(ws, "rita", page="dashboard.py")
    skill = next(d.value for d in at.dataframe if "skill (Dawid–Skene)" in d.value.columns)
    assert list(skill["status"]) == ["too few to judge", "too few to judge"]
    assert any("Too few to judge" in shown(c.value) for c in at.caption)
    assert not at.warning


def test_dashboard_multilabel_skill_per_label(app_ws_with: Callable[..., Workspace]) -> None:
    ws = app_ws_with(n=4, task={"type": "multilabel"})
    for name, answers in (("ana", [["devel"], ["utils", "net"], ["net"], ["devel"]]),
                          ("ben", [["devel"], ["utils"], ["net"], ["utils"]])):  # fmt: skip
        who = actor(ws, name)
        for labels in answers:
            task = next_item(ws, who)
            assert task is not None
            submit(ws, who, task.item_id, labels)
    at = app_test(ws, "rita", page="dashboard.py")
    assert not at.exception
    per_label = next(
        d.value for d in at.dataframe if list(d.value.columns)[:2] == ["annotator", "label"]
    )
    assert sorted(set(per_label["label"])) == ["devel", "net", "utils"]  # only labels given
    assert any("one binary (present / absent)" in shown(c.value) for c in at.caption)


def test_dashboard_reference_answers_are_not_applicable(
    app_ws_with: Callable[..., Workspace],
) -> None:
    ws = app_ws_with(n=2, task={"type": "reference_answer", "labels": []})
    at = app_test(ws, "rita", page="dashboard.py")
    assert not at.exception
    assert any(shown(i.value).startswith("Not applicable: reference answers") for i in at.info)


def test_adjudicate_page_orders_by_lowest_posterior(skill_ws: Workspace) -> None:
    at = app_test(skill_ws, "rita", page="adjudicate.py")
    order = at.radio(key="adjudicate_order")
    assert order.value == "oldest"  # the default order is today's
    assert (
        at.selectbox(key="adjudicate_item")
        .options[0]
        .startswith(f"{_source(skill_ws, CONFLICTS[0])} ·")
    )
    order.set_value("lowest_posterior").run()
    box = at.selectbox(key="adjudicate_item")
    assert box.value == LEAST_CERTAIN[0]
    assert " · posterior 0.91" in box.options[0]


def _source(ws: Workspace, item_id: int) -> str:
    from builder.review.items import get_case

    return get_case(ws, actor(ws, "rita"), item_id).source_id


# ---------------------------------------------------------------- the card


def _card(tmp: Path, **changes: Any) -> str:
    spec, _ = load_spec(spec_variant(tmp, **changes))
    info = CardInfo(
        name=spec.name,
        version="1.0.0",
        parent=None,
        spec=spec,
        splits={"test": SplitSummary(count=3, labels={"devel": 3})},
        agreement=AgreementSummary(
            annotators=2,
            annotations=6,
            items_annotated=3,
            items_multiply_annotated=3,
            ceiling_metric="accuracy",
        ),
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        created_by="lea",
        data_files={"test": "data/test.parquet"},
    )
    return render_card(info)


def test_card_says_which_aggregation_produced_the_labels(tmp_path: Path) -> None:
    card = _card(tmp_path)
    assert (
        "- Released labels: a reviewer's decision always wins (an item a reviewer approved "
        "carries the answer the reviewer chose; a gold item, the lead's gold answer); every "
        "other item was approved automatically because a round's first complete set of its 2 "
        "answers agreed (the same label) and none was flagged (`review.auto_approve_unanimous`); "
        "a revised answer or a flag sends an item to a reviewer. No label comes from a vote: on "
        "disagreeing items majority vote only pre-fills the reviewer's form, and Dawid–Skene "
        "(crowd-kit) estimates of annotator skill and item posteriors were advisory (dashboard, "
        "Adjudicate order), never a label. This describes the spec of this release."
    ) in card
    off = _card(tmp_path, review={"auto_approve_unanimous": False})
    assert (
        "auto-approval is off (`review.auto_approve_unanimous: false`), so every other "
        "item was approved by a reviewer, unanimous ones included." in off
    )
    single = _card(tmp_path, review={"annotators_per_item": 1})
    assert "every other item carries its single annotator's unflagged answer as given" in single
