"""Annotate and My answers pages (AppTest): literal text, the form, skip, revise, progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from builder.review import queue
from builder.review.auth import operator
from builder.review.gold import mark_gold
from builder.review.queue import submit
from builder.store.models import Annotation, Item
from builder.workspace import Workspace
from review_ui.widgets import plain
from tests.support.literal import shown
from tests.support.review import actor, app_test, texts

HOSTILE = "<script>alert(1)</script> ![x](http://evil.example/x.png) **bold** <b>b</b>"


def _answers(ws: Workspace) -> list[tuple[int, Any, list[str], str, bool]]:
    with ws.db.session() as s:
        rows = s.exec(select(Annotation).order_by(Annotation.id)).all()  # type: ignore[arg-type]
        return [(a.item_id, a.answer, a.flags, a.comment, a.is_current) for a in rows]


def test_item_text_renders_literally(
    app_ws_with: Callable[..., Workspace],
    sample_rows: list[dict[str, Any]],
) -> None:
    rows = [{**sample_rows[0], "description": HOSTILE}, *sample_rows[1:3]]
    ws = app_ws_with(rows, n=3)
    at = app_test(ws, "ana")
    assert HOSTILE in texts(at)
    rendered_as_markup = [m.value for m in [*at.markdown, *at.caption] if "evil" in m.value]
    assert rendered_as_markup == []


def test_label_submit_and_next(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    at = app_test(app_ws, "ana")
    assert sample_rows[0]["description"] in texts(at)
    assert any("Annotator guidelines" in m.value for m in at.markdown)
    assert at.get("progress")[0].proto.text == "0 of 12 answers given · you answered 0"
    pick = at.button_group(key="answer_pick_1")
    assert [shown(o) for o in pick.options[:2]] == ["1 · admin", "2 · cli-mono"]
    pick.set_value("devel")
    at.button_group(key="flags_1").set_value(["ambiguous"])
    at.text_input(key="comment_1").input("not sure about libs")
    at.button(key="submit_1").click().run()
    assert [shown(s.value) for s in at.success] == [f"Saved {sample_rows[0]['package']}"]
    assert sample_rows[1]["description"] in texts(at)
    assert at.get("progress")[0].proto.text.endswith("you answered 1")
    assert _answers(app_ws) == [(1, "devel", ["ambiguous"], "not sure about libs", True)]


def test_submit_without_a_label_is_refused(app_ws: Workspace) -> None:
    at = app_test(app_ws, "ana")
    at.button(key="submit_1").click().run()
    assert [e.value for e in at.error] == ["no label given; answer the item, or skip it"]
    assert _answers(app_ws) == []


def test_skip_moves_on(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    at = app_test(app_ws, "ana")
    at.button(key="skip_1").click().run()
    assert sample_rows[1]["description"] in texts(at)
    assert at.button_group(key="answer_pick_2") is not None


def test_revise_from_my_answers(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    at = app_test(app_ws, "ana")
    at.button_group(key="answer_pick_1").set_value("devel")
    at.button(key="submit_1").click().run()
    at.switch_page("app_pages/my_answers.py").run()
    table = at.dataframe[0].value
    assert list(table["item"]) == [sample_rows[0]["package"]]
    assert list(table["answer"]) == ["devel"] and list(table["can revise"]) == [True]
    assert list(table["status"]) == ["answered"]
    at.selectbox(key="revise_choice").select(1)
    at.button(key="revise").click().run()
    # The page switched to Annotate (AppTest needs telling for the runs after st.switch_page),
    # with the earlier answer pre-selected.
    at.switch_page("app_pages/annotate.py").run()
    pick = at.button_group(key="answer_pick_1")
    assert pick.value == "devel"
    assert at.button(key="submit_1").label == "Save revision"
    pick.set_value("utils")
    at.button(key="submit_1").click().run()
    assert [shown(s.value) for s in at.success] == [f"Saved {sample_rows[0]['package']} (revised)"]
    assert [(a[1], a[4]) for a in _answers(app_ws)] == [("devel", False), ("utils", True)]


def test_nothing_left(app_ws_with: Callable[..., Workspace]) -> None:
    ws = app_ws_with(n=1)
    at = app_test(ws, "ana")
    at.button_group(key="answer_pick_1").set_value("devel")
    at.button(key="submit_1").click().run()
    assert [s.value for s in at.success][-1] == (
        "Nothing left for you to label in this benchmark. Thank you!"
    )
    at.switch_page("app_pages/my_answers.py").run()
    assert list(at.dataframe[0].value["can revise"]) == [True]


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
    app_ws_with: Callable[..., Workspace],
    task: dict[str, Any],
    value: Any,
    stored: Any,
) -> None:
    ws = app_ws_with(n=2, task=task)
    at = app_test(ws, "ana")
    if task["type"] == "multilabel":
        assert at.button_group(key="answer_pick_1").label == "Labels (type their numbers)"
        at.button_group(key="answer_pick_1").set_value(value)
    else:
        at.text_area(key="answer_text_1").input(value)
    at.button(key="submit_1").click().run()
    assert not at.error
    assert _answers(ws) == [(1, stored, [], "", True)]
    with ws.db.session() as s:
        assert s.get(Item, 1).status == "in_review"  # type: ignore[union-attr]


def test_labeling_is_blind(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    ana = app_test(app_ws, "ana")
    ana.button_group(key="answer_pick_1").set_value("kernel")
    ana.button_group(key="flags_1").set_value(["pii"])
    ana.text_input(key="comment_1").input("ana-private-note")
    ana.button(key="submit_1").click().run()
    ben = app_test(app_ws, "ben")
    # ben gets the item ana started (it needs a second answer), with nothing of hers on it.
    assert sample_rows[0]["description"] in texts(ben)
    pick = ben.button_group(key="answer_pick_1")
    assert pick.value is None and ben.button_group(key="flags_1").value == []
    everything = [str(e.value) for e in [*ben.text, *ben.markdown, *ben.caption, *ben.success]]
    assert not [v for v in everything if "ana-private-note" in v or "27 · kernel" in v]
    ben.switch_page("app_pages/my_answers.py").run()
    assert [i.value for i in ben.info] == ["You have not answered any item yet."]


def _label(at: Any, item_id: int, label: str) -> list[str]:
    """Pick ``label`` on the item shown, submit, and return the notices."""
    at.button_group(key=f"answer_pick_{item_id}").set_value(label)
    at.button(key=f"submit_{item_id}").click().run()
    assert not at.error
    return [s.value for s in at.success]


def _saved(source_id: str, suffix: str = "") -> list[str]:
    """The notice of a saved answer, as the page writes it (through :func:`plain`)."""
    return [plain(f"Saved {source_id}{suffix}")]


def _revise(at: Any, item_id: int, label: str) -> list[str]:
    """From My answers, revise the answer to ``item_id`` to ``label``; the notices."""
    at.switch_page("app_pages/my_answers.py").run()
    at.selectbox(key="revise_choice").set_value(item_id)
    at.button(key="revise").click().run()
    at.switch_page("app_pages/annotate.py").run()
    return _label(at, item_id, label)


def _my_rows(at: Any) -> list[tuple[Any, ...]]:
    at.switch_page("app_pages/my_answers.py").run()
    table = at.dataframe[0].value
    return list(zip(table["answer"], table["status"], table["can revise"], strict=True))


def test_the_notice_does_not_tell_whether_the_first_annotator_agreed(
    app_ws: Workspace, sample_rows: list[dict[str, Any]]
) -> None:
    pkg = [r["package"] for r in sample_rows[:2]]
    ana = actor(app_ws, "ana")
    submit(app_ws, ana, 1, "devel")
    submit(app_ws, ana, 2, "utils")
    ben = app_test(app_ws, "ben")
    # ben gets the items ana started; agreeing (1) and disagreeing (2) read the same.
    assert _label(ben, 1, "devel") == _saved(pkg[0])
    assert _label(ben, 2, "devel") == _saved(pkg[1])
    assert _my_rows(ben) == [("devel", "answered", True)] * 2
    with app_ws.db.session() as s:
        assert [s.get(Item, i).status for i in (1, 2)] == ["approved", "conflict"]  # type: ignore[union-attr]
    # Revising the conflict to ana's label does not approve it, and says the same as
    # revising the approved item away from it.
    assert _revise(ben, 2, "utils") == _saved(pkg[1], " (revised)")
    assert _revise(ben, 1, "utils") == _saved(pkg[0], " (revised)")
    assert _my_rows(ben) == [("utils", "revised", True)] * 2
    with app_ws.db.session() as s:
        assert [s.get(Item, i).status for i in (1, 2)] == ["conflict", "consensus"]  # type: ignore[union-attr]
    # ana's own list never changed with what ben did.
    ana_page = app_test(app_ws, "ana", page="my_answers.py")
    assert list(ana_page.dataframe[0].value["status"]) == ["answered", "answered"]


def test_a_gold_item_reads_like_any_other(
    app_ws: Workspace, sample_rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    mark_gold(app_ws, operator(), 3, "devel")
    monkeypatch.setattr(queue, "_gold_due", lambda annotator_id, done, every=10: True)
    at = app_test(app_ws, "ana")
    # The gold item comes first (due at once), then the queue's first item.
    assert _label(at, 3, "devel") == _saved(sample_rows[2]["package"])
    assert _label(at, 1, "devel") == _saved(sample_rows[0]["package"])
    assert _my_rows(at) == [("devel", "answered", True)] * 2
    assert _revise(at, 3, "utils") == _saved(sample_rows[2]["package"], " (revised)")
    assert _revise(at, 1, "utils") == _saved(sample_rows[0]["package"], " (revised)")
    assert _my_rows(at) == [("utils", "revised", True)] * 2
