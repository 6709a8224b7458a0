"""``curate``: pool → candidate items, in one pass over the pool plus in-memory vector work.

Stages (each counted in the :class:`~builder.curate.report.CurationReport`):

1. read the pool in record-id order, in chunks (constant memory for texts);
2. quality filters (empty / too short / too long);
3. PII scan under the spec's policy (``drop`` excludes here; ``flag``/``redact`` act on items);
4. contamination: word n-gram overlap with every release in the workspace's registries,
   released items in the database and ``--against`` files; overlapping records are excluded;
5. exact duplicates (normalised text) collapse onto the first record, or onto an existing item;
6. embeddings, from the on-disk cache or the model, in batches on a worker thread while the
   next chunk is scanned (vectors are the only per-record data kept for the whole pool);
7. near duplicates (cosine ≥ threshold) collapse onto one representative per group;
8. representative sampling of ``size`` new items (k-means quotas + facility location), never
   re-picking an existing or released item; items already in the benchmark anchor the sample;
9. a last all-pairs check of the sample itself, so no near-duplicate pair can slip in;
10. write the items, update existing items' cluster and weight, store the report, audit.

Records that are already items skip stages 2–4 (they were accepted before) and always win
their duplicate group, so a top-up never adds a copy of an existing item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from builder.curate.contamination import NgramIndex
from builder.curate.dedup import ExactDeduper, near_duplicates
from builder.curate.embed import (
    Embedder,
    EmbeddingCache,
    FittableEmbedder,
    embed_texts,
    get_embedder,
)
from builder.curate.filters import (
    FILTER_REASONS,
    apply_pii_policy,
    contamination_index,
    quality_problem,
)
from builder.curate.report import CurationReport, pool_map
from builder.curate.sample import sample_without_close_pairs
from builder.errors import ConfigError
from builder.readers import ReadProgress
from builder.spec import CurationSpec
from builder.store.audit import log_event
from builder.store.curation import (
    ExistingItem,
    NewItem,
    PoolRow,
    add_items,
    create_run,
    existing_items,
    iter_pool,
    record_texts,
    released_texts,
    set_run_report,
    update_item_placement,
)
from builder.store.models import ItemStatus
from builder.store.pool import pool_size
from builder.workspace import Workspace, current_actor

__all__ = ["CHUNK", "MAX_SIBLINGS", "curate"]

CHUNK = 8192
"""Records read (and embedded) per step."""
MAX_SIBLINGS = 100
"""Most duplicate source ids listed in an item's ``near_duplicates`` flag."""

Progress = Callable[[str, ReadProgress], None]


@dataclass
class _Pool:
    """What is kept per record that reaches the embedding stage (positions index these)."""

    record_id: list[int] = field(default_factory=list)
    source_id: list[str] = field(default_factory=list)
    stratum: list[str | None] = field(default_factory=list)
    existing: list[bool] = field(default_factory=list)
    dups: dict[int, list[str]] = field(default_factory=dict)
    """Record id → source ids of the exact duplicates it absorbed."""
    vectors: list[np.ndarray] = field(default_factory=list)


class _Scanner:
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

    def admits(self, row: PoolRow, pool: _Pool) -> bool:
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


def _resolve_embedder(embedder: str | Embedder | None, default: str, seed: int) -> Embedder:
    if embedder is None or isinstance(embedder, str):
        return get_embedder(embedder or default, seed=seed)
    return embedder


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


