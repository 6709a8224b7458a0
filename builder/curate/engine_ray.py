"""The Ray engine: curation's scanning, embedding and pair search on a Ray cluster.

``curate --engine ray`` (spec ``curation.engine: ray``) runs the stages that grow with the
pool on a Ray cluster, with Ray Data, and decides on the driver with the same code as the
local engine (:mod:`builder.curate.engine`):

1. **scan** — the pool is cut into record-id ranges; ``map_batches`` tasks read their range
   from the database themselves (every worker opens the database URL) and run the quality
   filters, the PII scan and the contamination check, and hash the normalised text
   (:func:`~builder.curate.dedup.exact_key`). Only those facts travel back, not the texts.
2. **exact duplicates** — grouped on the driver by that 16-byte hash, first record (existing
   items first) wins: the local rule, on 16 bytes a record.
3. **embed** — the ranges again, through an actor pool (``ActorPoolStrategy``, one actor per
   CPU): each actor loads the model once, reads its ranges, embeds the records that passed,
   from and into the shared embedding cache (one folder keyed by model id + text hash, the
   workspace's, which every worker on this machine or a shared file system reads).
4. **near duplicates** — the local search itself
   (:func:`~builder.curate.pair_search.near_duplicates`): its cells are planned on the
   driver, each group of cells is searched by a Ray task, and the pairs gathered there go
   through the same keep rule and the same checks, so both engines find the same pairs and
   remove the same records.

Sampling (k-means + facility location on the de-duplicated set) and writing stay on the
driver, unchanged. Ray connects as ``ray.init`` does: ``--ray-address``, else
``RAY_ADDRESS``, else a running local cluster, else a new one inside this process; the
connection is kept for the rest of the process. Image pools (perceptual hashes) and the
scan cache of the local engine are not used here: an image spec asks for ``--engine local``.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from builder.curate import ray_workers as rw
from builder.curate.dedup import ExactDeduper
from builder.curate.embed import Embedder, FittableEmbedder
from builder.curate.scan import ScannedPool
from builder.errors import ConfigError
from builder.readers import ReadProgress
from builder.store.pool import pool_id_span, record_texts

if TYPE_CHECKING:
    from builder.curate.cell_search import Found, SearchPlan
    from builder.curate.pair_search import NearDuplicates
    from builder.curate.report import CurationReport
    from builder.curate.scan import Progress, Scanner
    from builder.spec import CurationSpec
    from builder.workspace import Workspace

__all__ = ["RayEngine", "ray_ranges"]

_INSTALL = "pip install 'benchsmith[ray]'"


def ray_ranges(
    lo: int, hi: int, count: int, workers: int, *, most: int = 8192, least: int = 256
) -> list[dict[str, int]]:
    """Record-id ranges ``{"lo", "hi"}`` (inclusive) covering ``lo..hi``, about ``count /
    (4 × workers)`` records each (between ``least`` and ``most``), so every worker gets
    work; ids of other benchmarks in between make some ranges lighter."""
    per = max(least, min(most, math.ceil(count / max(1, 4 * workers))))
    n = max(1, math.ceil(count / per))
    span = max(1, math.ceil((hi - lo + 1) / n))
    return [{"lo": a, "hi": min(hi, a + span - 1)} for a in range(lo, hi + 1, span)]


_CONNECTED: dict[str, str] = {}
"""The address this process connected to (``{"address": …}``), once it has."""


class RayEngine:
    """Scan, embed and pair search on a Ray cluster; decisions on the driver."""

    name = "ray"

    def __init__(self, *, address: str | None = None) -> None:
        try:
            import ray
            import ray.data  # noqa: F401
        except ImportError as e:
            raise ConfigError(
                f"--engine ray needs Ray Data, which is not installed ({e}); install it with: "
                f"{_INSTALL} (or use --engine local)"
            ) from None
        self.address = address
        self.workers = 1

    def _connect(self) -> None:
        import ray
        import ray.data

        if self.address:
            _check_reachable(self.address)
            if ray.is_initialized() and not _same_cluster(self.address):
                ray.shutdown()  # connected elsewhere earlier in this process
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.address,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ConfigError(
                    f"cannot connect to the Ray cluster at {self.address or '(RAY_ADDRESS)'}: "
                    f"{e}; start one with `ray start --head` or fix --ray-address / RAY_ADDRESS"
                ) from None
            if self.address:
                _CONNECTED["address"] = self.address
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # progress goes through curate's own callback
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def scan_and_embed(
        self,
        ws: Workspace,
        benchmark_id: int,
        cfg: CurationSpec,
        model: Embedder,
        scanner: Scanner,
        seed: int,
        report: CurationReport,
        stages: dict[str, float],
        progress: Progress | None,
        **kw: Any,
    ) -> ScannedPool:
        """Stages 1–6 on the cluster (see the module docstring); same ScannedPool and report
        counts as :func:`builder.curate.scan.scan_and_embed`. ``store`` (a
        :class:`~builder.curate.vector_store.VectorStore`) receives the vectors when given."""
        import ray

        if type(scanner.dedup) is not ExactDeduper:
            raise ConfigError(
                "the ray engine handles text pools; image fields (perceptual-hash "
                "de-duplication) need --engine local"
            )
        self._connect()
        tick = time.perf_counter()
        with ws.db.session() as s:
            span = pool_id_span(s, benchmark_id)
        if span is None:
            return ScannedPool()
        ranges = ray_ranges(span[0], span[1], report.pool, self.workers)
        job = rw.Job(
            db_url=ws.settings.database_url,
            benchmark_id=benchmark_id,
            strata_field=cfg.strata_field,
            min_chars=cfg.min_chars,
            max_chars=cfg.max_chars,
            pii=cfg.pii,
            existing=frozenset(scanner.existing),
            index=scanner.index,
        )
        job_ref = ray.put(job)
        facts = self._scan(ranges, job_ref, report.pool, progress)
        pool = _decide(facts, scanner, report)
        stages["scan"] = time.perf_counter() - tick

        tick = time.perf_counter()
        if isinstance(model, FittableEmbedder):
            _fit(ws, model, pool, seed)
        x, report.embedded = self._embed(ws, ranges, job_ref, model, pool, progress)
        store = kw.get("store")
        # A fitted embedder (tfidf) learns its size from the pool: a store made before the
        # fit may not match it, and the local engine keeps those vectors in memory too.
        if store is not None and len(x) and getattr(store, "dim", None) == x.shape[1]:
            store.write(0, x)
            pool.store = store
        else:
            pool.vectors = [x] if len(x) else []
        report.cached = len(pool.record_id) - report.embedded
        stages["embed"] = time.perf_counter() - tick
        return pool

    def _scan(
        self, ranges: list[dict[str, int]], job_ref: Any, total: int, progress: Progress | None
    ) -> dict[str, np.ndarray]:
        import ray.data

        ds = ray.data.from_items(ranges, override_num_blocks=len(ranges)).map_batches(
            rw.scan_batch,  # type: ignore[arg-type]  # Ray's stubs miss fn_kwargs functions
            fn_kwargs={"job_ref": job_ref},
            batch_size=1,
        )
        parts: list[dict[str, np.ndarray]] = []
        done = 0
        for batch in _batches(ds):
            parts.append(batch)
            done += len(batch["id"])
            if progress:
                progress("scan pool", ReadProgress(done, total, rows=done))
        facts = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(facts["id"], kind="stable")
        return {k: v[order] for k, v in facts.items()}

    def _embed(
        self,
        ws: Workspace,
        ranges: list[dict[str, int]],
        job_ref: Any,
        model: Embedder,
        pool: ScannedPool,
        progress: Progress | None,
    ) -> tuple[np.ndarray, int]:
        import ray
        import ray.data

        wanted = np.asarray(pool.record_id, dtype=np.int64)
        n = len(wanted)
        x = np.zeros((n, model.dim), dtype=np.float32)
        if n == 0:
            return x, 0
        ds = ray.data.from_items(ranges, override_num_blocks=len(ranges)).map_batches(
            rw.EmbedActor,
            fn_constructor_kwargs={
                "job_ref": job_ref,
                "model_ref": ray.put(model),
                "wanted_ref": ray.put(wanted),
                "cache_root": str(ws.settings.embedding_cache),
            },
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(ranges))),
            batch_size=1,
        )
        done = encoded = 0
        for batch in _batches(ds):
            ids = batch["id"]
            if len(ids) == 0:
                continue
            x[np.searchsorted(wanted, ids)] = batch["vector"]
            encoded += int(batch["encoded"].sum())
            done += len(ids)
            if progress:
                progress("embed", ReadProgress(done, n, rows=done))
        return x, encoded

    def near_duplicates(
        self,
        x: np.ndarray,
        threshold: float,
        *,
        seed: int,
        protected: np.ndarray | None = None,
        lengths: np.ndarray | Sequence[int] | None = None,
    ) -> NearDuplicates:
        """Stage 7: :func:`builder.curate.pair_search.near_duplicates` with each search's
        groups of cells run as Ray tasks (the vectors and the plan shipped once per search
        through the object store), the keep rule on the driver: the same pairs, so the same
        outcome as the local engine. Raises ValueError for a threshold outside (0, 1]."""
        import ray

        from builder.curate.pair_search import near_duplicates

        self._connect()
        task = ray.remote(rw.group_task)

        def run(xs: np.ndarray, plan: SearchPlan) -> Iterator[tuple[int, Found]]:
            x_ref, plan_ref = ray.put(xs), ray.put(plan)
            groups = plan.groups(at_least=2 * self.workers)  # every worker busy
            futures = [task.remote(x_ref, plan_ref, lo, hi) for lo, hi in groups]
            for (_, hi), found in zip(groups, futures, strict=True):
                yield hi, ray.get(found)

        return near_duplicates(
            x, threshold, seed=seed, protected=protected, lengths=lengths, run=run
        )


def _batches(ds: Any) -> Iterator[dict[str, np.ndarray]]:
    yield from ds.iter_batches(batch_size=None, batch_format="numpy")


def _same_cluster(address: str) -> bool:
    # Ray reports the head's own IP, not the address dialled: remember what we dialled.
    return _CONNECTED.get("address") in (None, address)


def _check_reachable(address: str) -> None:
    """Fail fast, naming the address, when nothing listens there (``ray.init`` would retry
    for a minute). ``auto``, ``local`` and ``ray://`` client addresses are left to Ray."""
    if address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--ray-address {address!r} is not HOST:PORT; pass the head node's GCS address, "
            "e.g. 127.0.0.1:6379 (what `ray start --head` prints)"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(
            f"no Ray cluster answers at --ray-address {address!r} ({e}); start one with "
            "`ray start --head` or fix --ray-address / RAY_ADDRESS"
        ) from None


