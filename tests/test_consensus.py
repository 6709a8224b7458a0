"""Answers, the consensus policy, adjudication decisions, gold items and revisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from builder.config import Settings
from builder.domain import Role
from builder.errors import PermissionDenied, ReviewError
from builder.evaluate.reference import exact_match
from builder.review.auth import operator
from builder.review.consensus import (
    answer_key,
    decide,
    resolve,
    suggest,
    validate_answer,
)
from builder.review.gold import mark_gold, unmark_gold
from builder.review.items import adjudication_queue, item_history
from builder.review.queue import next_item, submit
from builder.spec import ReviewSpec, TaskSpec
from builder.store.audit import history
from builder.store.models import Decision, Item, Release, ReleaseItem
from builder.workspace import Workspace
from tests.support.common import workspace_with
from tests.support.review import make_items, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")

CLS = TaskSpec(type="classification", input_fields=["description"], labels=["a", "b", "c"])
MULTI = TaskSpec(type="multilabel", input_fields=["description"], labels=["a", "b", "c"])
REF = TaskSpec(type="reference_answer", input_fields=["description"])


def test_validate_answer_by_task_type() -> None:
    assert validate_answer(CLS, "b") == "b"
    with pytest.raises(ReviewError) as err:
        validate_answer(CLS, "z")
    assert str(err.value) == (
        "label 'z' is not one of the benchmark's labels (a, b, c); pick one of task.labels"
    )
    with pytest.raises(ReviewError, match="label 1 is not one"):
        validate_answer(CLS, 1)
    # Multilabel: de-duplicated, in the spec's label order.
    assert validate_answer(MULTI, ["c", "a", "c"]) == ["a", "c"]
    assert validate_answer(MULTI, "b") == ["b"]
    with pytest.raises(ReviewError, match="no label given; answer the item, or skip it"):
        validate_answer(MULTI, [])
    with pytest.raises(ReviewError, match="no label given; answer the item, or skip it"):
        validate_answer(CLS, None)
    with pytest.raises(ReviewError, match=r"label\(s\) \['d'\] are not among"):
        validate_answer(MULTI, ["a", "d"])
    assert validate_answer(REF, "  Paris \n") == "Paris"
    with pytest.raises(ReviewError, match="the reference answer is empty"):
        validate_answer(REF, "   ")
    with pytest.raises(ReviewError, match="no text given; answer the item, or skip it"):
        validate_answer(REF, None)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("1914–1918", "1914-1918"),  # en dash vs hyphen-minus
        ("“Paris”", '"Paris"'),  # curly vs straight quotes
        ("New\u00a0York", "New York"),  # no-break space
        ("１９１４", "1914"),  # full-width digits
        ("Straße", "STRASSE"),  # case
        ("The Eiffel Tower.", "eiffel tower"),  # articles and punctuation
    ],
)
def test_reference_answers_agree_across_typography(first: str, second: str) -> None:
    """Annotators agree exactly when a model giving one answer scores EM 1.0 on the other."""
    auto = ReviewSpec(annotators_per_item=2, auto_approve_unanimous=True)
    assert answer_key(REF, first) == answer_key(REF, second)
    assert resolve(REF, auto, [(first, []), (second, [])]).status == "approved"
    assert exact_match(first, second) == 1.0
    assert answer_key(REF, "1914–1918") != answer_key(REF, "1915–1918")


@given(st.text(), st.text())
def test_annotator_agreement_is_exact_match(a: str, b: str) -> None:
    for x, y in ((a, b), (a, a.upper()), (a, f"“{a}”")):
        assert (answer_key(REF, x) == answer_key(REF, y)) == (exact_match(x, y) == 1.0)


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


def _status(ws: Workspace, item_id: int) -> str:
    with ws.db.session() as s:
        item = s.get(Item, item_id)
        assert item is not None
        return item.status


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
    submit(ws, ben, item_id, "devel")
    assert _status(ws, item_id) == "approved"  # a fresh round's first complete set
    hist = item_history(ws, rita, item_id)
    assert [(a.annotator, a.answer, a.current) for a in hist.answers] == [
        ("ana", "devel", False),
        ("ben", "utils", False),
        ("ana", "devel", True),
        ("ben", "devel", True),
    ]
    rejected = decide(ws, rita, item_id, "rejected", reason="duplicate of another package")
    assert rejected.status == "rejected"
    with pytest.raises(ReviewError, match="is closed: a reviewer decided it or it was released"):
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
        submit(ws, who, ids[0], "devel")
    assert _status(ws, ids[0]) == "consensus"
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
        submit(ws, who, ids[0], answer)
    assert _status(ws, ids[0]) == status
    with ws.db.session() as s:
        item = s.get(Item, ids[0])
        assert item is not None and item.answer == final
    ws.db.dispose()


def test_nobody_adjudicates_an_item_they_answered(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(workspace, sample_rows, 3, tmp=tmp_path)
    ana = make_user(workspace, "ana")
    rita, lea = make_user(workspace, "rita", Role.reviewer), make_user(workspace, "lea", Role.lead)
    # rita answered item 0, lea item 1, neither item 2; ana disagrees with each.
    for who, item_id in ((rita, ids[0]), (lea, ids[1]), (make_user(workspace, "ben"), ids[2])):
        submit(workspace, who, item_id, "devel")
        submit(workspace, ana, item_id, "utils")
    assert [c.item_id for c in adjudication_queue(workspace, rita)] == [ids[1], ids[2]]
    assert [c.item_id for c in adjudication_queue(workspace, lea)] == [ids[0], ids[2]]
    for who, item_id in ((rita, ids[0]), (lea, ids[1])):
        for verdict in ("approved", "rejected", "sent_back"):
            with pytest.raises(ReviewError) as err:
                decide(workspace, who, item_id, verdict, answer="devel", reason="mine")
            assert str(err.value) == (
                f"item {item_id} has an answer of yours; nobody decides an item they answered "
                "themselves — leave it to another reviewer"
            )
        assert _status(workspace, item_id) == "conflict"
    decide(workspace, lea, ids[0], "approved", answer="utils")
    decide(workspace, rita, ids[1], "sent_back", reason="read the guidelines")
    # A sent-back answer still counts: lea answered item 1 in the first round.
    submit(workspace, ana, ids[1], "net")
    submit(workspace, make_user(workspace, "cid"), ids[1], "mail")
    assert [c.item_id for c in adjudication_queue(workspace, rita)] == [ids[2], ids[1]]
    assert [c.item_id for c in adjudication_queue(workspace, lea)] == [ids[2]]
    with pytest.raises(ReviewError, match="has an answer of yours"):
        decide(workspace, lea, ids[1], "approved", answer="net")
    # The shell operator (a lead with no account) answered nothing and may decide.
    assert decide(workspace, operator(), ids[2], "rejected", reason="not a package").status == (
        "rejected"
    )