def curate(
    ws: Workspace,
    *,
    benchmark: str | None = None,
    size: int | None = None,
    seed: int | None = None,
    embedder: str | Embedder | None = None,
    against: Sequence[str | Path] = (),
    progress: Progress | None = None,
) -> CurationReport:
    """Pick ``size`` new candidate items (default: the spec's ``curation.size``) and report why.

    ``embedder`` is a name (minilm | static | tfidf), a model folder, or a loaded
    :class:`~builder.curate.embed.Embedder`; ``against`` adds files to check contamination
    against (besides the spec's ``curation.contamination.against`` and every release).
    ``progress(stage, ReadProgress)`` is called as the pool is scanned and embedded.
    A second call tops up: it adds ``size`` new items, never an existing or released one.
    """
    started = time.perf_counter()
    bench, spec = ws.benchmark(benchmark)
    assert bench.id is not None
    cfg = spec.curation
    size = cfg.size if size is None else size
    if size < 1:
        raise ConfigError(f"--size {size} is not a positive number of items; pass --size N ≥ 1")
    seed = cfg.seed if seed is None else seed
    report = CurationReport(
        benchmark=bench.name,
        pii_policy=cfg.pii,
        requested=size,
        near_duplicate_threshold=cfg.near_duplicate_threshold,
        seed=seed,
        strata_field=cfg.strata_field,
        filtered=dict.fromkeys(FILTER_REASONS, 0),
    )
    stages: dict[str, float] = {}
    tick = time.perf_counter()
    model = _resolve_embedder(embedder, cfg.embedder, seed)
    with ws.db.session() as s:
        report.pool = pool_size(s, bench.id)
        if report.pool == 0:
            raise ConfigError(
                f"the pool of benchmark {bench.name!r} is empty; add records with "
                "`benchsmith ingest FILE` first"
            )
        existing = {e.record_id: e for e in existing_items(s, bench.id)}
        index, report.contamination_sources = contamination_index(
            registries=[ws.settings.registry, ws.settings.private_registry],
            released=list(released_texts(s)),
            against=[*cfg.contamination.against, *against],
            n=cfg.contamination.ngram,
        )
        seeded = record_texts(s, list(existing))
    # Existing items win their exact-duplicate group, whatever the record order.
    dedup = ExactDeduper()
    for rid in sorted(seeded):
        dedup.add(rid, seeded[rid][1])
    stages["load"] = time.perf_counter() - tick

    pool = _scan_and_embed(
        ws,
        bench.id,
        cfg,
        model,
        _Scanner(cfg, report, existing, index, dedup),
        seed,
        report,
        stages,
        progress,
    )
    x = np.concatenate(pool.vectors) if pool.vectors else np.zeros((0, model.dim), np.float32)
    pool.vectors = []
    report.embedder = model.model_id

    tick = time.perf_counter()
    existing_m = np.asarray(pool.existing, dtype=bool)
    nd = near_duplicates(x, cfg.near_duplicate_threshold, seed=seed, protected=existing_m)
    pos_of = {rid: p for p, rid in enumerate(pool.record_id)}
    dups = {pos_of[rid]: sids for rid, sids in pool.dups.items()}
    mass = np.ones(len(x), dtype=np.float64)
    for p, sids in dups.items():
        mass[p] += len(sids)
    for members in nd.groups:
        gone = members[~nd.keep[members]]
        mass[members[0]] += mass[gone].sum()
        mass[gone] = 0
    group_of = nd.group_of()
    report.near_duplicates = int((~nd.keep).sum())
    report.duplicate_groups = len(nd.groups) + sum(1 for p in dups if p not in group_of)
    stages["near_duplicates"] = time.perf_counter() - tick

    tick = time.perf_counter()
    eligible = np.flatnonzero(nd.keep)
    report.after_dedup = len(eligible)
    status = [existing[pool.record_id[i]].status if pool.existing[i] else None for i in eligible]
    held = np.array([s is not None and s != ItemStatus.rejected.value for s in status], dtype=bool)
    report.held = int(held.sum())
    xe = x[eligible]
    result, dropped = sample_without_close_pairs(
        xe,
        size,
        threshold=cfg.near_duplicate_threshold,
        seed=seed,
        held=held,
        pickable=~existing_m[eligible],
        strata=[pool.stratum[i] or "(missing)" for i in eligible] if cfg.strata_field else None,
        min_per_stratum=cfg.min_per_stratum,
        k=cfg.clusters,
        mass=mass[eligible],
    )
    # Pairs the clustered search missed count as removed duplicates (they still count as
    # pool records in the weights).
    report.near_duplicates += dropped
    report.after_dedup -= dropped
    stages["sample"] = time.perf_counter() - tick
    report.k, report.clusters, report.strata = result.k, result.clusters, result.strata
    picks = [int(eligible[p]) for p in result.picks]
    report.selected = [pool.source_id[p] for p in picks]
    report.weights_total = round(float(result.weight.sum()), 6)

    tick = time.perf_counter()
    selected_m = np.zeros(len(eligible), dtype=bool)
    selected_m[result.picks] = True
    report.map = pool_map(
        xe,
        cluster=result.cluster,
        selected=selected_m,
        held=held,
        source_ids=[pool.source_id[i] for i in eligible],
        seed=seed,
    )
    stages["map"] = time.perf_counter() - tick

    tick = time.perf_counter()
    with ws.db.session() as s:
        run_id = create_run(s, benchmark_id=bench.id, embedder=model.model_id, seed=seed)
        report.run_id = run_id
        texts_of = record_texts(s, [pool.record_id[p] for p in picks])
        new_items = []
        for e_idx, p in zip(result.picks, picks, strict=True):
            rid = pool.record_id[p]
            outcome = apply_pii_policy(texts_of[rid][1], cfg.pii)
            flags: dict[str, Any] = {"pii": outcome.flags} if outcome.flags else {}
            sibs, total = _siblings(p, pool, nd.groups, group_of, dups)
            if sibs:
                flags["near_duplicates"] = sibs
                if total > len(sibs):
                    flags["near_duplicates_total"] = total
            new_items.append(
                NewItem(
                    record_id=rid,
                    text=outcome.text,
                    cluster=int(result.cluster[e_idx]),
                    stratum=pool.stratum[p] if cfg.strata_field else None,
                    reason=result.reason[int(e_idx)],
                    weight=float(result.weight[e_idx]),
                    flags=flags,
                )
            )
        add_items(s, benchmark_id=bench.id, run_id=run_id, items=new_items)
        # Earlier items now stand for their cells of this clustering; released ones keep the
        # weight they were released with.
        placements = []
        for i in np.flatnonzero(held):
            item = existing[pool.record_id[eligible[i]]]
            if item.status != ItemStatus.released.value:
                placements.append((item.id, int(result.cluster[i]), float(result.weight[i])))
        update_item_placement(s, placements)
        stages["write"] = time.perf_counter() - tick
        report.stages = {k: round(v, 3) for k, v in stages.items()}
        report.seconds = round(time.perf_counter() - started, 3)
        set_run_report(s, run_id, report.to_dict())
        log_event(
            s,
            actor=current_actor(),
            action="curate.run",
            entity="curation_run",
            entity_id=run_id,
            benchmark_id=bench.id,
            after=report.summary(),
        )
    return report


def _siblings(
    p: int,
    pool: _Pool,
    groups: list[np.ndarray],
    group_of: dict[int, int],
    dups: dict[int, list[str]],
) -> tuple[list[str], int]:
    """Source ids of the duplicates of position ``p`` (at most MAX_SIBLINGS), and how many."""
    members = [int(o) for o in groups[group_of[p]]] if p in group_of else [p]
    out: list[str] = []
    for o in members:
        if len(out) >= MAX_SIBLINGS:
            break
        if o != p:
            out.append(pool.source_id[o])
        out.extend(dups.get(o, [])[: MAX_SIBLINGS - len(out)])
    total = int(sum(1 + len(dups.get(o, [])) for o in members)) - 1
    return out[:MAX_SIBLINGS], total


def _scan_and_embed(
    ws: Workspace,
    benchmark_id: int,
    cfg: CurationSpec,
    model: Embedder,
    scanner: _Scanner,
    seed: int,
    report: CurationReport,
    stages: dict[str, float],
    progress: Progress | None,
) -> _Pool:
    """Stages 1–6: one pass over the pool (two for an embedder fitted on the pool)."""
    pool = _Pool()
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
