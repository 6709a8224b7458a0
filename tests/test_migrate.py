"""Migration from Label Studio (its JSON export) and Argilla (a ``datasets`` folder): tasks
ingested, answers imported by the app's rules, decided and released with the right labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.release.pull import load_release
from builder.review.consensus import decide
from builder.review.users import add_user, set_email
from builder.store.models import Annotation, AuditEvent, Item, Record, User
from builder.store.pool import with_text
from builder.store.runs import create_run, set_run_report
from builder.workspace import Workspace, open_workspace
from tests.support.common import SAMPLE_SPEC, Cli, spec_variant
from tests.support.label_studio import TEXT_KEYS, choices_result, ls_export
from tests.support.review import actor

pytestmark = pytest.mark.usefixtures("fast_argon2")

NAME = "debian-sections"


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def env(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A workspace made by ``init`` as the lead ``lea``, with the registry in tmp_path."""
    env = {**cli_env, "BENCHSMITH_USER": "lea", "BENCHSMITH_REGISTRY": str(tmp_path / "registry"),
           "BENCHSMITH_CACHE": str(tmp_path / "cache")}  # fmt: skip
    r = cli("init", "--spec", SAMPLE_SPEC, env=env)
    assert r.exit_code == 0, r.output
    return env


def _ws(env: dict[str, str]) -> Workspace:
    return open_workspace(Settings.from_env(env))


def _items(ws: Workspace) -> dict[str, tuple[str, str, Any]]:
    with ws.db.session() as s:
        rows = s.exec(select(Record.source_id, Item).join(Item, Item.record_id == Record.id)).all()  # type: ignore[arg-type]
        return {sid: (i.status.value, i.reason, i.answer) for sid, i in rows}


def test_label_studio_export_ingested_imported_decided_and_released(
    cli: Cli, env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    rows = sample_rows[:6]
    pkg = [str(r["package"]) for r in rows]
    export = _write(tmp_path / "project-7-at-2025-03-10.json", ls_export(rows))
    ws = _ws(env)
    add_user(ws, "ben", "annotator", "ben-password")
    set_email(ws, "ben", "ben@example.org")
    add_user(ws, "rita", "reviewer", "rita-password")

    r = cli("ingest", export, "--format", "label-studio", "--json", env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ingested"] == 6
    with ws.db.session() as s:
        got = {
            rec.source_id: with_text(rec.data, rec.text, "description")
            for rec in s.exec(select(Record))
        }
    assert got == {str(r["package"]): {k: r[k] for k in TEXT_KEYS} for r in rows}

    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"{export}: 8 imported, 0 revised, 0 unchanged, 2 skipped",
        "pool records made items (reason imported): 4",
        "created users without login: ls-user-1",
    ]
    items = _items(ws)
    assert items == {
        pkg[0]: ("approved", "imported", rows[0]["section"]),
        pkg[1]: ("conflict", "imported", None),
        pkg[2]: ("approved", "imported", rows[2]["section"]),
        pkg[3]: ("approved", "imported", rows[3]["section"]),
    }
    with ws.db.session() as s:
        note = s.exec(select(Annotation).where(Annotation.comment != "")).one()
        assert (note.answer, note.comment) == ("misc", "maybe misc?")
        ben = s.exec(select(User).where(User.name == "ben")).one()
        assert len(s.exec(select(Annotation).where(Annotation.annotator_id == ben.id)).all()) == 4
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "annotations.import")).one()
        assert event.actor == "lea" and event.after["format"] == "label-studio"

    # The reviewer settles the disagreement; the lead releases.
    with ws.db.session() as s:
        conflict = s.exec(
            select(Item.id)
            .join(Record, Item.record_id == Record.id)
            .where(Record.source_id == pkg[1])  # type: ignore[arg-type]
        ).one()
    decide(ws, actor(ws, "rita"), conflict, "approved", answer=rows[1]["section"])
    r = cli("release", "--json", env=env)
    assert r.exit_code == 0, r.output
    released = load_release(NAME, "1.0.0", None, registry=env["BENCHSMITH_REGISTRY"],
                            cache_dir=tmp_path / "cache", workspace=ws)  # fmt: skip
    labels = {
        str(row["id"]): row["label"]
        for part in released.values()
        for row in part.to_dict("records")
    }
    assert labels == {p: rows[i]["section"] for i, p in enumerate(pkg[:4])}

    # Importing the same export again changes nothing.
    r = cli("annotations", "import", export, "--format", "label-studio", "--json", env=env)
    assert r.exit_code == 0, r.output
    assert {k: json.loads(r.stdout)[k] for k in ("imported", "unchanged", "items_created")} == {
        "imported": 0, "unchanged": 8, "items_created": []
    }  # fmt: skip


