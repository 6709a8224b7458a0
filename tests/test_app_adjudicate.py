"""Adjudicate page (AppTest): answers side by side, approve / reject / send back, refusals."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from builder.review.queue import next_item, submit
from builder.store.models import Decision, Item
from builder.workspace import Workspace
from tests.support import literal
from tests.support.review import actor, app_test, texts

HOSTILE_COMMENT = "<img src=x onerror=alert(1)> [link](http://evil.example)"


def _disagree(ws: Workspace, n: int = 1) -> None:
    for who, label, comment in (("ana", "devel", HOSTILE_COMMENT), ("ben", "utils", "")):
        a = actor(ws, who)
        for _ in range(n):
            task = next_item(ws, a)
            assert task is not None
            submit(ws, a, task.item_id, label, comment=comment)


def _item(ws: Workspace, item_id: int) -> Item:
    with ws.db.session() as s:
        item = s.get(Item, item_id)
        assert item is not None
        return item


def test_nothing_to_adjudicate(app_ws: Workspace) -> None:
    at = app_test(app_ws, "rita", page="adjudicate.py")
    assert [i.value for i in at.info] == [
        "Nothing to adjudicate: no item has disagreeing or flagged answers."
    ]


def test_answers_side_by_side_and_approve(
    app_ws: Workspace, sample_rows: list[dict[str, Any]]
) -> None:
    _disagree(app_ws)
    at = app_test(app_ws, "rita", page="adjudicate.py")
    shown = texts(at)
    assert sample_rows[0]["description"] in shown
    # Who said what, literally (the comment's HTML and markdown stay text).
    for value in ("ana", "devel", HOSTILE_COMMENT, "ben", "utils"):
        assert value in shown
    assert not [m.value for m in at.markdown if "evil" in m.value]
    final = at.selectbox(key="final_1")
    assert final.value == "devel"  # no majority: starts from the first answer
    final.set_value("utils")
    at.text_input(key="reason_1").input("utilities, per guideline 5")
    at.button(key="approve").click().run()
    notices = [literal.shown(s.value) for s in at.success]
    assert notices == [f"{sample_rows[0]['package']}: approved"]
    item = _item(app_ws, 1)
    assert (item.status, item.answer) == ("approved", "utils")


def test_reject_needs_a_reason_then_send_back(app_ws: Workspace) -> None:
    _disagree(app_ws, n=2)
    at = app_test(app_ws, "rita", page="adjudicate.py")
    at.button(key="reject").click().run()
    assert [e.value for e in at.error] == ["rejecting item 1 needs a reason; say why"]
    assert _item(app_ws, 1).status == "conflict"
    at.text_input(key="reason_1").input("not a real package")
    at.button(key="reject").click().run()
    assert _item(app_ws, 1).status == "rejected"
    # The next case comes up; send it back for another round.
    assert at.selectbox(key="adjudicate_item").value == 2
    at.button(key="send_back").click().run()
    assert _item(app_ws, 2).status == "in_review"
    assert [i.value for i in at.info] == [
        "Nothing to adjudicate: no item has disagreeing or flagged answers."
    ]
    with app_ws.db.session() as s:
        decisions = s.exec(select(Decision).order_by(Decision.id)).all()  # type: ignore[arg-type]
    assert [(d.item_id, d.verdict) for d in decisions] == [(1, "rejected"), (2, "sent_back")]


def test_an_annotator_cannot_adjudicate(app_ws: Workspace) -> None:
    _disagree(app_ws)
    at = app_test(app_ws, "ana", page="adjudicate.py")
    assert [e.value for e in at.error] == [
        "This page needs the reviewer role; you are logged in as ana (annotator)."
    ]
    assert HOSTILE_COMMENT not in texts(at) and "ben" not in texts(at)


def test_a_reviewer_is_not_offered_an_item_they_answered(
    app_ws: Workspace, sample_rows: list[dict[str, Any]]
) -> None:
    # rita answered item 1 (ana disagreed); items 2 and 3 are ana's and ben's conflicts.
    for who, item_id, label in (("rita", 1, "devel"), ("ana", 1, "utils")):
        submit(app_ws, actor(app_ws, who), item_id, label)
    _disagree(app_ws, n=2)
    at = app_test(app_ws, "rita", page="adjudicate.py")
    waiting = at.selectbox(key="adjudicate_item")
    assert (waiting.value, len(waiting.options)) == (2, 2)
    assert sample_rows[1]["description"] in texts(at)
    assert sample_rows[0]["description"] not in texts(at) and "rita" not in texts(at)
    assert "Items you answered yourself are left to another reviewer." in [
        c.value for c in at.caption
    ]
    # A lead who answered nothing is offered all three.
    lea = app_test(app_ws, "lea", page="adjudicate.py")
    assert len(lea.selectbox(key="adjudicate_item").options) == 3
