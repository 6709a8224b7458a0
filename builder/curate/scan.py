"""Stages 1–6 of ``curate``: one pass over the pool, filtering and embedding as it goes.

Records are read in record-id order, in chunks (constant memory for texts); each passes the
quality filters, the PII policy, the contamination check and exact de-duplication
(:class:`Scanner`, counting into the :class:`~builder.curate.report.CurationReport`), and
those that pass are embedded, from the on-disk cache or the model, in batches on a worker
thread while the next chunk is scanned (:func:`scan_and_embed`). Vectors are the only
per-record data kept for the whole pool (:class:`ScannedPool`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from builder.curate.contamination import NgramIndex
from builder.curate.dedup import ExactDeduper
from builder.curate.embed import Embedder, FittableEmbedder, embed_texts
from builder.curate.embed_cache import EmbeddingCache
from builder.curate.filters import apply_pii_policy, quality_problem
from builder.curate.report import CurationReport
from builder.readers import ReadProgress
from builder.spec import CurationSpec
from builder.store.items import ExistingItem
from builder.store.pool import PoolRow, iter_pool
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


class _BackgroundEmbedder:
    """Embeds one chunk on a worker thread while the caller scans the next.

    The model's work (Rust tokenisation, torch, BLAS) runs without the GIL, so scanning in
    Python overlaps with it; at most two chunks of text are alive at a time.
    """

    def __init__(self, model: Embedder, cache: EmbeddingCache, progress: Progress | None) -> None:
        self.model, self.cache, self.progress = model, cache, progress
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="benchsmith-embed")
        self._pending: Future[tuple[np.ndarray, int, float]] | None = None
        self.vectors: list[np.ndarray] = []
        self.encoded = 0
        self.submitted = 0
        self.seconds = 0.0

    def _run(self, texts: list[str], done_before: int) -> tuple[np.ndarray, int, float]:
        started = time.perf_counter()
        done = 0

        def on_batch(k: int) -> None:
            nonlocal done
            done += k
            if self.progress:
                total = done_before + len(texts)
                self.progress("embed", ReadProgress(done_before + done, total))

        vecs, n_new = embed_texts(self.model, texts, cache=self.cache, on_batch=on_batch)
        return vecs, n_new, time.perf_counter() - started

    def _collect(self) -> None:
        if self._pending is not None:
            vecs, n_new, seconds = self._pending.result()
            self.vectors.append(vecs)
            self.encoded += n_new
            self.seconds += seconds
            self._pending = None

    def submit(self, texts: list[str]) -> None:
        """Queue ``texts`` (after the previous chunk finished, to keep the order)."""
        self._collect()
        self._pending = self._pool.submit(self._run, texts, self.submitted)
        self.submitted += len(texts)

    def finish(self) -> None:
        """Wait for the last chunk and stop the worker."""
        try:
            self._collect()
        finally:
            self._pool.shutdown(wait=True)


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
) -> ScannedPool:
    """Stages 1–6: one pass over the pool (two for an embedder fitted on the pool)."""
    pool = ScannedPool()
    fit_model = model if isinstance(model, FittableEmbedder) else None
    rng = np.random.default_rng(seed)
    reservoir: list[str] = []
    background = (
        None
        if fit_model is not None
        else _BackgroundEmbedder(
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
