"""The whole curate pipeline on real records, on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sqlmodel import col, select

from builder.config import Settings
from builder.curate.embed import Embedder, get_embedder
from builder.curate.pii import count_by_kind, scan
from builder.curate.pipeline import curate
from builder.curate.report import pool_map
from builder.curate.sample import choose_k
from builder.domain import ItemStatus
from builder.errors import ConfigError, ModelMissingError
from builder.ingest import ingest_files
from builder.store.models import AuditEvent, CurationRun, Item, Record
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import DATA, SAMPLE_SPEC, missing

REPORT_KEYS = {
    "pool", "after_dedup", "duplicate_groups", "filtered", "pii", "contaminated", "clusters",
    "selected", "embedder", "seconds",
}  # fmt: skip
PII_TEXT = (
    "command-line helper for the office mail relay; report problems to "
    "jane.doe@example.org or call +44 20 7946 0958. Test card 4111 1111 1111 1111."
)


@pytest.fixture(scope="module")
def static() -> Iterator[Embedder]:
    try:
        yield get_embedder("static")
    except ModelMissingError as e:
        missing(str(e))


def _row(package: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"package": package, "description": description, "priority": "optional", **extra}


@pytest.fixture(scope="module")
def base_rows(sample_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """280 real records spread over the corpus, plus crafted duplicates, PII and a short one."""
    rows = [dict(r) for r in sample_rows[::17][:280]]
    return [
        *rows,
        _row("zz-exact-copy", "  " + rows[0]["description"].upper() + " !"),
        _row("zz-near-copy", rows[1]["description"] + " This package is part of the suite."),
        _row("zz-pii", PII_TEXT),
        _row("zz-short", "tiny text"),
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_workspace(tmp_path: Path, name: str = "ws", **curation: Any) -> Workspace:
    """A SQLite workspace whose spec is the sample's with ``curation`` overrides."""
    spec = yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))
    spec["guidelines"] = str(DATA / "guidelines.md")
    spec["curation"].update(curation)
    spec_path = tmp_path / f"{name}-spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    settings = Settings.from_env(
        {}, home=tmp_path / name, registry=str(tmp_path / f"{name}-registry"),
        private_registry=str(tmp_path / f"{name}-private"),
    )  # fmt: skip
    init_workspace(settings, spec_path)
    return open_workspace(settings)


def items(ws: Workspace) -> list[Item]:
    with ws.db.session() as s:
        return list(s.exec(select(Item).order_by(col(Item.id))))


def source_ids(ws: Workspace, its: list[Item]) -> list[str]:
    with ws.db.session() as s:
        return [s.get(Record, it.record_id).source_id for it in its]  # type: ignore[union-attr]


def set_status(ws: Workspace, item_ids: list[int], status: ItemStatus | str) -> None:
    with ws.db.session() as s:
        for i in item_ids:
            it = s.get(Item, i)
            assert it is not None
            it.status = ItemStatus(status)
            s.add(it)


