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
from builder.errors import PermissionDenied, ReviewError
from builder.review.auth import operator
from builder.review.consensus import mark_gold
from builder.review.items import get_case
from builder.review.queue import (
    GOLD_EVERY,
    my_answers,
    next_item,
    open_answered,
    progress,
    skip,
    submit,
)
from builder.store.audit import history
from builder.store.models import Annotation, Item, Role, utcnow
from builder.workspace import Workspace, open_workspace
from tests.review_support import fast_argon2, make_items, make_user  # noqa: F401  (fixture)

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
    assert first.status == "in_review" and not first.revised
    # ana moves on; her answer is not shown to ben (blind), who still holds the item.
    assert next_item(workspace, ana, now=T0).item_id == ids[1]  # type: ignore[union-attr]
    second = submit(workspace, ben, ids[0], "devel", now=T0)
    assert second.status == "approved"
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
    assert progress(ws, ana).mine == 4 and progress(ws, ana).answered == 0


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
        f"item {ids[0]} already has its 2 annotator(s) — your lease expired and the slot "
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


def test_revise_until_decided(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(workspace, sample_rows, 1, tmp=tmp_path)
    ana, ben = make_user(workspace, "ana"), make_user(workspace, "ben")
    next_item(workspace, ana, now=T0)
    next_item(workspace, ben, now=T0)
    submit(workspace, ana, ids[0], "devel", now=T0)
    assert submit(workspace, ana, ids[0], "devel", now=T0).unchanged
    revised = submit(workspace, ana, ids[0], "utils", flags=["ambiguous"], comment="hm", now=T0)
    assert revised.revised and revised.status == "in_review"
    assert submit(workspace, ben, ids[0], "devel", now=T0).status == "conflict"
    # Conflict is not a decision: ana may still change her mind, and agreement approves…
    # …unless a flag is set, which always sends the item to a reviewer.
    assert submit(workspace, ana, ids[0], "devel", flags=["ambiguous"], now=T0).status == (
        "consensus"
    )
    assert submit(workspace, ana, ids[0], "devel", now=T0).status == "approved"
    with pytest.raises(ReviewError, match="is already approved; answers can be revised only"):
        submit(workspace, ana, ids[0], "utils", now=T0)
    mine = my_answers(workspace, ana)
    assert [(m.item_id, m.answer, m.revisable) for m in mine] == [(ids[0], "devel", False)]
    task = open_answered(workspace, ana, ids[0])
    assert task.previous is not None and task.previous.answer == "devel" and task.previous.revised
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
    from tests.review_support import actor

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
