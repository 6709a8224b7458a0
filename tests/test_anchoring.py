"""Anchoring measured: agreement with the suggestion where shown vs on blind control items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from builder.config import Settings
from builder.domain import Role
from builder.review.anchoring import (
    MIN_CONTROL,
    anchoring,
    anchoring_from,
    newcombe_difference,
    wilson,
)
from builder.review.queue import next_item, submit
from builder.review.suggestions import import_suggestions, is_control, suggestions_for
from builder.spec import BenchmarkSpec, load_spec
from builder.store.suggestions import AnsweredRow, SuggestionRow
from builder.workspace import Workspace
from tests.support.common import spec_variant, workspace_with
from tests.support.review import actor, make_items, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_wilson_and_newcombe_match_the_published_examples() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", example
    # 81/263: Wilson score interval 0.2553 to 0.3662.
    low, high = wilson(81, 263) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", example (a) 56/70 − 48/80: method 10 gives 0.0524 to 0.3339.
    d_low, d_high = newcombe_difference(56, 70, 48, 80) or (0, 0)
    assert (round(d_low, 4), round(d_high, 4)) == (0.0524, 0.3339)
    assert wilson(0, 0) is None and newcombe_difference(1, 2, 0, 0) is None


def _spec(tmp: Path, share: float) -> BenchmarkSpec:
    return load_spec(
        spec_variant(tmp, review={"suggestions": "annotators", "suggestion_control": share})
    )[0]


def _items(n: int, control: bool, share: float, start: int = 1) -> list[int]:
    out, i = [], start
    while len(out) < n:
        if is_control(i, seed=13, share=share) is control:
            out.append(i)
        i += 1
    return out


def test_a_constructed_case_with_a_known_answer(tmp_path: Path) -> None:
    share = 0.5
    spec = _spec(tmp_path, share)
    shown, control = _items(40, False, share), _items(40, True, share)
    sugg = {i: [SuggestionRow("m", "devel", 0.8, "import", T0)] for i in shown + control}
    at = T0 + timedelta(hours=1)
    answers = [
        # ana: agrees with the suggestion on 36 of 40 shown items, 12 of 40 control items.
        *(AnsweredRow(i, "ana", "devel" if k < 36 else "libs", at) for k, i in enumerate(shown)),
        *(AnsweredRow(i, "ana", "devel" if k < 12 else "libs", at) for k, i in enumerate(control)),
        # ben: 5 of 10 shown, 2 of 4 control: no clear difference, and too few controls.
        *(AnsweredRow(i, "ben", "devel" if k < 5 else "net", at) for k, i in enumerate(shown[:10])),
        *(
            AnsweredRow(i, "ben", "devel" if k < 2 else "net", at)
            for k, i in enumerate(control[:4])
        ),
        # An answer given before the suggestion existed does not count.
        AnsweredRow(shown[0], "cy", "devel", T0 - timedelta(minutes=1)),
        # Nor an item with no suggestion at all.
        AnsweredRow(999_999, "ana", "devel", at),
    ]
    report = anchoring_from(spec, answers, sugg)
    assert report.measured and report.control_share == 0.5
    ana, ben = report.annotators
    assert (ana.annotator, ana.shown, ana.shown_agree, ana.control, ana.control_agree) == (
        "ana", 40, 36, 40, 12,
    )  # fmt: skip
    assert ana.shown_rate == 0.9 and ana.control_rate == 0.3
    assert ana.difference == pytest.approx(0.6)
    assert ana.difference_ci == newcombe_difference(36, 40, 12, 40)
    assert tuple(round(x, 4) for x in ana.difference_ci or ()) == (0.3979, 0.7337)
    assert ana.note == "agrees with the suggestion more when shown it: anchored"
    assert (ben.shown, ben.shown_agree, ben.control, ben.control_agree) == (10, 5, 4, 2)
    assert ben.difference == 0.0
    assert ben.note == (
        f"too few control answers to judge (4 < {MIN_CONTROL}); the interval is wide"
    )


def test_nothing_is_measured_when_annotators_label_blind(tmp_path: Path) -> None:
    spec, _ = load_spec(spec_variant(tmp_path, review={"suggestions": "reviewers"}))
    sugg = {1: [SuggestionRow("m", "devel", None, "import", T0)]}
    report = anchoring_from(spec, [AnsweredRow(1, "ana", "devel", T0 + timedelta(hours=1))], sugg)
    assert not report.measured and report.annotators == []


@pytest.fixture
def shown_ws(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> Iterator[Workspace]:
    ws = workspace_with(
        sqlite_settings, tmp_path, review={"suggestions": "annotators", "suggestion_control": 0.5}
    )
    make_items(ws, sample_rows, 12, tmp=tmp_path)
    make_user(ws, "ana")
    make_user(ws, "rita", Role.reviewer)
    f = tmp_path / "s.jsonl"
    f.write_text(
        "".join(
            json.dumps({"source_id": r["package"], "model": "m", "label": "devel"}) + "\n"
            for r in sample_rows[:12]
        )
    )
    import_suggestions(ws, f)
    yield ws
    ws.db.dispose()


def label_following_what_is_shown(ws: Workspace, who: str) -> dict[int, bool]:
    """``who`` answers every item: the suggestion when shown one, "libs" otherwise.
    Returns item id → whether a suggestion was shown."""
    a = actor(ws, who)
    shown: dict[int, bool] = {}
    while (task := next_item(ws, a)) is not None:
        views = suggestions_for(ws, a, task.item_id, page="annotate")
        shown[task.item_id] = bool(views)
        submit(ws, a, task.item_id, views[0].answer if views else "libs")
    return shown


def test_anchoring_read_from_the_workspace(shown_ws: Workspace) -> None:
    shown = label_following_what_is_shown(shown_ws, "ana")
    n_shown = sum(shown.values())
    assert 0 < n_shown < len(shown) == 12
    report = anchoring(shown_ws, actor(shown_ws, "rita"), benchmark=None)
    (ana,) = report.annotators
    assert (ana.shown, ana.shown_agree) == (n_shown, n_shown)
    assert (ana.control, ana.control_agree) == (12 - n_shown, 0)
    assert ana.difference == 1.0
