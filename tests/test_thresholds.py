"""Near-duplicate thresholds per embedder, and what the curation report says about each stage.

Real records of the bundled corpus, the real ``static`` and ``tfidf`` embedders, SQLite and a
real PostgreSQL server for the pipeline; the CLI through its runner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from builder.config import Settings
from builder.curate.embed import (
    DEFAULT_THRESHOLDS,
    Embedder,
    TfidfEmbedder,
    default_threshold,
    get_embedder,
    near_duplicate_threshold,
)
from builder.curate.image_embed import ImageEmbedder
from builder.curate.pipeline import curate
from builder.curate.report import FORMAT_VERSION, stage_counts, stage_line, threshold_lines
from builder.ingest import ingest_files
from builder.spec import BenchmarkSpec
from builder.status import benchmark_status
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import SAMPLE_SPEC, Cli
from tests.test_curate_pipeline import make_workspace, write_jsonl


def _spec(**curation: Any) -> BenchmarkSpec:
    raw = yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))
    raw["curation"].pop("near_duplicate_threshold", None)
    raw["curation"].update(curation)
    return BenchmarkSpec.model_validate(raw)


def test_spec_tells_unset_from_the_old_default() -> None:
    assert _spec().curation.near_duplicate_threshold is None
    assert _spec(near_duplicate_threshold=0.92).curation.near_duplicate_threshold == 0.92
    assert _spec(near_duplicate_threshold=None).curation.near_duplicate_threshold is None
    with pytest.raises(Exception, match="near_duplicate_threshold"):
        _spec(near_duplicate_threshold=1.5)


def test_each_embedder_carries_its_calibrated_default(static: Embedder, tmp_path: Path) -> None:
    tfidf = get_embedder("tfidf")
    assert isinstance(tfidf, TfidfEmbedder)
    assert default_threshold(tfidf) == DEFAULT_THRESHOLDS["tfidf"]
    assert default_threshold(static) == DEFAULT_THRESHOLDS["static"]
    # The static and tfidf cosine scales are compressed: their thresholds sit above MiniLM's.
    assert DEFAULT_THRESHOLDS["static"] > DEFAULT_THRESHOLDS["minilm"] == 0.92
    assert DEFAULT_THRESHOLDS["tfidf"] > DEFAULT_THRESHOLDS["minilm"]
    assert ImageEmbedder(tmp_path).default_threshold == DEFAULT_THRESHOLDS["image"]

    class Bare:  # an embedder that states no default gets MiniLM's
        model_id, dim, batch_size = "bare", 2, 8

    assert default_threshold(Bare()) == 0.92  # type: ignore[arg-type]
    assert near_duplicate_threshold(None, static) == (
        DEFAULT_THRESHOLDS["static"],
        "embedder default",
    )
    # A spec value is kept whatever the embedder, the old default included.
    assert near_duplicate_threshold(0.92, static) == (0.92, "spec")
    assert near_duplicate_threshold(0.5, tfidf) == (0.5, "spec")


@pytest.fixture
def pool(tmp_path: Path, sample_rows: list[dict[str, Any]]) -> Path:
    """300 real records plus near copies (one added sentence) of 10 of them."""
    rows = [dict(r) for r in sample_rows[::15][:300]]
    copies = [
        {**rows[i], "package": f"zz-copy-{i}", "description": rows[i]["description"] + " Also."}
        for i in range(0, 100, 10)
    ]
    return write_jsonl(tmp_path / "pool.jsonl", rows + copies)


def _workspace(tmp_path: Path, settings: Settings, **curation: Any) -> Workspace:
    """The sample benchmark with ``curation`` overrides, at ``settings`` (SQLite or PG)."""
    spec = yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))
    spec["guidelines"] = str(SAMPLE_SPEC.parent / "guidelines.md")
    spec["curation"].update(curation)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    init_workspace(settings, spec_path)
    return open_workspace(settings)


def test_unset_threshold_uses_the_embedders_and_the_report_says_so(
    tmp_path: Path, pool: Path, settings: Settings
) -> None:
    ws = _workspace(tmp_path, settings, near_duplicate_threshold=None)
    ingest_files(ws, [pool])
    report = curate(ws, embedder="tfidf", size=20, seed=5)
    t = DEFAULT_THRESHOLDS["tfidf"]
    assert report.near_duplicate_threshold == t
    assert report.near_duplicate_threshold_source == "embedder default"
    assert f">= {t:g}" in report.near_duplicate_rule
    assert report.format_version == FORMAT_VERSION == 3

    # Every stage is counted, and the rows add up to the pool.
    rows = stage_counts(report.to_dict())
    assert rows[0] == ("pool", 310)
    names = [k for k, _ in rows]
    assert names[-4:] == ["exact duplicates", "near duplicates", "not sampled", "selected"]
    assert sum(n for _, n in rows[1:]) == 310
    assert dict(rows)["selected"] == 20
    assert dict(rows)["near duplicates"] == report.near_duplicates >= 1

    # Pairs at the threshold: both sides, on the right side of it, closest first per side.
    ex = report.threshold_examples
    assert 1 <= len(ex) <= 5
    assert [e["cosine"] for e in ex] == sorted((e["cosine"] for e in ex), reverse=True)
    removed = {r["source_id"]: r for r in report.removed}
    sides = {e["side"] for e in ex}
    assert sides == {"removed", "kept"}
    above = sorted(e["cosine"] for e in ex if e["side"] == "removed")
    # The removed ones shown are the removed near duplicates with the lowest cosine.
    near = sorted(r["cosine"] for r in report.removed if r["kind"] == "near")
    assert above == near[: len(above)]
    for e in ex:
        assert e["text"] and e["other_text"] and e["source_id"] != e["other"]
        if e["side"] == "removed":
            assert e["cosine"] >= t and removed[e["source_id"]]["duplicate_of"] == e["other"]
        else:
            assert e["cosine"] < t
            assert e["source_id"] not in removed and e["other"] not in removed
    ws.db.dispose()


def test_a_threshold_set_in_the_spec_is_kept(tmp_path: Path, pool: Path, static: Embedder) -> None:
    ws = make_workspace(tmp_path, "set", near_duplicate_threshold=0.92)
    ingest_files(ws, [pool])
    report = curate(ws, embedder=static, size=10, seed=5)
    assert report.near_duplicate_threshold == 0.92
    assert report.near_duplicate_threshold_source == "spec"
    assert all(e["cosine"] >= 0.92 for e in report.threshold_examples if e["side"] == "removed")
    assert all(e["cosine"] < 0.92 for e in report.threshold_examples if e["side"] == "kept")
    ws.db.dispose()


def test_calibrated_static_threshold_removes_far_less_than_the_old_default(
    tmp_path: Path, pool: Path, static: Embedder
) -> None:
    """The reason for per-embedder thresholds: at MiniLM's 0.92 the static model's compressed
    cosine scale removes distinct records; at its own default it removes about the copies."""
    old = make_workspace(tmp_path, "old", near_duplicate_threshold=0.92)
    new = make_workspace(tmp_path, "new", near_duplicate_threshold=None)
    removed = {}
    for name, ws in (("old", old), ("new", new)):
        ingest_files(ws, [pool])
        removed[name] = curate(ws, embedder=static, size=10, seed=5).near_duplicates
        ws.db.dispose()
    assert removed["new"] < removed["old"]
    assert 5 <= removed["new"] <= 40  # the 10 copies, give or take, out of 310


def test_stage_counts_read_an_older_report() -> None:
    v2 = {
        "format_version": 2, "pool": 50, "filtered": {"empty": 0, "too_short": 2},
        "pii_dropped": 1, "contaminated": [{"source_id": "a"}], "exact_duplicates": 3,
        "near_duplicates": 4, "after_dedup": 39, "held": 5, "selected": ["x"] * 10,
        "near_duplicate_threshold": 0.92,
    }  # fmt: skip
    rows = stage_counts(v2)
    assert rows == [
        ("pool", 50), ("filtered: too_short", 2), ("PII dropped", 1), ("contaminated", 1),
        ("exact duplicates", 3), ("near duplicates", 4), ("existing items", 5),
        ("not sampled", 24), ("selected", 10),
    ]  # fmt: skip
    assert sum(n for _, n in rows[1:]) == 50
    assert stage_line(rows).startswith("records by stage (of 50): filtered: too_short 2, ")
    # No source and no pairs in a v2 report: just the threshold.
    assert threshold_lines(v2) == ["near-duplicate threshold: 0.92"]
    assert stage_counts({})[0] == ("pool", 0)


def test_threshold_lines_show_data_literally() -> None:
    report = {
        "near_duplicate_threshold": 0.97, "near_duplicate_threshold_source": "embedder default",
        "threshold_examples": [
            {"side": "kept", "source_id": "a\u202eb", "text": "line one\nline two \x1b[2J",
             "other": "c", "other_text": "x" * 200, "cosine": 0.9612},
        ],
    }  # fmt: skip
    lines = threshold_lines(report, width=40)
    assert lines[0] == "near-duplicate threshold: 0.97 (embedder default)"
    assert lines[2].startswith("  kept 0.9612: a⟨U+202E⟩b 'line one line two ⟨U+001B⟩[2J' ~ c ")
    assert "\u202e" not in "".join(lines) and "\x1b" not in "".join(lines)
    assert lines[2].endswith("'" + "x" * 39 + "…'")


def test_curate_and_status_print_the_stages_and_pairs(
    cli: Cli, cli_env: dict[str, str], pool: Path, tmp_path: Path
) -> None:
    spec = yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))
    spec["curation"].pop("near_duplicate_threshold")
    spec["guidelines"] = str(SAMPLE_SPEC.parent / "guidelines.md")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli("init", "--spec", spec_path, env=cli_env).exit_code == 0
    r = cli("status", env=cli_env)
    assert r.stdout.splitlines()[-1] == "curation: none yet"
    assert cli("ingest", pool, env=cli_env).exit_code == 0
    r = cli("curate", "--embedder", "tfidf", "--size", "8", env=cli_env)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    t = DEFAULT_THRESHOLDS["tfidf"]
    assert lines[5].startswith("records by stage (of 310): ")
    assert lines[5].endswith(", selected 8") and "near duplicates " in lines[5]
    assert lines[6] == f"near-duplicate threshold: {t} (embedder default)"
    assert lines[7].startswith("pairs at the threshold")
    assert {ln.split()[0] for ln in lines[8:]} == {"removed", "kept"}

    st = cli("status", "--json", env=cli_env)
    cur = json.loads(st.stdout)["curation"]
    assert cur["run_id"] == 1 and cur["near_duplicate_threshold"] == t
    assert cur["threshold_source"] == "embedder default"
    assert cur["stages"][0] == ["pool", 310] and cur["stages"][-1] == ["selected", 8]
    assert len(cur["threshold_examples"]) == len(lines) - 8
    human = cli("status", env=cli_env).stdout.splitlines()
    assert human[-len(lines) + 5 - 1].startswith("latest curation run 1: ")
    assert human[-len(lines) + 5 :] == [lines[5], *lines[6:]]


def test_status_without_a_run_has_no_curation(workspace: Workspace) -> None:
    assert benchmark_status(workspace)["curation"] is None


def test_kept_pairs_below_the_threshold_match_brute_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    import builder.curate.removed as removed

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[10] = x[11]  # an equal pair (cosine 1.0): above any threshold, never a "kept" example
    keep = np.ones(len(x), dtype=bool)
    keep[::7] = False
    found = removed._closest_kept_pairs(x, keep, 0.9, seed=1)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    sims[~keep, :] = -np.inf
    sims[:, ~keep] = -np.inf
    sims[sims >= 0.9] = -np.inf
    a, b = np.unravel_index(np.argmax(sims), sims.shape)
    assert {found[0][0], found[0][1]} == {int(a), int(b)}
    assert found[0][2] == pytest.approx(float(sims[a, b]))
    assert len(found) == 5 and all(c < 0.9 for _, _, c in found)
    assert all(keep[p] and keep[q] for p, q, _ in found)
    # Reading the (possibly memory-mapped) vectors in small blocks gives the same pairs.
    monkeypatch.setattr(removed, "_BLOCK", 97)
    assert removed._closest_kept_pairs(x, keep, 0.9, seed=1) == found