def test_curate_end_to_end(
    workspace: Workspace, tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    ingest_files(workspace, [write_jsonl(tmp_path / "pool.jsonl", base_rows)])
    report = curate(workspace, embedder=static, size=40, seed=11)

    assert report.pool == len(base_rows)
    assert report.filtered == {"empty": 0, "too_short": 1, "too_long": 0}
    assert report.exact_duplicates == 1
    assert report.near_duplicates >= 1 and report.duplicate_groups >= 2
    # Real descriptions hold a few addresses too: the counts are every match in the texts
    # that passed the filters, ours included.
    scanned = [scan(r["description"]) for r in base_rows if r["package"] != "zz-short"]
    assert report.pii == count_by_kind(m for found in scanned for m in found)
    assert report.pii["credit_card"] == 1 and report.pii["email"] >= 1
    assert report.pii_records == sum(1 for found in scanned if found)
    assert report.pii_dropped == 0
    assert report.contaminated == [] and report.contamination_sources == 0
    eligible = len(base_rows) - 1 - report.exact_duplicates - report.near_duplicates
    assert report.after_dedup == eligible
    assert len(report.selected) == len(set(report.selected)) == 40
    assert "zz-exact-copy" not in report.selected and "zz-short" not in report.selected
    assert report.k == choose_k(eligible, 40)
    assert all(c["picked"] >= 1 for c in report.clusters)  # 40 picks ≥ k clusters
    # Weights stand for every record that passed the filters, duplicates included.
    assert report.weights_total == pytest.approx(len(base_rows) - 1)
    assert report.embedder == static.model_id and report.embedded + report.cached == (
        len(base_rows) - 2
    )

    its = items(workspace)
    assert len(its) == 40 and {it.status for it in its} == {"candidate"}
    assert sorted(source_ids(workspace, its)) == sorted(report.selected)
    assert {it.run_id for it in its} == {report.run_id}
    assert sum(it.weight for it in its) == pytest.approx(report.weights_total)
    assert all(it.reason.startswith("cluster ") and it.cluster is not None for it in its)
    for it in its:
        for sib in it.flags.get("near_duplicates", []):
            assert sib not in report.selected  # siblings are listed, never picked too
    with workspace.db.session() as s:
        run = s.get(CurationRun, report.run_id)
        assert run is not None and run.embedder == static.model_id and run.seed == 11
        stored = run.report
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "curate.run")).one()
    assert set(stored) >= REPORT_KEYS and stored["selected"] == report.selected
    assert {"cluster", "size", "picked"} <= set(stored["clusters"][0])
    m = stored["map"]
    assert len(m["x"]) == len(m["y"]) == len(m["cluster"]) == len(m["source_id"]) == eligible
    assert sum(m["selected"]) == 40
    assert {s for s, sel in zip(m["source_id"], m["selected"], strict=True) if sel} == set(
        report.selected
    )
    assert audit.entity_id == str(report.run_id) and audit.after["selected"] == 40
    assert stored["removed"] == report.removed and stored["removed_file"] is None
    assert stored["format_version"] == 3


def _check_removed(
    ws: Workspace, report: Any, rows: list[dict[str, Any]], static: Embedder
) -> dict[str, dict[str, Any]]:
    """Every removed record is listed once, near ones with a kept match at ≥ threshold."""
    by_id = {r["source_id"]: r for r in rows}
    listed = report.exact_duplicates + report.near_duplicates - report.sample_check_dropped
    assert len(by_id) == len(rows) == listed
    near = [r for r in rows if r["kind"] == "near"]
    assert len(near) == report.near_duplicates - report.sample_check_dropped
    assert all(r["kind"] == "exact" and r["cosine"] is None for r in rows if r not in near)
    with ws.db.session() as s:
        text = {r.source_id: r.text for r in s.exec(select(Record))}
    for r in near:
        assert r["duplicate_of"] not in by_id  # the match was kept
        v = static.encode([text[r["source_id"]], text[r["duplicate_of"]]])
        assert float(v[0] @ v[1]) == pytest.approx(r["cosine"], abs=1e-4)
        assert r["cosine"] >= report.near_duplicate_threshold
    return by_id


def test_report_lists_every_removed_record(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    """``removed`` names, for each dropped duplicate, the kept record it duplicates; the
    rule is stated; examples closest to the threshold carry both texts."""
    ws = make_workspace(tmp_path)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows)])
    report = curate(ws, embedder=static, size=40, seed=11)
    by_id = _check_removed(ws, report, report.removed, static)
    assert by_id["zz-exact-copy"] == {
        "source_id": "zz-exact-copy", "kind": "exact",
        "duplicate_of": base_rows[0]["package"], "cosine": None,
    }  # fmt: skip
    near_copy = {"zz-near-copy", base_rows[1]["package"]}
    assert len(near_copy & set(by_id)) == 1  # one of the two stays, the other names it
    gone = (near_copy & set(by_id)).pop()
    assert by_id[gone]["kind"] == "near" and by_id[gone]["duplicate_of"] in near_copy - {gone}
    assert report.near_duplicate_rule.startswith(
        "a record is removed as a near duplicate only if a record that is kept has cosine "
        "similarity >= 0.92 with it"
    )
    assert report.pair_search["verified"] and report.pair_search["pairs"] >= 1
    ex = report.near_duplicate_examples
    assert 1 <= len(ex) <= 5
    cosines = [e["cosine"] for e in ex]
    assert cosines == sorted(cosines)
    assert cosines[0] == min(r["cosine"] for r in report.removed if r["kind"] == "near")
    with ws.db.session() as s:
        text = {r.source_id: r.text for r in s.exec(select(Record))}
    for e in ex:
        assert e["text"] == text[e["source_id"]]
        assert e["duplicate_of_text"] == text[e["duplicate_of"]]
    dumped = report.to_dict(with_map=False)  # what `curate --json` prints
    assert dumped["removed"] == report.removed and "near_duplicate_examples" in dumped
    json.dumps(dumped)