def test_label_studio_task_id_is_the_source_id_without_an_id_field(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    spec = spec_variant(tmp_path, source={"id_field": None})
    env = {**cli_env, "BENCHSMITH_USER": "lea"}
    assert cli("init", "--spec", spec, env=env).exit_code == 0
    export = _write(tmp_path / "ls.json", ls_export(sample_rows[:6]))
    assert cli("ingest", export, "--format", "label-studio", env=env).exit_code == 0
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert r.exit_code == 0, r.output
    assert sorted(_items(_ws(env))) == ["101", "102", "103", "104"]


def test_label_studio_import_refuses_what_curation_set_aside_and_names_tasks(
    cli: Cli, env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    rows = sample_rows[:6]
    pkg = [str(r["package"]) for r in rows]
    tasks = ls_export(rows)
    tasks[3]["annotations"][1]["result"] = [choices_result("gardening")]
    tasks[2]["annotations"][0]["completed_by"] = None
    export = _write(tmp_path / "ls.json", tasks)
    ws = _ws(env)
    assert cli("ingest", export, "--format", "label-studio", env=env).exit_code == 0
    with ws.db.session() as s:
        run = create_run(s, benchmark_id=1, embedder="static", seed=13)
        set_run_report(s, run, {
            "removed": [{"source_id": pkg[1], "kind": "near", "duplicate_of": pkg[4], "cosine": 0.97}],
            "contaminated": [{"source_id": pkg[0], "source": "mmlu.jsonl", "shared": 9, "total": 12}],
        })  # fmt: skip
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[1:] == [
        f"  task 101, annotation 1: record {pkg[0]!r} is not imported: curation run {run} excluded "
        "it as contaminated: it shares 9 of 12 n-grams with 'mmlu.jsonl'",
        f"  task 101, annotation 2: record {pkg[0]!r} is not imported: curation run {run} excluded "
        "it as contaminated: it shares 9 of 12 n-grams with 'mmlu.jsonl'",
        f"  task 102, annotation 3: record {pkg[1]!r} is not imported: curation run {run} removed "
        f"it as a near duplicate of {pkg[4]!r}, cosine 0.97",
        f"  task 102, annotation 4: record {pkg[1]!r} is not imported: curation run {run} removed "
        f"it as a near duplicate of {pkg[4]!r}, cosine 0.97",
        "  task 103, annotation 5: completed_by None names no user; export again with Export → JSON",
        "  task 104, annotation 9: label 'gardening' is not one of the benchmark's labels (admin, "
        "cli-mono, comm, database, debug, devel, doc, editors, education, electronics, embedded, "
        "fonts, … (58 in all)); pick one of task.labels",
    ]
    assert r.stderr.splitlines()[0] == f"Error: {export}: nothing imported, 6 problem(s):"
    assert _items(ws) == {}
    with ws.db.session() as s:
        assert s.exec(select(Annotation)).all() == []
        assert [u.name for u in s.exec(select(User))] == ["lea"]


def test_label_studio_import_refuses_pii_under_drop_and_unknown_tasks(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    env = {**cli_env, "BENCHSMITH_USER": "lea"}
    spec = spec_variant(tmp_path, curation={"pii": "drop"})
    assert cli("init", "--spec", spec, env=env).exit_code == 0
    rows = [dict(r) for r in sample_rows[:2]]
    rows[0]["description"] += "\nMaintainer: jane.doe@example.com"
    tasks = ls_export(sample_rows[:6])[:2]
    tasks[0]["data"] = {k: rows[0][k] for k in TEXT_KEYS}
    export = _write(tmp_path / "ls.json", tasks)
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert (
        r.exit_code == 1
        and (
            f"  task 101, annotation 1: source id {rows[0]['package']!r} is not in the pool of benchmark "
            f"'debian-sections'; ingest the export first (`benchsmith ingest {export} --format label-studio`)"
        )
        in r.stderr.splitlines()
    )
    assert cli("ingest", export, "--format", "label-studio", env=env).exit_code == 0
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert r.exit_code == 1
    assert (
        f"  task 101, annotation 1: record {rows[0]['package']!r} is not imported: it holds PII "
        "(email) and the spec's curation.pii is drop; curation leaves such records out"
    ) in r.stderr.splitlines()


def test_label_studio_import_refuses_records_failing_the_quality_filter(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    """Curation's scan filters texts outside curation.min_chars–max_chars: so does import."""
    env = {**cli_env, "BENCHSMITH_USER": "lea"}
    spec = spec_variant(tmp_path, curation={"min_chars": 3000, "max_chars": 4000})
    assert cli("init", "--spec", spec, env=env).exit_code == 0
    export = _write(tmp_path / "ls.json", ls_export(sample_rows[:6])[:1])
    assert cli("ingest", export, "--format", "label-studio", env=env).exit_code == 0
    with _ws(env).db.session() as s:
        n = len(s.exec(select(Record)).one().text.strip())
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert r.exit_code == 1
    assert (
        f"  task 101, annotation 1: record {sample_rows[0]['package']!r} is not imported: its "
        f"text fails curation's quality filter (too short: {n} characters, the spec's curation "
        "allows 3000–4000); curation leaves such records out"
    ) in r.stderr.splitlines()
    assert _items(_ws(env)) == {}


def test_label_studio_import_refuses_when_the_runs_removed_file_is_gone(
    cli: Cli, env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    export = _write(tmp_path / "ls.json", ls_export(sample_rows[:6]))
    ws = _ws(env)
    assert cli("ingest", export, "--format", "label-studio", env=env).exit_code == 0
    gone = tmp_path / "run-1-removed.jsonl"
    with ws.db.session() as s:
        run = create_run(s, benchmark_id=1, embedder="static", seed=13)
        set_run_report(s, run, {"removed_file": str(gone)})
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: curation run {run} lists its removed duplicates in {str(gone)!r}, which is "
        "missing, so whether the answered records were removed cannot be checked; restore the "
        "file, or run `benchsmith curate` again, then import\n",
    )
    assert _items(ws) == {}
    # With the file back, its rows are read: the removed record is refused by name.
    gone.write_text(json.dumps({"source_id": str(sample_rows[0]["package"]), "kind": "exact",
                                "duplicate_of": "x"}) + "\n")  # fmt: skip
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert r.exit_code == 1
    assert (
        f"  task 101, annotation 1: record {str(sample_rows[0]['package'])!r} is not imported: "
        f"curation run {run} removed it as an exact duplicate of 'x'"
    ) in r.stderr.splitlines()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"choices": "devel"}, "value.choices 'devel', not a list of choice names"),
        ({"choices": 5}, "value.choices 5, not a list of choice names"),
        ({"taxonomy": [[1]]}, "value.taxonomy [[1]], not lists of node names"),
    ],
)
def test_label_studio_result_of_the_wrong_shape_is_named(
    cli: Cli, env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]],
    value: dict[str, Any], shown: str,
) -> None:  # fmt: skip
    tasks = ls_export(sample_rows[:6])
    tasks[0]["annotations"][0]["result"][0]["value"] = value
    tasks[0]["annotations"][0]["result"][0]["type"] = next(iter(value))
    export = _write(tmp_path / "ls.json", tasks)
    assert cli("ingest", export, "--format", "label-studio", env=env).exit_code == 0
    r = cli("annotations", "import", export, "--format", "label-studio", env=env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[1] == (
        f"  task 101, annotation 1: result 'section' has {shown} as Label Studio exports it; "
        "export the project again with Export → JSON"
    )
    assert _items(_ws(env)) == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": 1}', "a Label Studio JSON export is an array of tasks, got a JSON dict"),
        ("[]", "the export holds no tasks; nothing to read"),
        (
            "[{",
            "not valid JSON (Expecting property name enclosed in double quotes at line 1, column 3)",
        ),
    ],
)
def test_label_studio_files_that_are_not_exports(
    cli: Cli, env: dict[str, str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "x.json"
    path.write_text(content, encoding="utf-8")
    for cmd in (["ingest"], ["annotations", "import"]):
        r = cli(*cmd, path, "--format", "label-studio", env=env)
        assert r.exit_code == 1
        assert r.stderr.startswith(f"Error: {path}: {message}"), r.stderr


def _argilla_folder(path: Path, rows: list[dict[str, Any]]) -> Path:
    """An Argilla 2.x export as `records.to_datasets().save_to_disk()` writes it: one label
    question ``section`` answered by two users (one answer discarded), a text question."""
    import datasets

    u1, u2 = "0b1c3e5a-5f0e-4d8e-9a57-3b3f8f0a1c01", "7d2e9f10-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    cols: dict[str, list[Any]] = {
        "id": [f"rec-{i}" for i in range(len(rows))],
        "status": ["completed"] * len(rows),
        "_server_id": [f"5e1d{i:04d}-0000-4000-8000-000000000000" for i in range(len(rows))],
        **{k: [r[k] for r in rows] for k in ("package", "description", "priority")},
        "section.responses": [[r["section"], "misc"] for r in rows],
        "section.responses.users": [[u1, u2] for _ in rows],
        "section.responses.status": [["submitted", "discarded"] for _ in rows],
        "section.suggestion": ["utils" for _ in rows],
        "section.suggestion.score": [0.5 for _ in rows],
        "section.suggestion.agent": ["tfidf" for _ in rows],
        "why.responses": [["looks like a lib"] for _ in rows],
        "why.responses.users": [[u1] for _ in rows],
        "why.responses.status": [["submitted"] for _ in rows],
    }
    datasets.Dataset.from_dict(cols).save_to_disk(str(path))
    return path


def test_argilla_datasets_folder_ingested_and_imported(
    cli: Cli, env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    rows = sample_rows[:3]
    folder = _argilla_folder(tmp_path / "argilla-export", rows)
    r = cli("ingest", folder, "--format", "argilla", "--json", env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ingested"] == 3
    r = cli("annotations", "import", folder, "--format", "argilla", "--json", env=env)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["imported"], report["skipped"]) == (3, 3)
    assert report["users_created"] == ["argilla-0b1c3e5a-5f0e-4d8e-9a57-3b3f8f0a1c01"]
    ws = _ws(env)
    assert _items(ws) == {str(r["package"]): ("in_review", "imported", None) for r in rows}
    with ws.db.session() as s:
        answers = sorted(a.answer for a in s.exec(select(Annotation)))
    assert answers == sorted(str(r["section"]) for r in rows)


def test_label_studio_migration_on_sqlite_and_postgres(
    workspace: Workspace, tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    from builder.ingest import ingest_files
    from builder.review.annotations_io import import_annotations

    export = _write(tmp_path / "ls.json", ls_export(sample_rows[:6]))
    ingest_files(workspace, [export], fmt="label-studio")
    report = import_annotations(workspace, export, fmt="label-studio")
    assert (report.imported, report.skipped, len(report.items_created)) == (8, 2, 4)
    assert sorted(report.users_created) == ["ls-user-1", "ls-user-2"]
    with workspace.db.session() as s:
        created = s.exec(select(User).where(User.name == "ls-user-2")).one()
        assert created.email == "ben@example.org"  # single sign-on can match them later
    assert {v[1] for v in _items(workspace).values()} == {"imported"}


@pytest.mark.parametrize(
    ("task", "kind", "value", "data", "expected"),
    [
        ({"type": "multilabel", "labels": ["a", "b"]}, "options", ["a", "b"], None, {"labels": ["a", "b"]}),
        ({"type": "multiple_choice", "choices_field": "opts"}, "options", ["Paris"],
         {"opts": ["Rome", "Paris"]}, {"label": "B"}),
        ({"type": "multiple_choice", "choices_field": "opts"}, "options", ["c"],
         {"opts": ["Rome", "Paris", "Oslo"]}, {"label": "C"}),
        ({"type": "reference_answer"}, "text", "42", None, {"answer": "42"}),
        ({"type": "reference_answer", "context_field": "q"}, "spans", [(9, "b"), (0, "a")], None,
         {"answer": {"text": ["a", "b"], "answer_start": [0, 9]}}),
        ({"type": "classification", "labels": ["a", "b"]}, "options", ["a", "b"], None,
         "a classification task takes exactly one choice, got ['a', 'b']; pick one in the source "
         "tool or use a multilabel spec"),
        ({"type": "multiple_choice", "choices_field": "opts"}, "options", ["Berlin"],
         {"opts": ["Rome", "Paris"]},
         "choice 'Berlin' is neither a letter nor one of the item's choices ['Rome', 'Paris']"),
        ({"type": "classification", "labels": ["a", "b"]}, "text", "a", None,
         "a classification task takes options, not text"),
    ],
)  # fmt: skip
def test_answer_shapes_by_task_type(
    task: dict[str, Any], kind: Any, value: Any, data: Any, expected: Any
) -> None:
    from builder.migrate.mapping import MappingError, to_line_fields
    from builder.spec import TaskSpec

    fields = ["q", "opts"] if task.get("choices_field") or task.get("context_field") else ["q"]
    spec = TaskSpec.model_validate({"input_fields": fields, **task})
    if isinstance(expected, str):
        with pytest.raises(MappingError) as e:
            to_line_fields(spec, kind, value, data)
        assert str(e.value) == expected
    else:
        assert to_line_fields(spec, kind, value, data) == expected


def test_label_studio_ingest_names_the_bad_task_and_keeps_nothing(
    cli: Cli, env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    tasks = ls_export(sample_rows[:6])[:3]
    del tasks[1]["data"]
    export = _write(tmp_path / "ls.json", tasks)
    r = cli("ingest", export, "--format", "label-studio", env=env)
    assert (r.exit_code, r.stderr) == (
        1,
        f'Error: {export}: task 102: has no "data" object; export again with Export → JSON. '
        "Nothing from this file was ingested; fix the row or rerun with --skip-invalid to set "
        "invalid rows aside\n",
    )
    with _ws(env).db.session() as s:
        assert s.exec(select(Record)).all() == []
    r = cli("ingest", export, "--format", "label-studio", "--skip-invalid", "--json", env=env)
    assert (json.loads(r.stdout)["ingested"], json.loads(r.stdout)["rejected"]) == (2, 1)
