"""Answers, the consensus policy, adjudication decisions, gold items and revisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.errors import PermissionDenied, ReviewError
from builder.review.consensus import (
    answer_key,
    decide,
    mark_gold,
    normalize_answer,
    resolve,
    suggest,
    unmark_gold,
)
from builder.review.items import adjudication_queue, item_history
from builder.review.queue import next_item, submit
from builder.spec import ReviewSpec, TaskSpec
from builder.store.audit import history
from builder.store.models import Decision, Item, Release, ReleaseItem, Role
from builder.workspace import Workspace
from tests.review_support import fast_argon2, make_items, make_user, workspace_with  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("fast_argon2")

CLS = TaskSpec(type="classification", input_fields=["description"], labels=["a", "b", "c"])
MULTI = TaskSpec(type="multilabel", input_fields=["description"], labels=["a", "b", "c"])
REF = TaskSpec(type="reference_answer", input_fields=["description"])


def test_normalize_answer_by_task_type() -> None:
    assert normalize_answer(CLS, "b") == "b"
    with pytest.raises(ReviewError) as err:
        normalize_answer(CLS, "z")
    assert str(err.value) == (
        "label 'z' is not one of the benchmark's labels (a, b, c); pick one of task.labels"
    )
    with pytest.raises(ReviewError, match="label 1 is not one"):
        normalize_answer(CLS, 1)
    # Multilabel: de-duplicated, in the spec's label order.
    assert normalize_answer(MULTI, ["c", "a", "c"]) == ["a", "c"]
    assert normalize_answer(MULTI, "b") == ["b"]
    with pytest.raises(ReviewError, match="no label given; answer the item, or skip it"):
        normalize_answer(MULTI, [])
    with pytest.raises(ReviewError, match="no label given; answer the item, or skip it"):
        normalize_answer(CLS, None)
    with pytest.raises(ReviewError, match=r"label\(s\) \['d'\] are not among"):
        normalize_answer(MULTI, ["a", "d"])
    assert normalize_answer(REF, "  Paris \n") == "Paris"
    with pytest.raises(ReviewError, match="the reference answer is empty"):
        normalize_answer(REF, "   ")
    with pytest.raises(ReviewError, match="no text given; answer the item, or skip it"):
        normalize_answer(REF, None)


def test_agreement_keys_and_policy() -> None:
    assert answer_key(REF, "The  Eiffel tower.") == answer_key(REF, "the eiffel tower")
    assert answer_key(MULTI, ["b", "a"]) == answer_key(MULTI, ["a", "b"])
    auto = ReviewSpec(annotators_per_item=2, auto_approve_unanimous=True)
    manual = ReviewSpec(annotators_per_item=2, auto_approve_unanimous=False)
    assert resolve(CLS, auto, [("a", []), ("a", [])]).status == "approved"
    assert resolve(CLS, auto, [("a", []), ("a", ["pii"])]).status == "consensus"
    assert resolve(CLS, manual, [("a", []), ("a", [])]).status == "consensus"
    out = resolve(CLS, auto, [("a", []), ("b", [])])
    assert out.status == "conflict" and out.answer is None
    assert suggest(CLS, ["a", "b", "a"]) == "a"
    assert suggest(CLS, ["a", "b"]) is None
    assert suggest(MULTI, [["a", "b"], ["a"], ["a", "c"]]) == ["a"]
    assert suggest(REF, ["Paris.", "paris", "Lyon"]) == "Paris."


def _conflict(ws: Workspace, rows: list[dict[str, Any]], tmp: Path) -> tuple[int, Any, Any]:
    ids = make_items(ws, rows, 2, tmp=tmp)
    ana, ben = make_user(ws, "ana"), make_user(ws, "ben")
    for who, label in ((ana, "devel"), (ben, "utils")):
        task = next_item(ws, who)
        assert task is not None
        submit(ws, who, task.item_id, label, comment=f"{who.name} thinks {label}")
    return ids[0], ana, ben


def test_reviewer_adjudicates_a_conflict(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    item_id, ana, _ = _conflict(workspace, sample_rows, tmp_path)
    rita = make_user(workspace, "rita", Role.reviewer)
    queue = adjudication_queue(workspace, rita)
    assert [c.item_id for c in queue] == [item_id]
    case = queue[0]
    assert case.status == "conflict" and case.suggestion is None
    assert [(a.annotator, a.answer, a.comment) for a in case.answers] == [
        ("ana", "devel", "ana thinks devel"),
        ("ben", "utils", "ben thinks utils"),
    ]
    with pytest.raises(PermissionDenied, match="deciding items needs the reviewer role"):
        decide(workspace, ana, item_id, "approved", answer="devel")
    with pytest.raises(ReviewError, match="has no agreed answer; pick or write the final"):
        decide(workspace, rita, item_id, "approved")
    result = decide(workspace, rita, item_id, "approved", answer="devel", reason="see docs")
    assert (result.status, result.answer, result.revision) == ("approved", "devel", 1)
    assert adjudication_queue(workspace, rita) == []
    hist = item_history(workspace, rita, item_id)
    assert [d.verdict for d in hist.decisions] == ["approved"]
    assert hist.decisions[0].reviewer == "rita"
    assert [e.action for e in hist.events][-1] == "item.decide"
    assert hist.events[-1].after["status"] == "approved"


def test_reject_needs_a_reason_and_send_back_reopens(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = sqlite_workspace
    item_id, ana, ben = _conflict(ws, sample_rows, tmp_path)
    rita = make_user(ws, "rita", Role.reviewer)
    with pytest.raises(ReviewError) as err:
        decide(ws, rita, item_id, "rejected")
    assert str(err.value) == f"rejecting item {item_id} needs a reason; say why"
    with pytest.raises(ReviewError, match="unknown verdict 'maybe'"):
        decide(ws, rita, item_id, "maybe")
    sent = decide(ws, rita, item_id, "sent_back", reason="read section 3 again")
    assert sent.status == "in_review"
    # The same annotators may answer again; their old answers stay in the history.
    assert next_item(ws, ana).item_id == item_id  # type: ignore[union-attr]
    submit(ws, ana, item_id, "devel")
    assert next_item(ws, ben).item_id == item_id  # type: ignore[union-attr]
    assert submit(ws, ben, item_id, "devel").status == "approved"
    hist = item_history(ws, rita, item_id)
    assert [(a.annotator, a.answer, a.current) for a in hist.answers] == [
        ("ana", "devel", False),
        ("ben", "utils", False),
        ("ana", "devel", True),
        ("ben", "devel", True),
    ]
    rejected = decide(ws, rita, item_id, "rejected", reason="duplicate of another package")
    assert rejected.status == "rejected"
    with pytest.raises(ReviewError, match="is already rejected; answers can be revised only"):
        submit(ws, ana, item_id, "utils")


def test_changed_answer_after_release_gets_a_new_revision(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    item_id, _, _ = _conflict(workspace, sample_rows, tmp_path)
    rita = make_user(workspace, "rita", Role.reviewer)
    decide(workspace, rita, item_id, "approved", answer="devel")
    bench, _ = workspace.benchmark()
    with workspace.db.session() as s:
        rel = Release(benchmark_id=bench.id, version="1.0.0", content_hash="x", registry_url="r")  # type: ignore[arg-type]
        s.add(rel)
        s.flush()
        s.add(
            ReleaseItem(
                release_id=rel.id,
                item_id=item_id,
                revision=1,
                split="test",  # type: ignore[arg-type]
                answer="devel",
            )
        )
    same = decide(workspace, rita, item_id, "approved", answer="devel")
    assert same.revision == 1
    changed = decide(workspace, rita, item_id, "approved", answer="utils")
    assert (changed.revision, changed.answer, changed.status) == (2, "utils", "approved")
    # Not released at revision 2: a further change keeps the revision.
    assert decide(workspace, rita, item_id, "approved", answer="libs").revision == 2
    with workspace.db.session() as s:
        verdicts = s.exec(select(Decision.verdict).where(Decision.item_id == item_id)).all()
    assert verdicts == ["approved"] * 4


def test_consensus_without_auto_approval_waits_for_a_reviewer(
    settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = workspace_with(settings, tmp_path, review={"auto_approve_unanimous": False})
    ids = make_items(ws, sample_rows, 1, tmp=tmp_path)
    for name in ("ana", "ben"):
        who = make_user(ws, name)
        next_item(ws, who)
        last = submit(ws, who, ids[0], "devel")
    assert last.status == "consensus"
    lea = make_user(ws, "lea", Role.lead)  # a lead includes the reviewer role
    case = adjudication_queue(ws, lea)[0]
    assert case.suggestion == "devel"
    assert decide(ws, lea, ids[0], "approved").answer == "devel"
    ws.db.dispose()


def test_gold_marking_is_for_leads_and_blocks_plain_decisions(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = sqlite_workspace
    ids = make_items(ws, sample_rows, 1, tmp=tmp_path)
    rita, lea = make_user(ws, "rita", Role.reviewer), make_user(ws, "lea", Role.lead)
    with pytest.raises(PermissionDenied, match="marking gold items needs the lead role"):
        mark_gold(ws, rita, ids[0], "devel")
    result = mark_gold(ws, lea, ids[0], "devel")
    assert (result.status, result.answer) == ("approved", "devel")
    with pytest.raises(ReviewError, match="is a gold item; change its answer with `items gold`"):
        decide(ws, rita, ids[0], "rejected", reason="x")
    unmark_gold(ws, lea, ids[0])
    with ws.db.session() as s:
        item = s.get(Item, ids[0])
        assert item is not None and not item.is_gold and item.answer == "devel"
        assert [e.action for e in history(s, entity="item", entity_id=ids[0])] == [
            "item.gold",
            "item.decide",
            "item.ungold",
        ]


@pytest.mark.parametrize(
    ("task", "first", "second", "status", "final"),
    [
        ({"type": "multilabel"}, ["net", "utils"], ["utils", "net"], "approved", ["net", "utils"]),
        ({"type": "multilabel"}, ["net"], ["net", "web"], "conflict", None),
        ({"type": "reference_answer", "labels": []}, "A tool.", "a tool", "approved", "A tool."),
    ],
)
def test_other_task_types_end_to_end(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    task: dict[str, Any],
    first: Any,
    second: Any,
    status: str,
    final: Any,
) -> None:
    ws = workspace_with(sqlite_settings, tmp_path, task=task)
    ids = make_items(ws, sample_rows, 1, tmp=tmp_path)
    for name, answer in (("ana", first), ("ben", second)):
        who = make_user(ws, name)
        next_item(ws, who)
        result = submit(ws, who, ids[0], answer)
    assert result.status == status
    with ws.db.session() as s:
        item = s.get(Item, ids[0])
        assert item is not None and item.answer == final
    ws.db.dispose()
