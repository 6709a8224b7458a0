"""``curate``: pool → candidate items, in one pass over the pool plus in-memory vector work.

Stages (each counted in the :class:`~builder.curate.report.CurationReport`):

1. read the pool in record-id order, in chunks (constant memory for texts);
2. quality filters (empty / too short / too long);
3. PII scan under the spec's policy (``drop`` excludes here; ``flag``/``redact`` act on items);
4. contamination: word n-gram overlap with every release in the workspace's registries,
   released items in the database and ``--against`` files; overlapping records are excluded;
5. exact duplicates (normalised text) collapse onto the first record, or onto an existing item;
6. embeddings, from the on-disk cache or the model, batched (vectors are the only per-record
   data kept for the whole pool);
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
from pathlib import Path
from typing import Any

import numpy as np

from builder.curate.dedup import ExactDeduper, close_pairs, near_duplicates
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
from builder.curate.sample import representative_sample
from builder.errors import ConfigError
from builder.readers import ReadProgress
from builder.spec import BenchmarkSpec
from builder.store.audit import log_event
from builder.store.curation import (
    NewItem,
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


class _Pool:
    """Per-record state kept for the records that reach the embedding stage."""

    def __init__(self) -> None:
        self.record_id: list[int] = []
        self.source_id: list[str] = []
        self.stratum: list[str | None] = []
        self.existing: list[bool] = []
        self.dups: dict[int, list[str]] = {}
        """Record id → source ids of the exact duplicates it absorbed."""
        self.vectors: list[np.ndarray] = []


def _resolve_embedder(embedder: str | Embedder | None, spec: BenchmarkSpec, seed: int) -> Embedder:
    if embedder is None or isinstance(embedder, str):
        return get_embedder(embedder or spec.curation.embedder, seed=seed)
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
    """
    started = time.perf_counter()
    stages: dict[str, float] = {}
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

    tick = time.perf_counter()
    model = _resolve_embedder(embedder, spec, seed)
    fit_model = model if isinstance(model, FittableEmbedder) else None
    fittable = fit_model is not None
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
    stages["load"] = time.perf_counter() - tick

    # Existing items win their exact-duplicate group, whatever the record order.
    dedup = ExactDeduper()
    for rid in sorted(seeded):
        dedup.add(rid, seeded[rid][1])
    pool = _Pool()
    pos_of: dict[int, int] = {}
    cache: EmbeddingCache | None = (
        None if fittable else EmbeddingCache(ws.settings.embedding_cache, model.model_id, model.dim)
    )
    rng = np.random.default_rng(seed)
    reservoir: list[str] = []
    scanned = embedded_done = 0
    tick = time.perf_counter()
    embed_seconds = 0.0
    with ws.db.session() as s:
        for chunk in iter_pool(s, bench.id, chunk=CHUNK, strata_field=cfg.strata_field):
            texts: list[str] = []
            for row in chunk:
                is_item = row.id in existing
                if not is_item:
                    problem = quality_problem(
                        row.text, min_chars=cfg.min_chars, max_chars=cfg.max_chars
                    )
                    if problem:
                        report.filtered[problem] += 1
                        continue
                    outcome = apply_pii_policy(row.text, cfg.pii)
                    if outcome.flags:
                        report.pii_records += 1
                        for kind, n in outcome.flags["kinds"].items():
                            report.pii[kind] = report.pii.get(kind, 0) + n
                    if not outcome.keep:
                        report.pii_dropped += 1
                        continue
                    if index is not None:
                        hit = index.match(row.text)
                        if hit is not None:
                            report.contaminated.append(
                                {
                                    "source_id": row.source_id,
                                    "source": hit.source,
                                    "shared": hit.shared,
                                    "total": hit.total,
                                }
                            )
                            continue
                    earlier = dedup.add(row.id, row.text)
                    if earlier is not None:
                        report.exact_duplicates += 1
                        pool.dups.setdefault(earlier, []).append(row.source_id)
                        continue
                pos_of[row.id] = len(pool.record_id)
                pool.record_id.append(row.id)
                pool.source_id.append(row.source_id)
                pool.stratum.append(row.stratum)
                pool.existing.append(is_item)
                texts.append(row.text)
                if fit_model is not None:
                    cap = fit_model.max_fit_texts
                    _fit_sample(rng, reservoir, len(pool.record_id), row.text, cap)
            scanned += len(chunk)
            if progress:
                progress("scan pool", ReadProgress(scanned, report.pool))
            if not fittable and texts:
                t_embed = time.perf_counter()
                vecs, n_new = _embed_chunk(model, texts, cache, progress, embedded_done)
                embed_seconds += time.perf_counter() - t_embed
                embedded_done += len(texts)
                report.embedded += n_new
                pool.vectors.append(vecs)
    stages["scan"] = time.perf_counter() - tick - embed_seconds
    if fit_model is not None:
        tick = time.perf_counter()
        fit_model.fit(reservoir)
        del reservoir
        cache = EmbeddingCache(ws.settings.embedding_cache, model.model_id, model.dim)
        wanted = set(pool.record_id)
        with ws.db.session() as s:
            for chunk in iter_pool(s, bench.id, chunk=CHUNK):
                texts = [r.text for r in chunk if r.id in wanted]
                if texts:
                    vecs, n_new = _embed_chunk(model, texts, cache, progress, embedded_done)
                    embedded_done += len(texts)
                    report.embedded += n_new
                    pool.vectors.append(vecs)
        embed_seconds += time.perf_counter() - tick
    stages["embed"] = embed_seconds
    report.embedder = model.model_id
    n = len(pool.record_id)
    report.cached = n - report.embedded
    x = np.concatenate(pool.vectors) if pool.vectors else np.zeros((0, model.dim), np.float32)
    pool.vectors = []

    tick = time.perf_counter()
    existing_m = np.asarray(pool.existing, dtype=bool)
    nd = near_duplicates(x, cfg.near_duplicate_threshold, seed=seed, protected=existing_m)
    dups = {pos_of[rid]: sids for rid, sids in pool.dups.items()}
    mass = np.ones(n, dtype=np.float64)
    for p, sids in dups.items():
        mass[p] += len(sids)
    siblings: dict[int, list[int]] = {}
    for members in nd.groups:
        rep = int(members[0])
        for m in members[1:]:
            if not nd.keep[m]:
                mass[rep] += mass[m]
                mass[m] = 0
        for m in members:
            siblings[int(m)] = [int(o) for o in members if o != m]
    report.near_duplicates = int((~nd.keep).sum())
    report.duplicate_groups = len(nd.groups) + sum(1 for p in dups if p not in siblings)
    stages["near_duplicates"] = time.perf_counter() - tick

    tick = time.perf_counter()
    eligible = np.flatnonzero(nd.keep)
    report.after_dedup = len(eligible)
    statuses = [existing[pool.record_id[i]].status if pool.existing[i] else None for i in eligible]
    held = np.array(
        [st is not None and st != ItemStatus.rejected.value for st in statuses], dtype=bool
    )
    pickable = ~existing_m[eligible]
    report.held = int(held.sum())
    xe = x[eligible]
    strata = [pool.stratum[i] or "(missing)" for i in eligible] if cfg.strata_field else None
    result = representative_sample(
        xe,
        size,
        seed=seed,
        held=held,
        pickable=pickable,
        strata=strata,
        min_per_stratum=cfg.min_per_stratum,
        k=cfg.clusters,
        mass=mass[eligible],
    )
    # A near-duplicate pair the clustered search missed must not end up in the sample.
    for _ in range(5):
        sample = np.flatnonzero(held | np.isin(np.arange(len(eligible)), result.picks))
        bad = {
            int(sample[j])
            for i, j in close_pairs(xe[sample], cfg.near_duplicate_threshold)
            if not held[sample[j]]
        }
        if not bad:
            break
        pickable[list(bad)] = False
        report.near_duplicates += len(bad)
        result = representative_sample(
            xe,
            size,
            seed=seed,
            held=held,
            pickable=pickable,
            strata=strata,
            min_per_stratum=cfg.min_per_stratum,
            k=cfg.clusters,
            mass=mass[eligible],
        )
    stages["sample"] = time.perf_counter() - tick
    report.k = result.k
    report.clusters = result.clusters
    report.strata = result.strata
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
        items: list[NewItem] = []
        for e_idx, p in zip(result.picks, picks, strict=True):
            rid = pool.record_id[p]
            outcome = apply_pii_policy(texts_of[rid][1], cfg.pii)
            flags: dict[str, Any] = {}
            if outcome.flags:
                flags["pii"] = outcome.flags
            sibs = [pool.source_id[o] for o in siblings.get(p, [])]
            for o in [p, *siblings.get(p, [])]:
                sibs.extend(dups.get(o, []))
            if sibs:
                flags["near_duplicates"] = sibs[:MAX_SIBLINGS]
                if len(sibs) > MAX_SIBLINGS:
                    flags["near_duplicates_total"] = len(sibs)
            items.append(
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
        add_items(s, benchmark_id=bench.id, run_id=run_id, items=items)
        update_item_placement(
            s,
            [
                (
                    existing[pool.record_id[eligible[i]]].id,
                    int(result.cluster[i]),
                    float(result.weight[i]),
                )
                for i in np.flatnonzero(held)
                if existing[pool.record_id[eligible[i]]].status != ItemStatus.released.value
            ],
        )
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


def _embed_chunk(
    model: Embedder,
    texts: list[str],
    cache: EmbeddingCache | None,
    progress: Progress | None,
    done_before: int,
) -> tuple[np.ndarray, int]:
    done = 0

    def on_batch(k: int) -> None:
        nonlocal done
        done += k
        if progress:
            progress("embed", ReadProgress(done_before + done, done_before + len(texts)))

    return embed_texts(model, texts, cache=cache, on_batch=on_batch)
