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
7. near duplicates: a record is removed only if a kept record has cosine ≥ threshold with it
   (greedy in keep priority, no transitive groups:
   :func:`~builder.curate.pair_search.near_duplicates`);
8. representative sampling of ``size`` new items (k-means quotas + facility location), never
   re-picking an existing or released item; items already in the benchmark anchor the sample;
9. a last all-pairs check of the sample itself, so no near-duplicate pair can slip in;
10. write the items, update existing items' cluster and weight, store the report (with every
    removed duplicate and the kept record it duplicates; a JSON Lines file under the
    workspace's ``curation/`` folder when there are over 1,000: :mod:`builder.curate.removed`),
    audit.

Stages 1–6 are :func:`~builder.curate.scan.scan_and_embed`.

Records that are already items skip stages 2–4 (they were accepted before) and are always
kept, so a top-up never adds a copy of an existing item.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from builder.curate import image_embed
from builder.curate.embed import Embedder, get_embedder, near_duplicate_threshold
from builder.curate.engine import get_engine
from builder.curate.filters import FILTER_REASONS, apply_pii_policy, contamination_index
from builder.curate.pair_search import near_duplicates_cached
from builder.curate.removed import (
    near_duplicate_examples,
    removed_rows,
    store_removed,
    threshold_examples,
)
from builder.curate.report import CurationReport, near_duplicate_rule
from builder.curate.result_cache import ResultCache, cached_pool_map, cached_sample
from builder.curate.scan import Progress, ScannedPool, Scanner
from builder.curate.scan_cache import ScanCache
from builder.curate.vector_store import VectorStore
from builder.domain import ItemStatus
from builder.errors import ConfigError
from builder.readers import ReadProgress
from builder.store.audit import log_event
from builder.store.items import (
    NewItem,
    add_items,
    existing_items,
    released_texts,
    update_item_placement,
)
from builder.store.pool import pool_size, record_texts
from builder.store.runs import create_run, set_run_report
from builder.workspace import Workspace, current_actor

__all__ = ["MAX_SIBLINGS", "curate"]

MAX_SIBLINGS = 100
"""Most duplicate source ids listed in an item's ``near_duplicates`` flag."""


def _resolve_embedder(embedder: str | Embedder | None, default: str, seed: int) -> Embedder:
    if embedder is None or isinstance(embedder, str):
        return get_embedder(embedder or default, seed=seed)
    return embedder


