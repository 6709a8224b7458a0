"""The labeling queue on SQLite and a real PostgreSQL: slots, blindness, leases, concurrency."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import types
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.domain import Role
from builder.errors import PermissionDenied, ReviewError, SpecError
from builder.review.auth import operator
from builder.review.consensus import decide
from builder.review.gold import mark_gold, unmark_gold
from builder.review.items import get_case
from builder.review.my_answers import my_answers
from builder.review.queue import (
    GOLD_EVERY,
    Saved,
    next_item,
    open_answered,
    progress,
    skip,
    submit,
)
from builder.spec import load_spec
from builder.store.audit import history
from builder.store.models import Annotation, Item, utcnow
from builder.workspace import Workspace, open_workspace
from tests.support.common import spec_variant, workspace_with
from tests.support.review import make_items, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")

T0 = utcnow().replace(microsecond=0)


def _answers(ws: Workspace) -> dict[int, list[int]]:
    """item id → annotator ids of its current answers."""
    with ws.db.session() as s:
        rows = s.exec(select(Annotation).where(Annotation.is_current == True)).all()  # noqa: E712
    out: dict[int, list[int]] = {}
    for a in rows:
        out.setdefault(a.item_id, []).append(a.annotator_id)
    return out


def _status(ws: Workspace, item_id: int) -> str:
    with ws.db.session() as s:
        item = s.get(Item, item_id)
        assert item is not None
        return item.status


def test_two_distinct_annotators_then_auto_approval(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(workspace, sample_rows, 3, tmp=tmp_path)
    ana, ben = make_user(workspace, "ana"), make_user(workspace, "ben")
    task = next_item(workspace, ana, now=T0)
    assert task is not None and task.item_id == ids[0]
    assert task.source_id == sample_rows[0]["package"]
    assert task.fields == {
        "package": sample_rows[0]["package"],
        "description": sample_rows[0]["description"],
    }
    assert task.lease_expires_at == T0 + timedelta(minutes=30)
    # The second annotator gets the same item: it has a free slot.
    assert next_item(workspace, ben, now=T0).item_id == ids[0]  # type: ignore[union-attr]
    first = submit(workspace, ana, ids[0], "devel", now=T0)
    assert first == Saved(ids[0], revised=False)
    assert _status(workspace, ids[0]) == "in_review"
    # ana moves on; her answer is not shown to ben (blind), who still holds the item.
    assert next_item(workspace, ana, now=T0).item_id == ids[1]  # type: ignore[union-attr]
    # ben is told only that his answer was saved, not that it agreed and approved the item.
    assert submit(workspace, ben, ids[0], "devel", now=T0) == Saved(ids[0], revised=False)
    assert _status(workspace, ids[0]) == "approved"
    with workspace.db.session() as s:
        item = s.get(Item, ids[0])
        assert item is not None and item.answer == "devel"
        actions = [e.action for e in history(s, entity="item", entity_id=ids[0])]
    assert actions == ["annotation.create", "annotation.create", "item.auto_approve"]
    assert sorted(_answers(workspace)[ids[0]]) == sorted([ana.user_id, ben.user_id])


def test_an_annotator_never_gets_the_same_item_twice(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = sqlite_workspace
    ids = make_items(ws, sample_rows, 4, tmp=tmp_path)
    ana = make_user(ws, "ana")
    seen = []
    while (task := next_item(ws, ana, now=T0)) is not None:
        seen.append(task.item_id)
        submit(ws, ana, task.item_id, "utils", now=T0)
    assert seen == ids
    done = progress(ws, ana)
    assert (done.total, done.needed, done.given, done.mine) == (4, 8, 4, 4)
    assert done.fraction == 0.5


def test_lease_holds_the_slot_then_expires(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(workspace, sample_rows, 3, tmp=tmp_path)
    ana, ben, cid, dan = (make_user(workspace, n) for n in ("ana", "ben", "cid", "dan"))
    assert next_item(workspace, ana, now=T0).item_id == ids[0]  # type: ignore[union-attr]
    assert next_item(workspace, ben, now=T0).item_id == ids[0]  # type: ignore[union-attr]
    # Both slots of item 0 are leased: the third annotator gets the next item.
    assert next_item(workspace, cid, now=T0).item_id == ids[1]  # type: ignore[union-attr]
    # Asking again returns the same leased item (the lease is renewed, not duplicated).
    assert next_item(workspace, cid, now=T0).item_id == ids[1]  # type: ignore[union-attr]
    later = T0 + timedelta(minutes=31)
    assert next_item(workspace, dan, now=later).item_id == ids[0]  # type: ignore[union-attr]
    # ana's lease expired but a slot is still free: her late answer is kept.
    submit(workspace, ana, ids[0], "devel", now=later)
    # ben's lease expired and both slots are now taken (ana done, dan leased): refused.
    with pytest.raises(ReviewError) as err:
        submit(workspace, ben, ids[0], "devel", now=later)
    assert str(err.value) == (
        f"item {ids[0]} takes no more answers — your lease expired and the slot "
        "was taken; your answer was not saved, take the next item"
    )
    submit(workspace, dan, ids[0], "devel", now=later)
    assert sorted(_answers(workspace)[ids[0]]) == sorted([ana.user_id, dan.user_id])
    assert _status(workspace, ids[0]) == "approved"


def test_skip_frees_the_slot_and_returns_the_item_last(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = sqlite_workspace
    ids = make_items(ws, sample_rows, 2, tmp=tmp_path)
    ana, ben, cid = (make_user(ws, n) for n in ("ana", "ben", "cid"))
    assert next_item(ws, ana, now=T0).item_id == ids[0]  # type: ignore[union-attr]
    assert next_item(ws, ben, now=T0).item_id == ids[0]  # type: ignore[union-attr]
    skip(ws, ana, ids[0], now=T0)
    with pytest.raises(ReviewError, match="is not leased to 'ana'; nothing to skip"):
        skip(ws, ana, ids[0], now=T0)
    # The freed slot goes to cid at once; ana is offered the other item first.
    assert next_item(ws, cid, now=T0).item_id == ids[0]  # type: ignore[union-attr]
    assert next_item(ws, ana, now=T0).item_id == ids[1]  # type: ignore[union-attr]
    submit(ws, ana, ids[1], "net", now=T0)
    # Nothing else left: the skipped item comes back, but its slots are held by ben and cid.
    assert next_item(ws, ana, now=T0) is None
    skip(ws, cid, ids[0], now=T0)
    assert next_item(ws, ana, now=T0).item_id == ids[0]  # type: ignore[union-attr]


def test_revise_until_a_reviewer_decides(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(workspace, sample_rows, 1, tmp=tmp_path)
    ana, ben = make_user(workspace, "ana"), make_user(workspace, "ben")
    rita = make_user(workspace, "rita", Role.reviewer)
    next_item(workspace, ana, now=T0)
    next_item(workspace, ben, now=T0)
    submit(workspace, ana, ids[0], "devel", now=T0)
    assert submit(workspace, ana, ids[0], "devel", now=T0).unchanged
    revised = submit(workspace, ana, ids[0], "utils", flags=["ambiguous"], comment="hm", now=T0)
    assert revised == Saved(ids[0], revised=True)
    assert _status(workspace, ids[0]) == "in_review"
    submit(workspace, ben, ids[0], "devel", now=T0)
    assert _status(workspace, ids[0]) == "conflict"
    # Conflict is not a decision: ana may still change her mind, but a revision of an item
    # with all its answers goes to a reviewer — it never approves the item, even unflagged.
    submit(workspace, ana, ids[0], "devel", flags=["ambiguous"], now=T0)
    assert _status(workspace, ids[0]) == "consensus"
    assert submit(workspace, ana, ids[0], "devel", now=T0) == Saved(ids[0], revised=True)
    assert _status(workspace, ids[0]) == "consensus"
    task = open_answered(workspace, ana, ids[0])
    assert task.previous is not None and task.previous.answer == "devel" and task.previous.revised
    decide(workspace, rita, ids[0], "approved")
    closed = (
        f"item {ids[0]} is closed: a reviewer decided it or it was released, so answers can "
        "no longer be revised — ask a reviewer to send it back"
    )
    with pytest.raises(ReviewError) as err:
        submit(workspace, ana, ids[0], "utils", now=T0)
    assert str(err.value) == closed
    with pytest.raises(ReviewError) as err:
        open_answered(workspace, ana, ids[0])
    assert str(err.value) == closed
    mine = my_answers(workspace, ana)
    assert [(m.item_id, m.answer, m.revisable, m.status) for m in mine] == [
        (ids[0], "devel", False, "closed")
    ]
    with workspace.db.session() as s:
        rows = s.exec(select(Annotation).where(Annotation.annotator_id == ana.user_id)).all()
    assert [r.is_current for r in rows] == [False, False, False, True]


def test_blind_and_role_checks(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = sqlite_workspace
    ids = make_items(ws, sample_rows, 1, tmp=tmp_path)
    ana = make_user(ws, "ana")
    with pytest.raises(PermissionDenied) as err:
        get_case(ws, ana, ids[0])
    assert str(err.value) == (
        "seeing other people's answers needs the reviewer role but 'ana' is annotator; "
        "ask a lead to change the role"
    )
    with pytest.raises(ReviewError, match="acting from the shell; answers need a user account"):
        next_item(ws, operator())
    from builder.review.users import disable_user

    disable_user(ws, "ana")
    with pytest.raises(PermissionDenied, match="user 'ana' is disabled"):
        next_item(ws, ana)


def test_unknown_label_is_refused_and_nothing_saved(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = sqlite_workspace
    ids = make_items(ws, sample_rows, 1, tmp=tmp_path)
    ana = make_user(ws, "ana")
    next_item(ws, ana)
    with pytest.raises(ReviewError, match=r"label 'gardening' is not one of the benchmark's"):
        submit(ws, ana, ids[0], "gardening")
    with pytest.raises(ReviewError, match=r"unknown flag\(s\) \['spam'\]"):
        submit(ws, ana, ids[0], "devel", flags=["spam"])
    assert _answers(ws) == {}


def test_gold_items_are_mixed_in_once_and_keep_their_status(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = sqlite_workspace
    ids = make_items(ws, sample_rows, 2 * GOLD_EVERY + 2, tmp=tmp_path)
    lea = make_user(ws, "lea", Role.lead)
    gold = ids[-1]
    mark_gold(ws, lea, gold, sample_rows[len(ids) - 1]["section"])
    ana = make_user(ws, "ana")
    served = []
    while (task := next_item(ws, ana)) is not None:
        served.append(task.item_id)
        submit(ws, ana, task.item_id, "devel")
    assert sorted(served) == sorted(ids) and served.count(gold) == 1
    # Unannounced: served among the first block of ten, not at the end where it sits by id.
    assert served.index(gold) < GOLD_EVERY
    assert _status(ws, gold) == "approved"


def _label_all(ws: Workspace, who: Any, answer: str, errors: list[BaseException]) -> None:
    try:
        while (task := next_item(ws, who)) is not None:
            submit(ws, who, task.item_id, answer)
    except BaseException as e:  # pragma: no cover - reported by the test
        errors.append(e)


def test_concurrent_annotators_never_overfill(
    settings: Settings,
    workspace: Workspace,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ids = make_items(workspace, sample_rows, 24, tmp=tmp_path)
    people = [make_user(workspace, f"a{i}") for i in range(6)]
    errors: list[BaseException] = []
    # Each thread gets its own Workspace (engine), as separate app processes would.
    spaces = [open_workspace(settings) for _ in people]
    threads = [
        threading.Thread(target=_label_all, args=(ws, p, "devel" if i % 2 else "utils", errors))
        for i, (ws, p) in enumerate(zip(spaces, people, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for ws in spaces:
        ws.db.dispose()
    assert errors == []
    answers = _answers(workspace)
    assert sorted(answers) == ids
    assert all(len(a) == 2 and len(set(a)) == 2 for a in answers.values())
    with workspace.db.session() as s:
        statuses = Counter(i.status for i in s.exec(select(Item)).all())
    assert set(statuses) <= {"approved", "conflict"} and sum(statuses.values()) == 24


def _process_worker(home: str, name: str) -> int:
    from builder.review.queue import next_item, submit
    from tests.support.review import actor

    ws = open_workspace(Settings.from_env({}, home=home))
    who = actor(ws, name)
    n = 0
    while (task := next_item(ws, who)) is not None:
        submit(ws, who, task.item_id, "devel")
        n += 1
    ws.db.dispose()
    return n


def test_concurrent_processes_on_sqlite(
    monkeypatch: pytest.MonkeyPatch,
    sqlite_settings: Settings,
    sqlite_workspace: Workspace,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ids = make_items(sqlite_workspace, sample_rows, 12, tmp=tmp_path)
    names = ["p1", "p2", "p3"]
    for n in names:
        make_user(sqlite_workspace, n)
    # A pool executor (not multiprocessing.Pool) so a dying worker fails the test instead of
    # hanging it: Pool silently respawns dead workers and waits forever for their results.
    # Streamlit's AppTest (earlier in the session) leaves a page script as __main__, and a
    # spawned worker would re-run it; workers need a clean __main__.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(3, mp_context=ctx) as pool:
        futures = [pool.submit(_process_worker, str(sqlite_settings.home), n) for n in names]
        done = [f.result(timeout=240) for f in futures]
    assert sum(done) == 24
    answers = _answers(sqlite_workspace)
    assert sorted(answers) == ids and all(len(set(a)) == 2 for a in answers.values())


# ---------------------------------------------------------------- blind review that cannot be gamed


def _seen_by(ws: Workspace, who: Any) -> list[tuple[Any, ...]]:
    """Everything My answers tells ``who``, oldest first, less the item's identity."""
    return [
        (m.answer, m.flags, m.comment, m.revisable, m.revised, m.status)
        for m in reversed(my_answers(ws, who))
    ]


