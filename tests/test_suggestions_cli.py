"""`benchsmith suggestions import|baseline`: output, exact errors, exit codes, the operator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from builder.domain import Role
from builder.ingest import ingest_files
from builder.store.models import Suggestion
from builder.workspace import Workspace
from tests.support.common import SAMPLE_DATA, Cli, write_jsonl
from tests.support.review import make_items, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")


def test_import_replace_and_refuse(
    cli: Cli,
    cli_ws: Workspace,
    ops_env: dict[str, str],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    make_items(cli_ws, sample_rows, 3, tmp=tmp_path)
    ids = [r["package"] for r in sample_rows[:3]]
    src = write_jsonl(
        tmp_path / "s.jsonl", [{"source_id": i, "model": "gpt-x", "label": "devel"} for i in ids]
    )
    r = cli("suggestions", "import", src, env=ops_env)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "gpt-x: 3 suggestions stored\n", "")
    again = write_jsonl(
        tmp_path / "t.jsonl", [{"source_id": ids[0], "model": "gpt-x", "label": "net"}]
    )
    r = cli("suggestions", "import", again, "--json", env=ops_env)
    assert json.loads(r.stdout) == {"lines": 1, "stored": {"gpt-x": 1}, "replaced": {"gpt-x": 3}}
    bad = write_jsonl(
        tmp_path / "b.jsonl", [{"source_id": ids[0], "model": "m", "label": "x", "score": 2}]
    )
    r = cli("suggestions", "import", bad, env=ops_env)
    assert r.exit_code == 1
    # The score is checked with the line's shape, before its label; nothing is stored.
    assert r.stderr == (
        f"Error: {bad}: nothing imported, 1 problem(s):\n"
        "  line 1: score 2 is outside [0, 1]; give the model's confidence as a probability, "
        "or leave score out\n"
    )
    with cli_ws.db.session() as db:
        assert db.exec(select(func.count()).select_from(Suggestion)).one() == 1


def test_only_a_lead_may_import(
    cli: Cli,
    cli_ws: Workspace,
    ops_env: dict[str, str],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    make_items(cli_ws, sample_rows, 1, tmp=tmp_path)
    make_user(cli_ws, "lea", Role.lead)
    make_user(cli_ws, "ana", Role.annotator)
    src = write_jsonl(
        tmp_path / "s.jsonl",
        [{"source_id": sample_rows[0]["package"], "model": "m", "label": "devel"}],
    )
    r = cli("suggestions", "import", src, env={**ops_env, "BENCHSMITH_USER": "ana"})
    assert r.exit_code != 0 and "ana" in r.stderr and "lead" in r.stderr
    r = cli("suggestions", "import", src, env={**ops_env, "BENCHSMITH_USER": "lea"})
    assert (r.exit_code, r.stdout) == (0, "m: 1 suggestions stored\n")


def test_baseline_without_labels_names_the_fix(
    cli: Cli,
    cli_ws: Workspace,
    ops_env: dict[str, str],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    make_items(cli_ws, sample_rows, 3, tmp=tmp_path)
    r = cli("suggestions", "baseline", env=ops_env)
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "Error: cannot train the baseline for 'debian-sections': no label source was given; "
        "the pool has no labels outside the benchmark. Fix: give --labels FILE --label-field"
    )


def test_baseline_with_the_sample_labels_file(
    cli: Cli,
    cli_ws: Workspace,
    ops_env: dict[str, str],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    make_items(cli_ws, sample_rows, 5, tmp=tmp_path)
    ingest_files(cli_ws, [write_jsonl(tmp_path / "more.jsonl", sample_rows[5:300])])
    r = cli(
        "suggestions", "baseline", "--labels", SAMPLE_DATA, "--label-field", "section",
        env=ops_env,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("tfidf-linear-svm: trained on ")
    assert "labelled pool records outside the benchmark" in r.stdout
    assert "; 5 suggestions stored in " in r.stdout
    assert r.stderr.startswith("labels with too few training records, never suggested: ")