def test_long_removed_list_goes_to_a_jsonl_file(
    tmp_path: Path,
    base_rows: list[dict[str, Any]],
    static: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builder.curate.removed as removed

    monkeypatch.setattr(removed, "REMOVED_INLINE", 1)
    ws = make_workspace(tmp_path)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows)])
    report = curate(ws, embedder=static, size=20)
    assert report.removed == [] and report.removed_file is not None
    path = Path(report.removed_file)
    assert path.parent == ws.settings.home / "curation"
    assert path.name == f"run-{report.run_id}-removed.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 2
    _check_removed(ws, report, rows, static)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write
    with ws.db.session() as s:
        stored = s.get(CurationRun, report.run_id)
        assert stored is not None and stored.report["removed_file"] == str(path)


def test_same_seed_same_selection(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    path = write_jsonl(tmp_path / "pool.jsonl", base_rows)
    picks = []
    for name, seed in [("a", 5), ("b", 5), ("c", 6)]:
        ws = make_workspace(tmp_path, name)
        ingest_files(ws, [path])
        picks.append(curate(ws, embedder=static, size=25, seed=seed).selected)
        ws.db.dispose()
    assert picks[0] == picks[1]
    assert picks[0] != picks[2]


def test_top_up_never_repeats_existing_or_released(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    ws = make_workspace(tmp_path)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows)])
    first = curate(ws, embedder=static, size=20)
    second = curate(ws, embedder=static, size=20)
    assert second.held == 20 and second.run_id != first.run_id
    assert not set(first.selected) & set(second.selected)
    assert second.embedded == 0 and second.cached == first.embedded  # the cache served all
    its = items(ws)
    assert len(its) == 40
    # Existing items were re-placed in the new clustering: the sample still adds up.
    assert sum(it.weight for it in its) == pytest.approx(second.weights_total)
    set_status(ws, [its[0].id, its[1].id], "released")  # type: ignore[list-item]
    set_status(ws, [its[2].id], "rejected")  # type: ignore[list-item]
    third = curate(ws, embedder=static, size=15)
    assert third.held == 39  # a rejected item no longer anchors the sample …
    assert not set(third.selected) & (set(first.selected) | set(second.selected))  # … nor returns
    assert len(items(ws)) == 55


def test_exact_copy_of_an_item_is_never_added(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    ws = make_workspace(tmp_path)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows[:30])])
    first = curate(ws, embedder=static, size=10)
    with ws.db.session() as s:
        rec = s.exec(select(Record).where(Record.source_id == first.selected[0])).one()
    copy = _row("zz-copy-of-item", rec.text.upper())
    ingest_files(ws, [write_jsonl(tmp_path / "more.jsonl", [copy])])
    second = curate(ws, embedder=static, size=100)  # asks for everything that is left
    assert "zz-copy-of-item" not in second.selected
    assert second.exact_duplicates == first.exact_duplicates + 1


@pytest.mark.parametrize("policy", ["flag", "redact", "drop"])
def test_pii_policy(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder, policy: str
) -> None:
    ws = make_workspace(tmp_path, pii=policy)
    clean = [r for r in base_rows[:40] if not scan(r["description"])][:12]
    rows = [*clean, _row("zz-pii", PII_TEXT)]
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", rows)])
    report = curate(ws, embedder=static, size=50)  # more than the pool: every record is picked
    assert report.pii_records == 1
    by_id = dict(zip(source_ids(ws, items(ws)), items(ws), strict=True))
    with ws.db.session() as s:
        raw = s.exec(select(Record).where(Record.source_id == "zz-pii")).one().text
    assert raw == PII_TEXT  # the raw record is never changed
    if policy == "drop":
        assert "zz-pii" not in by_id and report.pii_dropped == 1
        return
    item = by_id["zz-pii"]
    pii = item.flags["pii"]
    assert pii["kinds"] == {"email": 1, "phone": 1, "credit_card": 1}
    assert [sp["kind"] for sp in pii["spans"]] == ["email", "phone", "credit_card"]
    if policy == "flag":
        assert item.text is None
    else:
        assert item.text == (
            "command-line helper for the office mail relay; report problems to "
            "[EMAIL] or call [PHONE]. Test card [CREDIT_CARD]."
        )
        assert pii["redacted"] is True


