"""What a curation rerun reads back: the scan cache, the memory-mapped vectors, the results.

Real workspaces (SQLite and a real PostgreSQL), the real static embedder, the real corpus.
A rerun must decide exactly as a cold run does; a cache it cannot trust is rebuilt, loudly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from builder.config import Settings
from builder.curate import removed as removed_mod
from builder.curate import scan_cache as scan_cache_mod
from builder.curate.embed import Embedder
from builder.curate.embed_cache import EmbeddingCache, KeyIndex, text_key
from builder.curate.filters import FILTER_REASONS, quality_problem
from builder.curate.pair_search import near_duplicates, near_duplicates_cached
from builder.curate.pipeline import curate
from builder.curate.result_cache import ResultCache
from builder.curate.scan_cache import (
    FACTS,
    ScanCache,
    content_key,
    fingerprint,
    quality_codes,
    scan_facts,
)
from builder.curate.vector_store import VectorStore
from builder.ingest import ingest_files
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import DATA, SAMPLE_SPEC

DECISIONS = (
    "pool", "filtered", "pii", "pii_records", "exact_duplicates", "near_duplicates",
    "after_dedup", "duplicate_groups", "selected", "k",
)  # fmt: skip


def _decisions(report: Any) -> dict[str, Any]:
    return {k: getattr(report, k) for k in DECISIONS}


def _pool(tmp_path: Path, rows: list[dict[str, Any]], name: str = "pool.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def rows(sample_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """400 real records, plus an exact copy, a PII record and a too-short one."""
    base = [dict(r) for r in sample_rows[::11][:400]]
    extra = [
        {**base[0], "package": "zz-copy", "description": base[0]["description"].upper()},
        {**base[1], "package": "zz-pii", "description": "mail jane.doe@example.org " * 10},
        {**base[2], "package": "zz-short", "description": "tiny"},
    ]
    return base + extra


def _shards(ws: Workspace) -> list[Path]:
    return sorted(ws.settings.scan_cache.glob("*/*.scan.npy"))


def _fresh_copy(ws: Workspace, tmp_path: Path, name: str, **curation: Any) -> Workspace:
    """Another SQLite workspace with the sample spec (``curation`` overrides), no records."""
    spec = yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))
    spec["guidelines"] = str(DATA / "guidelines.md")
    spec["curation"].update(curation)
    spec_path = tmp_path / f"{name}-spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    settings = Settings.from_env({}, home=tmp_path / name, registry=str(tmp_path / "registry"))
    init_workspace(settings, spec_path)
    return open_workspace(settings)


def test_rerun_reads_the_scan_cache_and_decides_the_same(
    workspace: Workspace, static: Embedder, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ingest_files(workspace, [_pool(tmp_path, rows)])
    cold = curate(workspace, embedder=static, size=20)
    shards = _shards(workspace)
    assert len(shards) >= 1
    cache = ScanCache.for_spec(workspace.settings.scan_cache, workspace.benchmark()[1])
    assert len(cache) == len(rows)
    assert cold.embedded > 0 and cold.filtered["too_short"] == 1 and cold.exact_duplicates == 1

    # The same workspace again (a top-up): nothing is scanned or embedded anew.
    top_up = curate(workspace, embedder=static, size=20)
    assert _shards(workspace) == shards
    assert top_up.embedded == 0 and top_up.cached == top_up.after_dedup + top_up.near_duplicates
    assert top_up.filtered == cold.filtered and top_up.pii == cold.pii
    assert top_up.exact_duplicates == cold.exact_duplicates
    assert not set(top_up.selected) & set(cold.selected)


def test_warm_run_equals_a_cold_run(
    sqlite_workspace: Workspace,
    static: Embedder,
    rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = _pool(tmp_path, rows)
    ingest_files(sqlite_workspace, [pool])
    cold = curate(sqlite_workspace, embedder=static, size=25)
    # Another workspace with the same pool, given the first one's caches: every stage reads
    # back, and every decision is the cold run's.
    other = _fresh_copy(sqlite_workspace, tmp_path, "other")
    ingest_files(other, [pool])
    for part in ("embeddings", "scan_cache", "curation/cache"):
        src, dst = sqlite_workspace.settings.home / part, other.settings.home / part
        shutil.copytree(src, dst, dirs_exist_ok=True)

    def searched_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the kept pairs below the threshold were searched again")

    monkeypatch.setattr(removed_mod, "_closest_kept_pairs", searched_again)
    warm = curate(other, embedder=static, size=25)
    assert warm.embedded == 0
    assert _decisions(warm) == _decisions(cold)
    assert warm.map == cold.map and warm.clusters == cold.clusters
    assert warm.threshold_examples == cold.threshold_examples
    assert any(e["side"] == "kept" for e in warm.threshold_examples)
    kinds = {p.name.split("-")[0] for p in (other.settings.home / "curation/cache").glob("*.npz")}
    assert kinds == {"near", "kmeans", "sample", "map", "closest"}
    other.db.dispose()


def test_a_new_record_is_the_only_one_scanned(
    sqlite_workspace: Workspace, static: Embedder, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ingest_files(sqlite_workspace, [_pool(tmp_path, rows)])
    curate(sqlite_workspace, embedder=static, size=10)
    before = _shards(sqlite_workspace)
    changed = {**rows[5], "package": "zz-changed", "description": rows[5]["description"] + " v2"}
    ingest_files(sqlite_workspace, [_pool(tmp_path, [changed], "more.jsonl")])
    report = curate(sqlite_workspace, embedder=static, size=10)
    new = sorted(set(_shards(sqlite_workspace)) - set(before))
    assert len(new) == 1
    facts = np.load(new[0])
    assert len(facts) == 1 and report.embedded == 1
    assert facts[0]["text_key"].tobytes() == text_key(changed["description"])


def test_spec_rules_apply_to_cached_facts(
    sqlite_workspace: Workspace, static: Embedder, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """min_chars / the PII policy judge the cached facts afresh: no rescan, same decisions."""
    pool = _pool(tmp_path, rows)
    ingest_files(sqlite_workspace, [pool])
    curate(sqlite_workspace, embedder=static, size=10)
    strict = _fresh_copy(sqlite_workspace, tmp_path, "strict", min_chars=200, pii="drop")
    ingest_files(strict, [pool])
    shutil.copytree(
        sqlite_workspace.settings.scan_cache, strict.settings.scan_cache, dirs_exist_ok=True
    )
    shards = _shards(strict)
    report = curate(strict, embedder=static, size=10)
    assert _shards(strict) == shards  # judged from the cache, nothing rescanned
    expect_short = sum(
        quality_problem(r["description"], min_chars=200, max_chars=4000) == "too_short"
        for r in rows
    )
    assert report.filtered["too_short"] == expect_short
    assert report.pii_dropped == report.pii_records >= 1
    cold = _fresh_copy(sqlite_workspace, tmp_path, "cold", min_chars=200, pii="drop")
    ingest_files(cold, [pool])
    assert _decisions(curate(cold, embedder=static, size=10)) == _decisions(report)
    strict.db.dispose()
    cold.db.dispose()


def test_changed_scan_rules_or_text_field_use_another_cache(
    sqlite_workspace: Workspace,
    static: Embedder,
    rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert fingerprint("description", "text") != fingerprint("package", "text")
    assert fingerprint("description", "text") != fingerprint("description", "conversation")
    ingest_files(sqlite_workspace, [_pool(tmp_path, rows)])
    first = curate(sqlite_workspace, embedder=static, size=10)
    folders = {p.name for p in sqlite_workspace.settings.scan_cache.iterdir()}
    monkeypatch.setattr(scan_cache_mod, "SCAN_RULES_VERSION", scan_cache_mod.SCAN_RULES_VERSION + 1)
    again = curate(sqlite_workspace, embedder=static, size=10)
    now = {p.name for p in sqlite_workspace.settings.scan_cache.iterdir()}
    assert len(now - folders) == 1  # a new rules version: a new, fully scanned cache
    (fresh,) = now - folders
    assert len(ScanCache(sqlite_workspace.settings.scan_cache, fresh)) == len(rows)
    assert again.filtered == first.filtered and again.pii == first.pii


def test_a_corrupt_scan_shard_is_rebuilt_with_a_warning(
    sqlite_workspace: Workspace, static: Embedder, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    pool = _pool(tmp_path, rows)
    ingest_files(sqlite_workspace, [pool])
    cold = curate(sqlite_workspace, embedder=static, size=15)
    (shard,) = _shards(sqlite_workspace)
    raw = bytearray(shard.read_bytes())
    raw[-40] ^= 0xFF  # one flipped byte in a record's facts, the file still loads
    shard.write_bytes(bytes(raw))
    other = _fresh_copy(sqlite_workspace, tmp_path, "other")
    ingest_files(other, [pool])
    shutil.copytree(
        sqlite_workspace.settings.scan_cache, other.settings.scan_cache, dirs_exist_ok=True
    )
    with pytest.warns(UserWarning, match=r"scan cache shard .* is corrupt \(its checksum"):
        warm = curate(other, embedder=static, size=15)
    assert _decisions(warm) == _decisions(cold)
    (rebuilt,) = _shards(other)
    assert rebuilt.name != shard.name
    cache = ScanCache.for_spec(other.settings.scan_cache, other.benchmark()[1])
    assert len(cache) == len(rows)
    other.db.dispose()


def test_facts_match_the_scanners_own_verdicts(rows: list[dict[str, Any]]) -> None:
    texts = [r["description"] for r in rows] + ["", "   ", "x" * 5000]
    facts = scan_facts([bytes(16)] * len(texts), texts)
    assert facts.dtype == FACTS
    for lo, hi in ((1, 4000), (20, 4000), (200, 300), (50, 10)):
        codes = quality_codes(facts["stripped"], min_chars=lo, max_chars=hi)
        want = [quality_problem(t, min_chars=lo, max_chars=hi) for t in texts]
        assert [FILTER_REASONS[c - 1] if c else None for c in codes] == want
    assert content_key("ab" * 32) == bytes.fromhex("ab" * 16)


def test_vector_store_is_memory_mapped_and_leaves_no_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 8), dtype=np.float32), rng.random((3, 8), dtype=np.float32)
    store = VectorStore(tmp_path, 10, 8)
    assert store.path is None and not list(tmp_path.iterdir())  # unlinked once mapped
    store.write(0, a)
    store.write(5, b)
    view = store.view()
    assert isinstance(view, np.memmap) and view.shape == (8, 8)
    assert np.array_equal(view, np.concatenate([a, b]))
    with pytest.raises(ValueError, match="exceed the store's 10 rows"):
        store.write(8, a)
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.view()
    kept = VectorStore(tmp_path, 4, 2, keep_file=True)
    assert kept.path is not None and kept.path.is_file()
    kept.close()
    assert not list(tmp_path.iterdir())


def test_curate_leaves_no_vector_file(
    sqlite_workspace: Workspace, static: Embedder, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ingest_files(sqlite_workspace, [_pool(tmp_path, rows)])
    curate(sqlite_workspace, embedder=static, size=10)
    assert not list((sqlite_workspace.settings.home / "curation").glob(".vectors-*"))


def test_key_index_and_cache_levels(static: Embedder, tmp_path: Path) -> None:
    keys = np.frombuffer(b"".join(text_key(str(i)) for i in range(50)), np.uint8).reshape(50, 16)
    twin = keys.copy()
    twin[:, 8:] ^= 1  # same high word, another key
    index = KeyIndex(np.concatenate([keys, keys[:3], twin]), np.arange(103), np.arange(103))
    shard, row = index.find(np.concatenate([keys[:5], twin[:2], np.zeros((1, 16), np.uint8)]))
    assert shard.tolist() == [0, 1, 2, 3, 4, 53, 54, -1]  # the first of equal keys wins
    assert row[:7].tolist() == [0, 1, 2, 3, 4, 53, 54]
    assert index.distinct() == 100
    cache = EmbeddingCache(tmp_path, static.model_id, static.dim)
    texts = [f"text number {i}" for i in range(40)]
    for start in range(0, 40, 4):  # ten adds: the index levels merge on the way
        part = texts[start : start + 4]
        cache.add([text_key(t) for t in part], static.encode(part))
    vecs, found = cache.lookup([text_key(t) for t in [*texts, "never seen"]])
    assert found.tolist() == [True] * 40 + [False]
    assert np.allclose(vecs[:40], static.encode(texts), atol=1e-6)
    assert len(EmbeddingCache(tmp_path, static.model_id, static.dim)) == 40


def test_result_cache_reads_back_and_refuses_a_corrupt_entry(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 16)).astype(np.float32)
    x[200:] = x[:200] + rng.normal(scale=0.05, size=(200, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cache = ResultCache(tmp_path)
    plain = near_duplicates(x, 0.95, seed=1)
    first = near_duplicates_cached(cache, x, 0.95, seed=1)
    again = near_duplicates_cached(cache, x, 0.95, seed=1)
    for nd in (first, again):
        assert np.array_equal(nd.keep, plain.keep) and nd.pairs == plain.pairs
        assert np.array_equal(nd.duplicate_of, plain.duplicate_of)
    (entry,) = tmp_path.glob("near-*.npz")
    entry.write_bytes(entry.read_bytes()[:-7] + b"garbage")
    with pytest.warns(UserWarning, match="curation cache entry .* is corrupt"):
        third = near_duplicates_cached(cache, x, 0.95, seed=1)
    assert np.array_equal(third.keep, plain.keep)
    other = near_duplicates_cached(cache, x, 0.9, seed=1)  # another input, another entry
    assert len(list(tmp_path.glob("near-*.npz"))) == 2
    assert other.pairs >= plain.pairs
