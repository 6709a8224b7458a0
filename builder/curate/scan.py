"""Stages 1–6 of ``curate``: one pass over the pool, filtering and embedding as it goes.

Records are read in record-id order, in chunks (constant memory for texts); each passes the
quality filters, the PII policy, the contamination check and exact de-duplication
(:class:`Scanner`, counting into the :class:`~builder.curate.report.CurationReport`), and
those that pass are embedded, from the on-disk cache or the model, in batches on a worker
thread while the next chunk is scanned (:func:`scan_and_embed`, the worker in
:mod:`builder.curate.embed_worker`).

With the scan cache (:mod:`builder.curate.scan_cache`) a record's scan is done once per
content: a rerun reads the pool without its texts (id, source id, content hash), judges the
cached facts under the spec's rules, looks the vectors up by the cached text keys, and reads
texts only for what a cache lacks (or, with anything to check contamination against, every
text). Vectors go to a memory-mapped :class:`~builder.curate.vector_store.VectorStore`, so the
per-record data kept for the whole pool are a few small lists (:class:`ScannedPool`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from builder.curate.contamination import NgramIndex
from builder.curate.dedup import ExactDeduper
from builder.curate.embed import Embedder, FittableEmbedder, embed_texts
from builder.curate.embed_cache import EmbeddingCache
from builder.curate.embed_worker import BackgroundEmbedder, StoreEmbedder
from builder.curate.filters import FILTER_REASONS, apply_pii_policy, quality_problem
from builder.curate.pii import PII_KINDS
from builder.curate.report import CurationReport
from builder.curate.scan_cache import ScanCache, content_key, quality_codes, scan_facts
from builder.curate.vector_store import VectorStore
from builder.readers import ReadProgress
from builder.spec import CurationSpec
from builder.store.items import ExistingItem
from builder.store.pool import PoolRow, iter_pool, iter_pool_keys, texts_between
from builder.workspace import Workspace

__all__ = ["CHUNK", "Progress", "ScannedPool", "Scanner", "scan_and_embed"]

CHUNK = 8192
"""Records read (and embedded) per step."""

Progress = Callable[[str, ReadProgress], None]


@dataclass
class ScannedPool:
    """What is kept per record that reaches the embedding stage (positions index these)."""

    record_id: list[int] = field(default_factory=list)
    source_id: list[str] = field(default_factory=list)
    stratum: list[str | None] = field(default_factory=list)
    existing: list[bool] = field(default_factory=list)
    length: list[int] = field(default_factory=list)
    """Text length in characters (a keep-priority tie-break among near duplicates)."""
    dups: dict[int, list[str]] = field(default_factory=dict)
    """Record id → source ids of the exact duplicates it absorbed."""
    exact: list[tuple[int, str, int]] = field(default_factory=list)
    """(record id, source id, record id of the first record with that text) per exact duplicate."""
    vectors: list[np.ndarray] = field(default_factory=list)
    """Vectors in position order, as chunks (when not in a :class:`VectorStore`)."""
    store: VectorStore | None = None
    """Where the vectors are when they were written to a memory-mapped store instead."""

    def matrix(self, dim: int) -> np.ndarray:
        """The (n, dim) float32 vectors: a memory-mapped view when in a store."""
        if self.store is not None:
            return self.store.view(len(self.record_id))
        if not self.vectors:
            return np.zeros((0, dim), np.float32)
        return self.vectors[0] if len(self.vectors) == 1 else np.concatenate(self.vectors)


class Scanner:
    """Stages 2–5 for one record at a time; counts go straight into the report."""

    def __init__(
        self,
        cfg: CurationSpec,
        report: CurationReport,
        existing: dict[int, ExistingItem],
        index: NgramIndex | None,
        dedup: ExactDeduper,
    ) -> None:
        self.cfg, self.report, self.existing = cfg, report, existing
        self.index, self.dedup = index, dedup

    def admits(self, row: PoolRow, pool: ScannedPool) -> bool:
        """True when ``row`` goes on to embedding; else it is counted where it stopped."""
        if row.id in self.existing:
            return True
        cfg, report = self.cfg, self.report
        problem = quality_problem(row.text, min_chars=cfg.min_chars, max_chars=cfg.max_chars)
        if problem:
            report.filtered[problem] += 1
            return False
        outcome = apply_pii_policy(row.text, cfg.pii)
        if outcome.flags:
            report.pii_records += 1
            for kind, n in outcome.flags["kinds"].items():
                report.pii[kind] = report.pii.get(kind, 0) + n
        if not outcome.keep:
            report.pii_dropped += 1
            return False
        if self.index is not None:
            hit = self.index.match(row.text)
            if hit is not None:
                report.contaminated.append(
                    {
                        "source_id": row.source_id,
                        "source": hit.source,
                        "shared": hit.shared,
                        "total": hit.total,
                    }
                )
                return False
        earlier = self.dedup.add(row.id, row.text)
        if earlier is not None:
            report.exact_duplicates += 1
            pool.dups.setdefault(earlier, []).append(row.source_id)
            pool.exact.append((row.id, row.source_id, earlier))
            return False
        return True

    def admit_chunk(
        self,
        ids: list[int],
        source_ids: list[str],
        facts: np.ndarray,
        texts: dict[int, str],
        pool: ScannedPool,
    ) -> list[int]:
        """:meth:`admits` for a chunk, from its cached scan facts
        (:data:`~builder.curate.scan_cache.FACTS`): the positions (into ``ids``) admitted,
        with the same stages, order and counts.

        The filters and PII counts are array operations over the chunk; contamination and
        exact duplicates go record by record, in order, as they depend on earlier records.
        ``texts`` (record id → text) is read only with a contamination index.
        """
        n = len(ids)
        cfg, report = self.cfg, self.report
        existing = np.fromiter((rid in self.existing for rid in ids), dtype=bool, count=n)
        problem = quality_codes(facts["stripped"], min_chars=cfg.min_chars, max_chars=cfg.max_chars)
        problem[existing] = 0
        for code, reason in enumerate(FILTER_REASONS, start=1):
            report.filtered[reason] += int((problem == code).sum())
        live = (problem == 0) & ~existing
        pii = facts["pii"]
        has = live & pii.any(axis=1)
        if has.any():
            report.pii_records += int(has.sum())
            sub = pii[has]
            counts = sub.sum(axis=0)
            # New kinds enter the report in the order a record-by-record scan meets them.
            met = sorted((int(np.argmax(sub[:, k] > 0)), k) for k in np.flatnonzero(counts))
            for _, k in met:
                kind = PII_KINDS[k]
                report.pii[kind] = report.pii.get(kind, 0) + int(counts[k])
            if cfg.pii == "drop":
                report.pii_dropped += int(has.sum())
                live &= ~has
        keys = np.ascontiguousarray(facts["exact_key"]).tobytes()
        admitted: list[int] = []
        for i in np.flatnonzero(live | existing).tolist():
            rid = ids[i]
            if not existing[i]:
                sid = source_ids[i]
                if self.index is not None:
                    hit = self.index.match(texts[rid])
                    if hit is not None:
                        report.contaminated.append(
                            {
                                "source_id": sid,
                                "source": hit.source,
                                "shared": hit.shared,
                                "total": hit.total,
                            }
                        )
                        continue
                earlier = self.dedup.add_key(rid, keys[16 * i : 16 * i + 16])
                if earlier is not None:
                    report.exact_duplicates += 1
                    pool.dups.setdefault(earlier, []).append(sid)
                    pool.exact.append((rid, sid, earlier))
                    continue
            admitted.append(i)
        return admitted


def _fit_sample(
    rng: np.random.Generator, reservoir: list[str], seen: int, text: str, cap: int
) -> None:
    # Reservoir sampling: a uniform, seeded sample of the texts without holding them all.
    if len(reservoir) < cap:
        reservoir.append(text)
    else:
        j = int(rng.integers(0, seen))
        if j < cap:
            reservoir[j] = text


def scan_and_embed(
    ws: Workspace,
    benchmark_id: int,
    cfg: CurationSpec,
    model: Embedder,
    scanner: Scanner,
    seed: int,
    report: CurationReport,
    stages: dict[str, float],
    progress: Progress | None,
    *,
    facts: ScanCache | None = None,
    store: VectorStore | None = None,
) -> ScannedPool:
    """Stages 1–6: one pass over the pool (two for an embedder fitted on the pool).

    With a scan cache (``facts``) and a vector ``store``, and an embedder that needs no fit
    and plain exact de-duplication, records are read without their texts and scanned from
    the cache; only records it lacks (and, with a contamination index, every record) have
    their texts read (:func:`_scan_from_facts`). Otherwise texts are read and scanned.
    """
    if (
        facts is not None
        and store is not None
        and not isinstance(model, FittableEmbedder)
        and type(scanner.dedup) is ExactDeduper
    ):
        return _scan_from_facts(
            ws, benchmark_id, cfg, model, scanner, report, stages, progress, facts, store
        )
    pool = ScannedPool()
    fit_model = model if isinstance(model, FittableEmbedder) else None
    rng = np.random.default_rng(seed)
    reservoir: list[str] = []
    background = (
        None
        if fit_model is not None
        else BackgroundEmbedder(
            model, EmbeddingCache(ws.settings.embedding_cache, model.model_id, model.dim), progress
        )
    )
    tick = time.perf_counter()
    scanned = 0
    try:
        with ws.db.session() as s:
            for chunk in iter_pool(s, benchmark_id, chunk=CHUNK, strata_field=cfg.strata_field):
                texts: list[str] = []
                for row in chunk:
                    if not scanner.admits(row, pool):
                        continue
                    pool.record_id.append(row.id)
                    pool.source_id.append(row.source_id)
                    pool.stratum.append(row.stratum)
                    pool.existing.append(row.id in scanner.existing)
                    pool.length.append(len(row.text))
                    texts.append(row.text)
                    if fit_model is not None:
                        cap = fit_model.max_fit_texts
                        _fit_sample(rng, reservoir, len(pool.record_id), row.text, cap)
                scanned += len(chunk)
                if progress:
                    progress("scan pool", ReadProgress(scanned, report.pool))
                if background is not None and texts:
                    background.submit(texts)
    finally:
        if background is not None:
            background.finish()
    stages["scan"] = time.perf_counter() - tick
    if background is not None:
        pool.vectors = background.vectors
        report.embedded = background.encoded
        stages["embed"] = background.seconds  # overlaps with "scan"
    else:
        assert fit_model is not None
        tick = time.perf_counter()
        fit_model.fit(reservoir)
        reservoir.clear()
        cache = EmbeddingCache(ws.settings.embedding_cache, fit_model.model_id, fit_model.dim)
        wanted = set(pool.record_id)
        with ws.db.session() as s:
            for chunk in iter_pool(s, benchmark_id, chunk=CHUNK):
                texts = [r.text for r in chunk if r.id in wanted]
                if texts:
                    vecs, n_new = embed_texts(fit_model, texts, cache=cache)
                    report.embedded += n_new
                    pool.vectors.append(vecs)
                    if progress:
                        done = sum(len(v) for v in pool.vectors)
                        progress("embed", ReadProgress(done, len(wanted)))
        stages["embed"] = time.perf_counter() - tick
    report.cached = len(pool.record_id) - report.embedded
    return pool


def _scan_from_facts(
    ws: Workspace,
    benchmark_id: int,
    cfg: CurationSpec,
    model: Embedder,
    scanner: Scanner,
    report: CurationReport,
    stages: dict[str, float],
    progress: Progress | None,
    facts_cache: ScanCache,
    store: VectorStore,
) -> ScannedPool:
    """Stages 1–6 from the scan cache: texts are read only for records the caches lack."""
    pool = ScannedPool(store=store)
    cache = EmbeddingCache(ws.settings.embedding_cache, model.model_id, model.dim)
    background = StoreEmbedder(model, cache, store, progress)
    background.total = report.pool
    tick = time.perf_counter()
    scanned = 0
    contamination = scanner.index is not None
    try:
        with ws.db.session() as s:
            for chunk in iter_pool_keys(
                s, benchmark_id, chunk=CHUNK, strata_field=cfg.strata_field
            ):
                n = len(chunk.ids)
                ckeys = np.frombuffer(
                    b"".join(content_key(h) for h in chunk.content_hashes), dtype=np.uint8
                ).reshape(n, 16)
                facts, found = facts_cache.lookup(ckeys)
                texts: dict[int, str] = {}
                if contamination or not found.all():
                    texts = texts_between(s, benchmark_id, chunk.ids[0], chunk.ids[-1])
                if not found.all():
                    miss = np.flatnonzero(~found)
                    fresh = scan_facts(
                        [ckeys[i].tobytes() for i in miss], [texts[chunk.ids[i]] for i in miss]
                    )
                    facts[miss] = fresh
                    facts_cache.add(fresh)
                admitted = scanner.admit_chunk(chunk.ids, chunk.source_ids, facts, texts, pool)
                pool.record_id.extend(chunk.ids[i] for i in admitted)
                pool.source_id.extend(chunk.source_ids[i] for i in admitted)
                pool.stratum.extend(chunk.strata[i] for i in admitted)
                pool.existing.extend(chunk.ids[i] in scanner.existing for i in admitted)
                pool.length.extend(facts["length"][admitted].tolist())
                scanned += n
                if progress:
                    progress("scan pool", ReadProgress(scanned, report.pool))
                background.total = report.pool - scanned + len(pool.record_id)
                if not admitted:
                    continue
                tkeys = np.ascontiguousarray(facts["text_key"][admitted])
                vecs, have = cache.lookup(tkeys)
                todo = np.flatnonzero(~have)
                if todo.size and not texts:
                    texts = texts_between(s, benchmark_id, chunk.ids[0], chunk.ids[-1])
                miss_texts = [texts[chunk.ids[admitted[j]]] for j in todo.tolist()]
                start = len(pool.record_id) - len(admitted)
                background.submit(start, vecs, todo, miss_texts, tkeys)
    finally:
        background.finish()
    if progress:
        progress("embed", ReadProgress(len(pool.record_id), len(pool.record_id)))
    stages["scan"] = time.perf_counter() - tick
    stages["embed"] = background.seconds  # overlaps with "scan"
    report.embedded = background.encoded
    report.cached = len(pool.record_id) - report.embedded
    return pool