def _against_file(path: Path, fmt: str, text: str) -> Path:
    if fmt == "jsonl":
        return write_jsonl(path.with_suffix(".jsonl"), [{"question": text, "id": 1}])
    if fmt == "csv":
        with path.with_suffix(".csv").open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["id", "text"], ["1", text]])
        return path.with_suffix(".csv")
    if fmt == "parquet":
        pq.write_table(pa.table({"id": [1], "text": [text]}), path.with_suffix(".parquet"))
        return path.with_suffix(".parquet")
    path.with_suffix(".txt").write_text(
        f"Intro paragraph.\n\n{text}\nmore lines\n", encoding="utf-8"
    )
    return path.with_suffix(".txt")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "txt"])
def test_contamination_against_files(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder, fmt: str
) -> None:
    ws = make_workspace(tmp_path)
    rows = base_rows[:40]
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", rows)])
    leaked = rows[5]["description"]
    other = _against_file(tmp_path / "other-benchmark", fmt, "Question: " + leaked.upper())
    report = curate(ws, embedder=static, size=100, against=[other])
    assert [c["source_id"] for c in report.contaminated] == [rows[5]["package"]]
    assert report.contaminated[0]["source"] == f"--against {other.name}"
    assert rows[5]["package"] not in report.selected
    with pytest.raises(ConfigError, match=r"--against .*missing\.jsonl: no such file"):
        curate(ws, embedder=static, size=1, against=[tmp_path / "missing.jsonl"])


def test_contamination_after_a_release(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    """Text released before, as a registry file or a released item, is never picked again."""
    ws = make_workspace(tmp_path)
    rows = base_rows[:40]
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", rows)])
    # A release of another benchmark in this workspace's registry (the release file format).
    data = Path(ws.settings.registry) / "other-bench" / "1.0.0" / "data"
    data.mkdir(parents=True)
    write_jsonl(data / "test.jsonl", [{"package": "x", "description": rows[3]["description"]}])
    first = curate(ws, embedder=static, size=5)
    assert [c["source_id"] for c in first.contaminated] == [rows[3]["package"]]
    assert first.contaminated[0]["source"] == "release other-bench/1.0.0/data/test.jsonl"
    # One of our own items is released; the same text under another id is contamination.
    released = items(ws)[0]
    set_status(ws, [released.id], "released")  # type: ignore[list-item]
    with ws.db.session() as s:
        text = s.get(Record, released.record_id).text  # type: ignore[union-attr]
    ingest_files(ws, [write_jsonl(tmp_path / "more.jsonl", [_row("zz-reused", "Reused: " + text)])])
    second = curate(ws, embedder=static, size=100)
    names = {c["source_id"]: c["source"] for c in second.contaminated}
    assert names["zz-reused"].startswith("released item debian-sections/")
    assert "zz-reused" not in second.selected


def test_sample_has_no_near_duplicate_pairs(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    ws = make_workspace(tmp_path)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows)])
    report = curate(ws, embedder=static, size=150)
    with ws.db.session() as s:
        texts = [
            s.exec(select(Record).where(Record.source_id == sid)).one().text
            for sid in report.selected
        ]
    v = static.encode(texts)
    sims = v @ v.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.92


def test_tfidf_pipeline_and_warm_rerun(tmp_path: Path, base_rows: list[dict[str, Any]]) -> None:
    ws = make_workspace(tmp_path)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows)])
    first = curate(ws, embedder="tfidf", size=10)
    assert first.embedder.startswith("tfidf-") and first.embedded > 250
    second = curate(ws, embedder="tfidf", size=10)
    assert second.embedder == first.embedder  # same pool, same fit, same cache
    assert second.embedded == 0


