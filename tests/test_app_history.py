"""Item history page (AppTest): answers, decisions, audit log; gold marking for leads only."""

from __future__ import annotations

from typing import Any

from builder.review.queue import next_item, submit
from builder.store.models import Item
from builder.workspace import Workspace
from tests.support.literal import active_markdown, shown
from tests.support.review import actor, app_test, texts


def test_history_of_an_item(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    for who in ("ana", "ben"):
        a = actor(app_ws, who)
        next_item(app_ws, a)
        submit(app_ws, a, 1, "devel", comment=f"{who}: <b>sure</b>")
    at = app_test(app_ws, "rita", page="history.py")
    assert at.caption[0].value == "Type a source id (see `benchsmith items list`)."
    at.text_input(key="history_source").input("no-such").run()
    assert [shown(e.value) for e in at.error] == [
        "no item with source id 'no-such' in benchmark 'debian-sections'; "
        "see `benchsmith items list`"
    ]
    pkg = sample_rows[0]["package"]
    at.text_input(key="history_source").input(pkg).run()
    assert "status approved · revision 1 · final answer devel" in texts(at)
    answers, decisions, audit = (d.value for d in at.dataframe)
    assert list(answers["annotator"]) == ["ana", "ben"]
    assert list(answers["comment"]) == ["ana: <b>sure</b>", "ben: <b>sure</b>"]
    assert list(decisions["by"]) == ["auto-approval"]
    assert list(audit["action"]) == ["annotation.create", "annotation.create", "item.auto_approve"]
    # Reviewers see the history but cannot mark gold.
    assert not [f for f in at.text_input if f.key.startswith("gold_answer")]


def test_lead_marks_and_unmarks_gold(app_ws: Workspace, sample_rows: list[dict[str, Any]]) -> None:
    pkg = sample_rows[2]["package"]
    at = app_test(app_ws, "lea", page="history.py")
    at.text_input(key="history_source").input(pkg).run()
    at.text_input(key="gold_answer_3").input("nonsense")
    at.button(key="mark_gold").click().run()
    assert shown(at.error[0].value).startswith(
        "label 'nonsense' is not one of the benchmark's labels"
    )
    at.text_input(key="gold_answer_3").input("libs")
    at.button(key="mark_gold").click().run()
    with app_ws.db.session() as s:
        item = s.get(Item, 3)
        assert item is not None and (item.is_gold, item.gold_answer, item.status) == (
            True, "libs", "approved"
        )  # fmt: skip
    assert "status approved · revision 1 · final answer libs · gold" in texts(at)
    at.button(key="unmark_gold").click().run()
    with app_ws.db.session() as s:
        assert not s.get(Item, 3).is_gold  # type: ignore[union-attr]


def test_annotators_cannot_see_history(app_ws: Workspace) -> None:
    at = app_test(app_ws, "ana", page="history.py")
    assert [e.value for e in at.error] == [
        "This page needs the reviewer role; you are logged in as ana (annotator)."
    ]
    assert list(at.text_input) == []


def test_a_refusal_quoting_typed_text_shows_it_as_typed(app_ws: Workspace) -> None:
    # The library's message quotes the source id; as Markdown it would load the image.
    at = app_test(app_ws, "rita", page="history.py")
    at.text_input(key="history_source").input("![x](http://evil.example/x.png) *b*").run()
    assert [shown(e.value) for e in at.error] == [
        "no item with source id '![x](http://evil.example/x.png) *b*' in benchmark "
        "'debian-sections'; see `benchsmith items list`"
    ]
    assert [active_markdown(e.value) for e in at.error] == [[]]
