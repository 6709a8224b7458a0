"""The dashboard's pure computations: agreement, annotator quality, labels, coverage."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from builder.review.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha
from builder.review.dashboard import (
    agreement_from,
    annotators_from,
    coverage_from,
    label_distribution_from,
)
from builder.spec import TaskSpec
from builder.store.annotations import AnswerRow

CLS = TaskSpec(type="classification", input_fields=["t"], labels=["a", "b", "c"])
NUM = TaskSpec(type="classification", input_fields=["t"], labels=["1", "2", "3", "4"])
MULTI = TaskSpec(type="multilabel", input_fields=["t"], labels=["x", "y"])
NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)


def rows(task_answers: dict[int, dict[str, object]], gold: dict[int, object] | None = None,
         final: dict[int, object] | None = None) -> list[AnswerRow]:  # fmt: skip
    gold, final = gold or {}, final or {}
    return [
        AnswerRow(
            item,
            who,
            answer,
            item in gold,
            gold.get(item),
            final.get(item),
            "approved" if item in final or item in gold else "conflict",
        )
        for item, answers in task_answers.items()
        for who, answer in answers.items()
    ]


def test_agreement_matches_the_library_on_the_same_data() -> None:
    data = {
        1: {"ana": "a", "ben": "a"},
        2: {"ana": "b", "ben": "a"},
        3: {"ana": "c", "ben": "c"},
        4: {"ana": "b", "ben": "b"},
        5: {"ana": "a"},  # one answer: not comparable
    }
    report = agreement_from(CLS, rows(data))
    assert (report.items, report.annotators) == (4, 2)
    ana, ben = ["a", "b", "c", "b"], ["a", "a", "c", "b"]
    assert report.alpha_nominal == pytest.approx(krippendorff_alpha([ana, ben]))
    assert report.fleiss == pytest.approx(
        fleiss_kappa([[2, 0, 0], [1, 1, 0], [0, 0, 2], [0, 2, 0]])
    )
    assert report.pairwise is not None
    assert report.pairwise.kappa[0][1] == pytest.approx(cohen_kappa(ana, ben))
    assert report.percent == pytest.approx(3 / 4)
    assert report.per_label == pytest.approx({"a": 2 / 3, "b": 2 / 3, "c": 1.0})
    assert report.alpha_ordinal is None  # labels are not numbers


def test_numeric_labels_get_ordinal_and_interval_alpha() -> None:
    data = {1: {"p": "1", "q": "2"}, 2: {"p": "3", "q": "3"}, 3: {"p": "4", "q": "3"}}
    report = agreement_from(NUM, rows(data))
    p, q = [1.0, 3.0, 4.0], [2.0, 3.0, 3.0]
    assert report.alpha_interval == pytest.approx(krippendorff_alpha([p, q], "interval"))
    assert report.alpha_ordinal == pytest.approx(krippendorff_alpha([p, q], "ordinal"))


def test_gold_items_do_not_count_for_agreement() -> None:
    report = agreement_from(CLS, rows({1: {"a1": "a", "a2": "b"}}, gold={1: "a"}))
    assert report.items == 0 and math.isnan(report.alpha_nominal)


def test_multilabel_agreement_is_over_yes_no_decisions() -> None:
    data = {1: {"p": ["x"], "q": ["x", "y"]}, 2: {"p": ["y"], "q": ["y"]}}
    report = agreement_from(MULTI, rows(data))
    # (item, label) decisions: x: yes/yes, no/no; y: no/yes, yes/yes.
    p, q = [True, False, False, True], [True, False, True, True]
    assert report.alpha_nominal == pytest.approx(krippendorff_alpha([p, q]))
    assert report.per_label == pytest.approx({"x": 1.0, "y": 2 / 3})
    assert report.percent == pytest.approx(1 / 2)


def test_annotator_quality_and_throughput() -> None:
    data = {1: {"ana": "a", "ben": "b"}, 2: {"ana": "c", "ben": "c"}, 3: {"ana": "a", "ben": "a"}}
    answer_rows = rows(data, gold={3: "b"}, final={1: "a", 2: "c"})
    log = [
        ("ana", NOW - timedelta(days=2, seconds=30), NOW - timedelta(days=2)),
        ("ana", NOW - timedelta(seconds=50), NOW - timedelta(seconds=40)),
        ("ben", NOW - timedelta(seconds=20), NOW),
    ]
    stats, daily = annotators_from(CLS, answer_rows, log, NOW)
    ana, ben = stats
    assert (ana.annotator, ana.answers, ana.last_24h, ana.median_seconds) == ("ana", 3, 1, 20.0)
    assert (ana.gold_answered, ana.gold_correct, ana.gold_accuracy) == (1, 0, 0.0)
    assert ana.agree_with_final == 1.0 and ben.agree_with_final == 0.5
    assert ben.items_per_hour == pytest.approx(180.0)
    assert daily == [
        ((NOW - timedelta(days=2)).date(), "ana", 1),
        (NOW.date(), "ana", 1),
        (NOW.date(), "ben", 1),
    ]


def test_label_distribution_lists_every_label() -> None:
    assert label_distribution_from(CLS, ["a", "a", "c", None]) == {"a": 2, "b": 0, "c": 1}
    assert label_distribution_from(MULTI, [["x", "y"], ["y"]]) == {"x": 1, "y": 2}
    assert (
        label_distribution_from(TaskSpec(type="reference_answer", input_fields=["t"]), ["t"]) == {}
    )


def test_coverage_from_the_curation_report() -> None:
    assert coverage_from(None, []) is None
    report = {
        "clusters": [{"cluster": 0, "size": 9, "picked": 3}, {"cluster": 1, "size": 4, "picked": 1}],
        "map": {"x": [0.0, 1.0], "y": [1.0, 0.0], "cluster": [0, 1], "selected": [True, False],
                "source_id": ["a", "b"]},
    }  # fmt: skip
    cov = coverage_from(report, [(1, 0, "a"), (2, 0, "b"), (3, None, "c")])
    assert cov is not None
    assert cov.clusters == [
        {"cluster": 0, "size": 9, "picked": 3, "approved": 2},
        {"cluster": 1, "size": 4, "picked": 1, "approved": 0},
    ]
    assert cov.points[0] == {"x": 0.0, "y": 1.0, "cluster": 0, "selected": True, "source_id": "a"}
    listed = coverage_from({"clusters": [], "map": cov.points}, [])
    assert listed is not None and listed.points == cov.points
