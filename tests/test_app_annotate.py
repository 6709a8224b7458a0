# ruff: noqa: F811  (pytest fixtures imported from tests/review_support.py)
"""Annotate and My answers pages (AppTest): literal text, the form, skip, revise, progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.store.models import Annotation, Item
from builder.workspace import Workspace
from tests.review_support import (  # noqa: F401  (fixtures)
    app_test,
    app_workspace,
    app_ws,
    fast_argon2,
    texts,
)

HOSTILE = "<script>alert(1)</script> ![x](http://evil.example/x.png) **bold** <b>b</b>"


def _answers(ws: Workspace) -> list[tuple[int, Any, list[str], str, bool]]:
    with ws.db.session() as s:
        rows = s.exec(select(Annotation).order_by(Annotation.id)).all()  # type: ignore[arg-type]
        return [(a.item_id, a.answer, a.flags, a.comment, a.is_current) for a in rows]


def test_item_text_renders_literally(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> None:
    rows = [{**sample_rows[0], "description": HOSTILE}, *sample_rows[1:3]]
    ws = app_workspace(sqlite_settings, rows, tmp_path, monkeypatch, n=3)
    at = app_test(ws, "ana")
    assert HOSTILE in texts(at)
    rendered_as_markup = [m.value for m in [*at.markdown, *at.caption] if "evil" in m.value]
    assert rendered_as_markup == []
    ws.db.dispose()


def test_label_submit_and_next(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    at = app_test(app_ws, "ana")
    assert sample_rows[0]["description"] in texts(at)
    assert any("Annotator guidelines" in m.value for m in at.markdown)
    assert at.get("progress")[0].proto.text == (
        "0 of 6 items have all their answers · you answered 0"
    )
    pick = at.button_group(key="answer_pick_1")
    assert pick.options[:2] == ["1 · admin", "2 · cli-mono"]
    pick.set_value("devel")
    at.button_group(key="flags_1").set_value(["ambiguous"])
    at.text_input(key="comment_1").input("not sure about libs")
    at.button(key="submit").click().run()
    assert [s.value for s in at.success] == [f"Saved {sample_rows[0]['package']}"]
    assert sample_rows[1]["description"] in texts(at)
    assert at.get("progress")[0].proto.text.endswith("you answered 1")
    assert _answers(app_ws) == [(1, "devel", ["ambiguous"], "not sure about libs", True)]


def test_submit_without_a_label_is_refused(app_ws: Workspace) -> None:
    at = app_test(app_ws, "ana")
    at.button(key="submit").click().run()
    assert [e.value for e in at.error] == ["no label given; answer the item, or skip it"]
    assert _answers(app_ws) == []


def test_skip_moves_on(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    at = app_test(app_ws, "ana")
    at.button(key="skip").click().run()
    assert sample_rows[1]["description"] in texts(at)
    assert at.button_group(key="answer_pick_2") is not None


def test_revise_from_my_answers(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    at = app_test(app_ws, "ana")
    at.button_group(key="answer_pick_1").set_value("devel")
    at.button(key="submit").click().run()
    at.switch_page("pages/my_answers.py").run()
    table = at.dataframe[0].value
    assert list(table["item"]) == [sample_rows[0]["package"]]
    assert list(table["answer"]) == ["devel"] and list(table["can revise"]) == [True]
    at.selectbox(key="revise_choice").select(1)
    at.button(key="revise").click().run()
    # The page switched to Annotate (AppTest needs telling for the runs after st.switch_page),
    # with the earlier answer pre-selected.
    at.switch_page("pages/annotate.py").run()
    pick = at.button_group(key="answer_pick_1")
    assert pick.value == "devel"
    assert at.button(key="submit").label == "Save revision"
    pick.set_value("utils")
    at.button(key="submit").click().run()
    assert [s.value for s in at.success] == [f"Saved {sample_rows[0]['package']} (revised)"]
    assert [(a[1], a[4]) for a in _answers(app_ws)] == [("devel", False), ("utils", True)]


def test_nothing_left(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> None:
    ws = app_workspace(sqlite_settings, sample_rows, tmp_path, monkeypatch, n=1)
    at = app_test(ws, "ana")
    at.button_group(key="answer_pick_1").set_value("devel")
    at.button(key="submit").click().run()
    assert [s.value for s in at.success][-1] == (
        "Nothing left for you to label in this benchmark. Thank you!"
    )
    at.switch_page("pages/my_answers.py").run()
    assert list(at.dataframe[0].value["can revise"]) == [True]
    ws.db.dispose()


@pytest.mark.parametrize(
    ("task", "value", "stored"),
    [
        ({"type": "multilabel"}, ["net", "admin"], ["admin", "net"]),
        (
            {"type": "reference_answer", "labels": []},
            "  A mail user agent.  ",
            "A mail user agent.",
        ),
    ],
)
def test_other_task_types(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
    task: dict[str, Any],
    value: Any,
    stored: Any,
) -> None:
    ws = app_workspace(sqlite_settings, sample_rows, tmp_path, monkeypatch, n=2, task=task)
    at = app_test(ws, "ana")
    if task["type"] == "multilabel":
        assert at.button_group(key="answer_pick_1").label == "Labels (type their numbers)"
        at.button_group(key="answer_pick_1").set_value(value)
    else:
        at.text_area(key="answer_text_1").input(value)
    at.button(key="submit").click().run()
    assert not at.error
    assert _answers(ws) == [(1, stored, [], "", True)]
    with ws.db.session() as s:
        assert s.get(Item, 1).status == "in_review"  # type: ignore[union-attr]
    ws.db.dispose()


def test_labeling_is_blind(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    ana = app_test(app_ws, "ana")
    ana.button_group(key="answer_pick_1").set_value("kernel")
    ana.button_group(key="flags_1").set_value(["pii"])
    ana.text_input(key="comment_1").input("ana-private-note")
    ana.button(key="submit").click().run()
    ben = app_test(app_ws, "ben")
    # ben gets the item ana started (it needs a second answer), with nothing of hers on it.
    assert sample_rows[0]["description"] in texts(ben)
    pick = ben.button_group(key="answer_pick_1")
    assert pick.value is None and ben.button_group(key="flags_1").value == []
    everything = [str(e.value) for e in [*ben.text, *ben.markdown, *ben.caption, *ben.success]]
    assert not [v for v in everything if "ana-private-note" in v or "27 · kernel" in v]
    ben.switch_page("pages/my_answers.py").run()
    assert [i.value for i in ben.info] == ["You have not answered any item yet."]