def _decide(facts: dict[str, np.ndarray], scanner: Scanner, report: CurationReport) -> ScannedPool:
    """Counts and exact duplicates from the workers' facts, in record-id order: the local
    :class:`~builder.curate.scan.Scanner`'s bookkeeping, so reports and pools match."""
    pool = ScannedPool()
    first: dict[bytes, int] = {}
    ids, sids = facts["id"].tolist(), facts["source_id"].tolist()
    existing, keys = facts["existing"].tolist(), facts["key"].tolist()
    stage, pii, contam = facts["stage"].tolist(), facts["pii"].tolist(), facts["contam"].tolist()
    strata, lengths = facts["stratum"].tolist(), facts["length"].tolist()
    # Existing items win their exact-duplicate group, whatever the record order (as local).
    for i in np.flatnonzero(facts["existing"]).tolist():
        first.setdefault(bytes(keys[i]), ids[i])
    for i, rid in enumerate(ids):
        sid = str(sids[i])
        if not existing[i]:
            code = stage[i]
            if code in rw.REASON:
                report.filtered[rw.REASON[code]] += 1
                continue
            if pii[i]:
                report.pii_records += 1
                for kind, k in json.loads(pii[i]).items():
                    report.pii[kind] = report.pii.get(kind, 0) + k
            if code == rw.PII_DROPPED:
                report.pii_dropped += 1
                continue
            if code == rw.CONTAMINATED:
                report.contaminated.append({"source_id": sid, **json.loads(contam[i])})
                continue
            earlier = first.setdefault(bytes(keys[i]), rid)
            if earlier != rid:
                report.exact_duplicates += 1
                pool.dups.setdefault(earlier, []).append(sid)
                pool.exact.append((rid, sid, earlier))
                continue
        pool.record_id.append(rid)
        pool.source_id.append(sid)
        pool.stratum.append(strata[i])
        pool.existing.append(bool(existing[i]))
        pool.length.append(lengths[i])
    return pool


def _fit(ws: Workspace, model: FittableEmbedder, pool: ScannedPool, seed: int) -> None:
    """Fit ``model`` on the driver on the very sample the local engine draws: a seeded
    reservoir over the admitted records in pool order (which slots it fills depends only on
    the count, so it is replayed without the texts)."""
    rng = np.random.default_rng(seed)
    cap = model.max_fit_texts
    slots: list[int] = []
    for seen in range(1, len(pool.record_id) + 1):
        if len(slots) < cap:
            slots.append(seen - 1)
        else:
            j = int(rng.integers(0, seen))
            if j < cap:
                slots[j] = seen - 1
    ids = [pool.record_id[p] for p in slots]
    with ws.db.session() as s:
        texts = record_texts(s, ids)
    model.fit([texts[i][1] for i in ids])