def _receipt(saved: Saved) -> tuple[bool, bool]:
    """A submit's result less the item's identity."""
    return saved.revised, saved.unchanged


def test_what_the_second_annotator_learns_does_not_depend_on_the_first(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """ben answers after ana: agreeing (item 0) and disagreeing (item 1) look the same to him,
    before and after he revises — and his revisions never approve an item."""
    ids = make_items(workspace, sample_rows, 2, tmp=tmp_path)
    ana, ben = make_user(workspace, "ana"), make_user(workspace, "ben")
    submit(workspace, ana, ids[0], "devel", now=T0)
    submit(workspace, ana, ids[1], "utils", now=T0)
    before = progress(workspace, ben).given
    agree = submit(workspace, ben, ids[0], "devel", now=T0)
    disagree = submit(workspace, ben, ids[1], "devel", now=T0)
    assert (agree.item_id, disagree.item_id) == (ids[0], ids[1])
    assert _receipt(agree) == _receipt(disagree) == (False, False)
    assert not hasattr(agree, "status")
    # His own answers only, the same status for both; progress moved by his two answers.
    assert _seen_by(workspace, ben) == [("devel", [], "", True, False, "answered")] * 2
    assert progress(workspace, ben).given == before + 2
    assert (_status(workspace, ids[0]), _status(workspace, ids[1])) == ("approved", "conflict")
    # ana's view is the same whether ben agreed (item 0, approved) or not (item 1).
    assert _seen_by(workspace, ana) == [
        ("devel", [], "", True, False, "answered"),
        ("utils", [], "", True, False, "answered"),
    ]
    # Trial and error: ben revises the conflict to ana's label, and the approved item away
    # from it. Same receipts; the matching revision goes to a reviewer, not to "approved".
    matched = submit(workspace, ben, ids[1], "utils", now=T0)
    unmatched = submit(workspace, ben, ids[0], "utils", now=T0)
    assert _receipt(matched) == _receipt(unmatched) == (True, False)
    assert (_status(workspace, ids[1]), _status(workspace, ids[0])) == ("consensus", "conflict")
    assert _seen_by(workspace, ben) == [("utils", [], "", True, True, "revised")] * 2
    with workspace.db.session() as s:
        policy = [
            e.action
            for i in ids
            for e in history(s, entity="item", entity_id=i)
            if e.action == "item.auto_approve"
        ]
    assert policy == ["item.auto_approve"]  # the first complete set only


def test_a_late_answer_is_refused_in_the_same_words_whatever_the_others_said(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(workspace, sample_rows, 2, tmp=tmp_path)
    ana, ben, cid = (make_user(workspace, n) for n in ("ana", "ben", "cid"))
    for item_id, answers in ((ids[0], ("devel", "devel")), (ids[1], ("devel", "utils"))):
        for who, label in zip((ben, cid), answers, strict=True):
            submit(workspace, who, item_id, label, now=T0)
    assert (_status(workspace, ids[0]), _status(workspace, ids[1])) == ("approved", "conflict")
    refusals = []
    for item_id in ids:
        with pytest.raises(ReviewError) as err:
            submit(workspace, ana, item_id, "devel", now=T0)
        refusals.append(str(err.value).replace(str(item_id), "N"))
    assert (
        refusals
        == ["item N takes no more answers; your answer was not saved, take the next item"] * 2
    )


def _force_status(ws: Workspace, item_id: int, status: str) -> None:
    with ws.db.session() as s:
        item = s.get(Item, item_id)
        assert item is not None
        item.status = status  # type: ignore[assignment]
        s.add(item)


def test_gold_items_look_like_any_other_item_to_the_annotator(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(workspace, sample_rows, 2, tmp=tmp_path)
    gold, plain = ids
    lea = make_user(workspace, "lea", Role.lead)
    mark_gold(workspace, lea, gold, "devel")
    ana = make_user(workspace, "ana")
    given = progress(workspace, ana).given
    first = [submit(workspace, ana, i, "devel", now=T0) for i in (gold, plain)]
    assert [_receipt(r) for r in first] == [(False, False)] * 2
    assert progress(workspace, ana).given == given + 2
    assert _seen_by(workspace, ana) == [("devel", [], "", True, False, "answered")] * 2
    revised = [submit(workspace, ana, i, "utils", now=T0) for i in (gold, plain)]
    assert [_receipt(r) for r in revised] == [(True, False)] * 2
    assert _seen_by(workspace, ana) == [("utils", [], "", True, True, "revised")] * 2
    assert [open_answered(workspace, ana, i).previous.answer for i in (gold, plain)] == [  # type: ignore[union-attr]
        "utils",
        "utils",
    ]
    # Released: closed to revisions, in the same words, gold or not.
    for i in (gold, plain):
        _force_status(workspace, i, "released")
    assert _seen_by(workspace, ana) == [("utils", [], "", False, True, "closed")] * 2
    refusals = []
    for i in (gold, plain):
        with pytest.raises(ReviewError) as err:
            submit(workspace, ana, i, "net", now=T0)
        refusals.append(str(err.value).replace(str(i), "N"))
    assert refusals[0] == refusals[1] and "is closed" in refusals[0]


def test_marking_gold_does_not_reopen_or_close_an_answer(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Revisability follows reviewer decisions only: a gold marking (or unmarking) of an item
    someone answered changes nothing they can see."""
    ws = sqlite_workspace
    ids = make_items(ws, sample_rows, 2, tmp=tmp_path)
    ana, ben = make_user(ws, "ana"), make_user(ws, "ben")
    rita, lea = make_user(ws, "rita", Role.reviewer), make_user(ws, "lea", Role.lead)
    for item_id in ids:
        submit(ws, ana, item_id, "devel")
        submit(ws, ben, item_id, "utils")
    decide(ws, rita, ids[0], "approved", answer="devel")  # decided: closed for ana and ben
    assert [m.revisable for m in reversed(my_answers(ws, ana))] == [False, True]
    for item_id in ids:
        mark_gold(ws, lea, item_id, "net")
        assert [m.revisable for m in reversed(my_answers(ws, ana))] == [False, True]
    for item_id in ids:
        unmark_gold(ws, lea, item_id)
        assert [m.revisable for m in reversed(my_answers(ws, ana))] == [False, True]


@pytest.mark.parametrize(("every", "gold_at"), [(1, 0), (3, "first block"), (0, None)])
def test_gold_rate_comes_from_the_spec(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    every: int,
    gold_at: int | str | None,
) -> None:
    """``review.gold_every``: 1 serves the gold item first, 3 within the first three answers,
    0 never (the item stays approved with its known answer and is never handed out)."""
    ws = workspace_with(sqlite_settings, tmp_path, review={"gold_every": every})
    ids = make_items(ws, sample_rows, 9, tmp=tmp_path)
    gold = ids[-1]
    mark_gold(ws, make_user(ws, "lea", Role.lead), gold, "devel")
    ana = make_user(ws, "ana")
    served = []
    while (task := next_item(ws, ana)) is not None:
        served.append(task.item_id)
        submit(ws, ana, task.item_id, "devel")
    ws.db.dispose()
    assert sorted(i for i in served if i != gold) == ids[:-1]
    if gold_at is None:
        assert gold not in served
    elif gold_at == "first block":
        assert served.index(gold) < every
    else:
        assert served.index(gold) == gold_at


def test_gold_every_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as e:
        load_spec(spec_variant(tmp_path, review={"gold_every": -1}))
    assert "review.gold_every: Input should be greater than or equal to 0 (got -1)" in str(e.value)
