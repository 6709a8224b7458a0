"""What the Ray engine's workers run (:mod:`builder.curate.engine_ray` ships these by
reference, so each worker imports this module): reading record-id ranges from the database,
scanning them (stages 2–4 and the exact-duplicate hash), embedding them in an actor that
loads the model once, and the pair search's task body (one group of cells,
:func:`builder.curate.cell_search.group_pairs`).
Plain functions of numpy arrays and a :class:`Job`; no Ray import at module level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from builder.curate.cell_search import Found, SearchPlan, group_pairs
from builder.curate.dedup import exact_key
from builder.curate.embed import Embedder, embed_texts
from builder.curate.embed_cache import EmbeddingCache
from builder.curate.filters import FILTER_REASONS, apply_pii_policy, quality_problem
from builder.store.pool import PoolRow, pool_rows_between

if TYPE_CHECKING:
    from builder.curate.contamination import NgramIndex
    from builder.store.db import Database

__all__ = [
    "ADMITTED",
    "CONTAMINATED",
    "PII_DROPPED",
    "REASON",
    "EmbedActor",
    "Job",
    "group_task",
    "scan_batch",
]

ADMITTED, PII_DROPPED, CONTAMINATED = 0, 4, 5
"""Stage codes of :func:`scan_batch`; 1–3 are the quality filters (:data:`REASON`)."""
_STAGE = {reason: i + 1 for i, reason in enumerate(FILTER_REASONS)}  # empty 1, short 2, long 3
REASON = {i: reason for reason, i in _STAGE.items()}
"""Stage code → quality-filter reason."""


@dataclass(frozen=True)
class Job:
    """What every worker needs to read and scan its ranges (shipped once, by reference)."""

    db_url: str
    benchmark_id: int
    strata_field: str | None
    min_chars: int
    max_chars: int
    pii: str
    existing: frozenset[int]
    index: NgramIndex | None


_DATABASES: dict[str, Database] = {}
_RESOLVED: dict[str, Any] = {}


def _database(url: str) -> Database:
    from builder.store.db import Database

    if url not in _DATABASES:  # one engine per worker process
        _DATABASES[url] = Database(url, migrate=False)
    return _DATABASES[url]


def _get(ref: Any) -> Any:
    """``ray.get`` once per worker process for a reference passed inside a batch function's
    arguments (Ray Data passes those as they are)."""
    import ray

    key = ref.hex()
    if key not in _RESOLVED:
        _RESOLVED[key] = ray.get(ref)
    return _RESOLVED[key]


def _read(job: Job, lo: int, hi: int) -> list[PoolRow]:
    # Read, then close the session before the CPU work: on SQLite a session holds the lock.
    with _database(job.db_url).session() as s:
        return pool_rows_between(s, job.benchmark_id, lo, hi, strata_field=job.strata_field)


def scan_batch(batch: dict[str, np.ndarray], job_ref: Any) -> dict[str, np.ndarray]:
    """Stages 2–4 and the exact-duplicate hash for the records of each range in ``batch``."""
    job: Job = _get(job_ref)
    ids: list[int] = []
    sids: list[str] = []
    strata: list[str | None] = []
    lengths: list[int] = []
    existing: list[bool] = []
    stage: list[int] = []
    pii: list[str] = []
    contam: list[str] = []
    keys: list[bytes] = []
    for lo, hi in zip(batch["lo"].tolist(), batch["hi"].tolist(), strict=True):
        for row in _read(job, lo, hi):
            ids.append(row.id)
            sids.append(row.source_id)
            strata.append(row.stratum)
            lengths.append(len(row.text))
            is_item = row.id in job.existing
            existing.append(is_item)
            code, kinds, hit = _scan_one(job, row.text) if not is_item else (ADMITTED, "", "")
            stage.append(code)
            pii.append(kinds)
            contam.append(hit)
            keys.append(exact_key(row.text) if code == ADMITTED else b"")
    return {
        "id": np.asarray(ids, dtype=np.int64),
        "source_id": np.asarray(sids, dtype=object),
        "stratum": np.asarray(strata, dtype=object),
        "length": np.asarray(lengths, dtype=np.int64),
        "existing": np.asarray(existing, dtype=bool),
        "stage": np.asarray(stage, dtype=np.int8),
        "pii": np.asarray(pii, dtype=object),
        "contam": np.asarray(contam, dtype=object),
        "key": np.asarray(keys, dtype=object),
    }


def _scan_one(job: Job, text: str) -> tuple[int, str, str]:
    """(stage code, PII kinds as JSON or "", contamination hit as JSON or "") — the local
    :class:`~builder.curate.scan.Scanner`'s stages 2–4, in its order."""
    problem = quality_problem(text, min_chars=job.min_chars, max_chars=job.max_chars)
    if problem:
        return _STAGE[problem], "", ""
    outcome = apply_pii_policy(text, job.pii)  # type: ignore[arg-type]
    kinds = json.dumps(outcome.flags["kinds"]) if outcome.flags else ""
    if not outcome.keep:
        return PII_DROPPED, kinds, ""
    if job.index is not None:
        hit = job.index.match(text)
        if hit is not None:
            where = {"source": hit.source, "shared": hit.shared, "total": hit.total}
            return CONTAMINATED, kinds, json.dumps(where)
    return ADMITTED, kinds, ""


class EmbedActor:
    """Embeds the wanted records of each range; one per worker, the model loaded once."""

    def __init__(self, job_ref: Any, model_ref: Any, wanted_ref: Any, cache_root: str) -> None:
        import ray

        self.job: Job = ray.get(job_ref)
        self.model: Embedder = ray.get(model_ref)
        self.wanted: np.ndarray = ray.get(wanted_ref)
        self.cache = EmbeddingCache(Path(cache_root), self.model.model_id, self.model.dim)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids: list[int] = []
        texts: list[str] = []
        for lo, hi in zip(batch["lo"].tolist(), batch["hi"].tolist(), strict=True):
            for row in _read(self.job, lo, hi):
                at = int(np.searchsorted(self.wanted, row.id))
                if at < len(self.wanted) and self.wanted[at] == row.id:
                    ids.append(row.id)
                    texts.append(row.text)
        vecs, n_new = embed_texts(self.model, texts, cache=self.cache)
        encoded = np.zeros(len(ids), dtype=np.int64)
        if len(ids):
            encoded[0] = n_new  # per batch: carried on its first row
        return {"id": np.asarray(ids, dtype=np.int64), "vector": vecs, "encoded": encoded}


def group_task(x: np.ndarray, plan: SearchPlan, lo: int, hi: int) -> Found:
    """Ray task body: :func:`~builder.curate.cell_search.group_pairs`."""
    return group_pairs(x, plan, lo, hi)