def curate(
    ws: Workspace,
    *,
    benchmark: str | None = None,
    size: int | None = None,
    seed: int | None = None,
    embedder: str | Embedder | None = None,
    against: Sequence[str | Path] = (),
    progress: Progress | None = None,
    engine: str | None = None,
    ray_address: str | None = None,
) -> CurationReport:
    """Pick ``size`` new candidate items (default: the spec's ``curation.size``) and report why.

    ``embedder`` is a name (minilm | static | tfidf), a model folder, or a loaded
    :class:`~builder.curate.embed.Embedder`; ``against`` adds files to check contamination
    against (besides the spec's ``curation.contamination.against`` and every release).
    ``progress(stage, ReadProgress)`` is called as the pool is scanned and embedded.
    ``engine`` (``local`` | ``ray``, default the spec's ``curation.engine``) runs the scan,
    embedding and pair search (:mod:`builder.curate.engine`); ``ray_address`` names the Ray
    cluster. Both engines decide with the same rules.
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
        seed=seed,
        strata_field=cfg.strata_field,
        filtered=dict.fromkeys(FILTER_REASONS, 0),
    )
    stages: dict[str, float] = {}
    tick = time.perf_counter()
    model = image_embed.embedder_for(
        embedder or cfg.embedder, ws.settings.home
    ) or _resolve_embedder(embedder, cfg.embedder, seed)
    # Unset in the spec: the embedder's calibrated default (each model's cosine scale differs).
    threshold, report.near_duplicate_threshold_source = near_duplicate_threshold(
        cfg.near_duplicate_threshold, model
    )
    cfg = cfg.model_copy(update={"near_duplicate_threshold": threshold})  # for helpers given cfg
    report.near_duplicate_threshold = threshold
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
    dedup = image_embed.deduper_for(spec)
    for rid in sorted(seeded):
        dedup.add(rid, seeded[rid][1])
    stages["load"] = time.perf_counter() - tick

    eng = get_engine(engine or cfg.engine, ray_address=ray_address)
    # scikit-learn (k-means for sampling) takes about a second to import: do it while the
    # pool is scanned and embedded, not after.
    threading.Thread(target=importlib.import_module, args=("sklearn.cluster",), daemon=True).start()
    pool = eng.scan_and_embed(
        ws,
        bench.id,
        cfg,
        model,
        Scanner(cfg, report, existing, index, dedup),
        seed,
        report,
        stages,
        progress,
        facts=ScanCache.for_spec(ws.settings.scan_cache, spec),
        store=VectorStore(ws.settings.home / "curation", report.pool, model.dim),
    )
    x = pool.matrix(model.dim)  # memory-mapped: the vectors stay on disk, not in RAM
    pool.vectors = []
    report.embedder = model.model_id

    tick = time.perf_counter()
    existing_m = np.asarray(pool.existing, dtype=bool)
    # A rerun over the same vectors reads the outcome back (keyed by every input).
    memo = ResultCache(ws.settings.home / "curation" / "cache")
    nd = near_duplicates_cached(
        memo,
        x,
        threshold,
        seed=seed,
        protected=existing_m,
        lengths=pool.length,
        compute=None if eng.name == "local" else eng.near_duplicates,
        engine=eng.name,
        progress=_stage_progress(progress, "near duplicates"),
    )
    _done(progress, "near duplicates", len(x))
    pos_of = {rid: p for p, rid in enumerate(pool.record_id)}
    dups = {pos_of[rid]: sids for rid, sids in pool.dups.items()}
    mass = np.ones(len(x), dtype=np.float64)
    for p, sids in dups.items():
        mass[p] += len(sids)
    # A removed record's weight (with its exact duplicates') goes to the kept record it
    # duplicates, which is never itself removed.
    gone = nd.removed
    np.add.at(mass, nd.duplicate_of[gone], mass[gone])
    mass[gone] = 0
    groups = nd.groups
    group_of = nd.group_of()
    report.near_duplicates = len(gone)
    if isinstance(dedup, image_embed.PerceptualDeduper):  # phash matches were counted as exact
        report.exact_duplicates -= dedup.perceptual
        report.near_duplicates += dedup.perceptual
    report.duplicate_groups = len(groups) + sum(1 for p in dups if p not in group_of)
    report.near_duplicate_rule = near_duplicate_rule(threshold)
    report.pair_search = {"pairs": nd.pairs, "searches": nd.searches, "verified": nd.verified}
    removed = removed_rows(pool, nd, pos_of)
    stages["near_duplicates"] = time.perf_counter() - tick

    tick = time.perf_counter()
    eligible = np.flatnonzero(nd.keep)
    _done(progress, "sample", 0, len(eligible))
    report.after_dedup = len(eligible)
    status = [existing[pool.record_id[i]].status if pool.existing[i] else None for i in eligible]
    held = np.array([s is not None and s != ItemStatus.rejected for s in status], dtype=bool)
    report.held = int(held.sum())
    xe = x[eligible]
    result, dropped = cached_sample(
        memo,
        xe,
        size,
        threshold=threshold,
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
    report.sample_check_dropped = dropped
    report.after_dedup -= dropped
    stages["sample"] = time.perf_counter() - tick
    _done(progress, "sample", len(eligible))
    report.k, report.clusters, report.strata = result.k, result.clusters, result.strata
    picks = [int(eligible[p]) for p in result.picks]
    report.selected = [pool.source_id[p] for p in picks]
    report.weights_total = round(float(result.weight.sum()), 6)

    tick = time.perf_counter()
    selected_m = np.zeros(len(eligible), dtype=bool)
    selected_m[result.picks] = True
    report.map = cached_pool_map(
        memo,
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
            sibs, total = _siblings(p, pool, groups, group_of, dups)
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
        _done(progress, "write", 0, len(new_items))
        add_items(s, benchmark_id=bench.id, run_id=run_id, items=new_items)
        # Earlier items now stand for their cells of this clustering; released ones keep the
        # weight they were released with.
        placements = []
        for i in np.flatnonzero(held):
            item = existing[pool.record_id[eligible[i]]]
            if item.status != ItemStatus.released:
                placements.append((item.id, int(result.cluster[i]), float(result.weight[i])))
        update_item_placement(s, placements)
        report.near_duplicate_examples = near_duplicate_examples(s, pool, nd)
        report.threshold_examples = threshold_examples(
            s, pool, nd, x, threshold, seed=seed, cache=memo
        )
        store_removed(report, removed, ws.settings.home, run_id)
        stages["write"] = time.perf_counter() - tick
        _done(progress, "write", len(new_items))
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


def _stage_progress(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    """``progress`` for one stage as a (done, total) callback."""
    if progress is None:
        return None
    return lambda done, total: progress(stage, ReadProgress(done, total))


def _done(progress: Progress | None, stage: str, done: int, total: int | None = None) -> None:
    """Report ``done`` of ``total`` (default: ``done``, the stage is over) records."""
    if progress is not None:
        progress(stage, ReadProgress(done, done if total is None else total))


def _siblings(
    p: int,
    pool: ScannedPool,
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