def test_errors_name_the_fix(tmp_path: Path, static: Embedder) -> None:
    ws = make_workspace(tmp_path)
    with pytest.raises(ConfigError) as err:
        curate(ws, embedder=static)
    assert str(err.value) == (
        "the pool of benchmark 'debian-sections' is empty; add records with "
        "`benchsmith ingest FILE` first"
    )
    with pytest.raises(ConfigError, match=r"--size 0 is not a positive number"):
        curate(ws, embedder=static, size=0)


@pytest.mark.slow
def test_minilm_by_name_with_cache(tmp_path: Path, base_rows: list[dict[str, Any]]) -> None:
    """The demo's path: the real MiniLM model named in the spec, then a cached top-up."""
    ws = make_workspace(tmp_path)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows[:40])])
    try:
        first = curate(ws, size=8)  # the spec's embedder: minilm
    except ModelMissingError as e:
        missing(str(e))
    assert first.embedder.startswith("minilm:") and first.embedded == 40
    second = curate(ws, size=8)
    assert second.embedded == 0 and not set(first.selected) & set(second.selected)


def test_strata_get_quotas_and_items_record_their_stratum(
    tmp_path: Path, base_rows: list[dict[str, Any]], static: Embedder
) -> None:
    ws = make_workspace(tmp_path, strata_field="priority", min_per_stratum=2)
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", base_rows)])
    report = curate(ws, embedder=static, size=30)
    sizes = Counter(r["priority"] for r in base_rows if r["package"] != "zz-short")
    assert report.strata_field == "priority"
    assert {row["stratum"] for row in report.strata} == set(sizes)
    for row in report.strata:
        assert row["picked"] >= min(2, row["size"])
    assert sum(row["picked"] for row in report.strata) == 30
    priority = {r["package"]: r["priority"] for r in base_rows}
    its = items(ws)
    assert [it.stratum for it in its] == [priority[s] for s in source_ids(ws, its)]
    assert all("stratum" in it.reason for it in its)


def test_pool_map_keeps_every_sample_point_within_the_limit() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    selected = np.zeros(300, dtype=bool)
    selected[:40] = True
    held = np.zeros(300, dtype=bool)
    held[40:60] = True
    kw: dict[str, Any] = {
        "cluster": np.arange(300) % 5, "selected": selected, "held": held,
        "source_ids": [f"r{i}" for i in range(300)], "seed": 1,
    }  # fmt: skip
    m = pool_map(x, limit=100, **kw)
    assert {len(v) for v in m.values()} == {100}
    assert sum(m["selected"]) == 40 and sum(m["held"]) == 20
    assert m == pool_map(x, limit=100, **kw)  # deterministic
    assert {f"r{i}" for i in range(60)} <= set(m["source_id"])
    tight = pool_map(x, limit=30, **kw)
    assert sum(tight["selected"]) == 30 and sum(tight["held"]) == 0
    assert set(pool_map(x, limit=5000, **kw)["source_id"]) == {f"r{i}" for i in range(300)}


def test_registry_texts_read_each_split_once_from_any_fsspec_url() -> None:
    import fsspec

    from builder.curate.filters import registry_texts

    fs = fsspec.filesystem("memory")
    root = "/bench-registry-test"
    with fs.open(f"{root}/a/1.0.0/data/test.jsonl", "wb") as f:
        f.write(b'{"package": "p", "description": "first released text"}\n')
    table = pa.table({"package": ["p"], "description": ["first released text"]})
    with fs.open(f"{root}/a/1.0.0/data/test.parquet", "wb") as f:
        pq.write_table(table, f)  # the same split as parquet: read once, from the jsonl
    with fs.open(f"{root}/b/2.0.0/data/dev.parquet", "wb") as f:
        pq.write_table(pa.table({"text": ["second released text"]}), f)
    with fs.open(f"{root}/b/2.0.0/manifest.json", "wb") as f:
        f.write(b"{}")
    got = list(registry_texts(f"memory://{root}"))
    assert got == [
        ("release a/1.0.0/data/test.jsonl", "p"),
        ("release a/1.0.0/data/test.jsonl", "first released text"),
        ("release b/2.0.0/data/dev.parquet", "second released text"),
    ]
    assert list(registry_texts(f"memory://{root}-missing")) == []
