"""Suggestions in the app (AppTest): Annotate shows them per spec, Adjudicate to reviewers,
the Dashboard measures anchoring."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from builder.review.queue import next_item, submit
from builder.review.suggestions import import_suggestions, is_control
from builder.workspace import Workspace
from tests.support.review import actor, app_test, texts

MODEL = "<b>model</b> **Ω**"
"""A hostile model name: it must show as these characters, never as markup."""
SHOWN = f"{MODEL} · confidence 0.90"


def _suggest(ws: Workspace, rows: list[dict[str, Any]], tmp: Path, n: int = 6) -> None:
    f = tmp / "suggestions.jsonl"
    f.write_text(
        "".join(
            json.dumps({"source_id": r["package"], "model": MODEL, "label": "devel", "score": 0.9})
            + "\n"
            for r in rows[:n]
        )
    )
    import_suggestions(ws, f)


def _review(mode: str, control: float = 0.0) -> dict[str, Any]:
    return {"review": {"suggestions": mode, "suggestion_control": control}}


@pytest.mark.parametrize(
    ("mode", "seen"), [("annotators", True), ("reviewers", False), ("hidden", False)]
)
def test_annotate_shows_the_suggestion_only_when_the_spec_lets_annotators_see_it(
    app_ws_with: Callable[..., Workspace],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    mode: str,
    seen: bool,
) -> None:
    ws = app_ws_with(**_review(mode))
    _suggest(ws, sample_rows, tmp_path)
    at = app_test(ws, "ana", page="annotate.py")
    assert not at.exception
    assert sample_rows[0]["description"] in texts(at)
    assert (SHOWN in texts(at)) is seen
    assert ("devel" in texts(at)) is seen
    assert not [m.value for m in [*at.markdown, *at.caption] if "<b>" in m.value]


def test_annotate_hides_it_on_a_control_item(
    app_ws_with: Callable[..., Workspace], sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    # Item 1 comes first; pick the smallest share that makes it a control item.
    share = next(s / 100 for s in range(1, 100) if is_control(1, seed=13, share=s / 100))
    ws = app_ws_with(**_review("annotators", share))
    _suggest(ws, sample_rows, tmp_path)
    at = app_test(ws, "ana", page="annotate.py")
    assert sample_rows[0]["description"] in texts(at)
    assert SHOWN not in texts(at)
    assert not [c.value for c in at.caption if "Model suggestion" in c.value]


@pytest.mark.parametrize(
    ("mode", "seen"), [("reviewers", True), ("annotators", True), ("hidden", False)]
)
def test_adjudicate_shows_the_suggestion_to_the_reviewer(
    app_ws_with: Callable[..., Workspace],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    mode: str,
    seen: bool,
) -> None:
    ws = app_ws_with(**_review(mode))
    _suggest(ws, sample_rows, tmp_path)
    for who, label in (("ana", "utils"), ("ben", "net")):
        a = actor(ws, who)
        task = next_item(ws, a)
        assert task is not None
        submit(ws, a, task.item_id, label)
    at = app_test(ws, "rita", page="adjudicate.py")
    assert not at.exception
    assert "ana" in texts(at) and "utils" in texts(at)
    assert (SHOWN in texts(at)) is seen
    # The suggestion pre-fills nothing: the form starts from the annotators' answers.
    assert at.selectbox(key="final_1").value == "utils"


def test_dashboard_measures_anchoring_per_annotator(
    app_ws_with: Callable[..., Workspace], sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = app_ws_with(**_review("annotators", 0.5))
    _suggest(ws, sample_rows, tmp_path)
    ana = actor(ws, "ana")
    shown = 0
    while (task := next_item(ws, ana)) is not None:
        control = is_control(task.item_id, seed=13, share=0.5)
        shown += not control
        submit(ws, ana, task.item_id, "utils" if control else "devel")
    at = app_test(ws, "rita", page="dashboard.py")
    assert not at.exception
    assert "Anchoring on model suggestions" in [h.value for h in at.header]
    (frame,) = [d.value for d in at.dataframe if "shown: answers" in d.value.columns]
    row = frame.iloc[0]
    assert row["annotator"] == "ana"
    assert (row["shown: answers"], row["control: answers"]) == (shown, 6 - shown)
    assert (row["shown: agree"], row["control: agree"]) == ("100.0 %", "0.0 %")
    assert row["difference (points)"] == "+100.0"
    assert row["reading"].startswith("too few control answers to judge")


def test_dashboard_says_annotators_label_blind(
    app_ws_with: Callable[..., Workspace], sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = app_ws_with()
    _suggest(ws, sample_rows, tmp_path)
    at = app_test(ws, "rita", page="dashboard.py")
    assert "Anchoring on model suggestions" in [h.value for h in at.header]
    assert any("Annotators label blind" in c.value for c in at.caption)
