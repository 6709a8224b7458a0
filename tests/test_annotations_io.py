"""Annotations JSONL import (all or nothing, line numbers) and export (round trip)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.domain import Role
from builder.errors import ReviewError
from builder.review.annotations_io import (
    export_annotations,
    export_lines,
    import_annotations,
    lines_schema,
)
from builder.review.consensus import decide
from builder.review.users import list_users
from builder.store.models import Annotation, Item
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import SAMPLE_SPEC
from tests.support.review import make_items, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def _ids(rows: list[dict[str, Any]], n: int) -> list[str]:
    return [str(r["package"]) for r in rows[:n]]


def _state(ws: Workspace) -> tuple[list[tuple[str, Any]], int]:
    with ws.db.session() as s:
        statuses = [(i.status, i.answer) for i in s.exec(select(Item).order_by(Item.id)).all()]  # type: ignore[arg-type]
        answers = len(s.exec(select(Annotation)).all())
    return statuses, answers


def test_import_follows_the_app_rules(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    make_items(workspace, sample_rows, 3, tmp=tmp_path)
    a, b, c = _ids(sample_rows, 3)
    src = _write(
        tmp_path / "pilot.jsonl",
        [
            {"source_id": a, "annotator": "ext-1", "label": "devel"},
            {"source_id": a, "annotator": "ext-2", "label": "devel"},
            {"source_id": b, "annotator": "ext-1", "label": "mail", "flags": ["ambiguous"]},
            {"source_id": b, "annotator": "ext-2", "label": "mail", "comment": "sure"},
            {"source_id": c, "annotator": "ext-1", "label": "net"},
            "",
        ],
    )
    report = import_annotations(workspace, src)
    assert (report.imported, report.revised, report.unchanged) == (5, 0, 0)
    assert report.users_created == ["ext-1", "ext-2"]
    assert _state(workspace) == (
        [("approved", "devel"), ("consensus", None), ("in_review", None)],
        5,
    )
    users = {u.name: u for u in list_users(workspace)}
    assert users["ext-1"].role == "annotator" and not users["ext-1"].can_login
    # Importing the same file again changes nothing.
    again = import_annotations(workspace, src)
    assert (again.imported, again.unchanged, again.users_created) == (0, 5, [])
    assert _state(workspace)[1] == 5


def test_import_is_all_or_nothing_with_line_numbers(
    workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    make_items(workspace, sample_rows, 2, tmp=tmp_path)
    a, b = _ids(sample_rows, 2)
    src = _write(
        tmp_path / "bad.jsonl",
        [
            {"source_id": a, "annotator": "ext-1", "label": "devel"},
            "{not json",
            {"source_id": a, "annotator": "ext-2", "label": "gardening"},
            {"source_id": a, "annotator": "ext-3", "labels": ["devel"]},
            {"source_id": "no-such-package", "annotator": "ext-1", "label": "devel"},
            {"source_id": a, "annotator": "ext-1", "label": "utils"},
            {"source_id": b, "annotator": "ext-1", "label": "devel", "lable": "x"},
            {"source_id": b, "annotator": "bad name", "label": "devel"},
        ],
    )
    with pytest.raises(ReviewError) as err:
        import_annotations(workspace, src)
    assert str(err.value) == (
        f"{src}: nothing imported, 7 problem(s):\n"
        "  line 2: not valid JSON (Expecting property name enclosed in double quotes at column 2)\n"
        "  line 3: label 'gardening' is not one of the benchmark's labels (admin, cli-mono, "
        "comm, database, debug, devel, doc, editors, education, electronics, embedded, fonts, "
        "… (58 in all)); pick one of task.labels\n"
        '  line 4: a classification task takes "label" (got "labels"); use "label" for '
        'classification, "labels" for multilabel, "answer" for reference_answer\n'
        "  line 5: source id 'no-such-package' is not an item of benchmark 'debian-sections'; "
        "see `benchsmith items list`\n"
        "  line 6: 'ext-1' already answered "
        f"{a!r} on line 1; keep one answer per annotator and item\n"
        "  line 7: lable: Extra inputs are not permitted\n"
        "  line 8: user name 'bad name' is not allowed; use 1-128 letters, digits, '.', '_', "
        "'@' or '-', starting with a letter or digit"
    )
    assert _state(workspace) == ([("candidate", None), ("candidate", None)], 0)
    assert list_users(workspace) == []


def test_import_refuses_more_answers_than_asked_for(
    sqlite_workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    make_items(sqlite_workspace, sample_rows, 1, tmp=tmp_path)
    (a,) = _ids(sample_rows, 1)
    src = _write(
        tmp_path / "three.jsonl",
        [{"source_id": a, "annotator": f"ext-{i}", "label": "devel"} for i in (1, 2, 3)],
    )
    with pytest.raises(
        ReviewError, match="line 3: item 1 takes no more answers; your answer was not saved"
    ):
        import_annotations(sqlite_workspace, src)
    assert _state(sqlite_workspace)[1] == 0


def test_export_round_trips_into_a_fresh_workspace(
    sqlite_workspace: Workspace,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ws = sqlite_workspace
    make_items(ws, sample_rows, 2, tmp=tmp_path)
    a, b = _ids(sample_rows, 2)
    import_annotations(
        ws,
        _write(
            tmp_path / "in.jsonl",
            [
                {"source_id": a, "annotator": "x1", "label": "devel"},
                {"source_id": a, "annotator": "x2", "label": "devel"},
                {"source_id": b, "annotator": "x1", "label": "mail"},
                {"source_id": b, "annotator": "x2", "label": "news"},
            ],
        ),
    )
    rita = make_user(ws, "rita", Role.reviewer)
    decide(ws, rita, 2, "approved", answer="mail", reason="mutt")
    out = tmp_path / "audit.jsonl"
    assert export_annotations(ws, out) == 6
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["type"] for x in lines] == ["annotation"] * 4 + ["decision"] * 2
    assert [(x["source_id"], x["annotator"], x["label"], x["current"]) for x in lines[:4]] == [
        (a, "x1", "devel", True),
        (a, "x2", "devel", True),
        (b, "x1", "mail", True),
        (b, "x2", "news", True),
    ]
    assert [
        (d["source_id"], d["reviewer"], d["verdict"], d["answer"], d["reason"]) for d in lines[4:]
    ] == [
        (a, "policy:auto_approve_unanimous", "approved", "devel", "unanimous"),
        (b, "rita", "approved", "mail", "mutt"),
    ]
    with pytest.raises(ReviewError, match="already exists; choose another --out or pass --force"):
        export_annotations(ws, out)
    assert list(export_lines(ws)) == out.read_text(encoding="utf-8").splitlines()

    fresh = Settings.from_env({}, home=tmp_path / "fresh")
    init_workspace(fresh, SAMPLE_SPEC)
    other = open_workspace(fresh)
    (tmp_path / "other").mkdir()
    make_items(other, sample_rows, 2, tmp=tmp_path / "other")
    report = import_annotations(other, out)
    assert (report.imported, report.skipped) == (4, 2)
    assert _state(other) == ([("approved", "devel"), ("conflict", None)], 4)
    other.db.dispose()


def test_schema_covers_both_line_types() -> None:
    schema = lines_schema()
    titles = {d["title"] for d in schema["$defs"].values()}
    assert {"AnnotationLine", "DecisionLine"} <= titles
    props = schema["$defs"]["AnnotationLine"]["properties"]
    assert {"source_id", "annotator", "label", "labels", "answer", "flags", "comment"} <= set(props)
