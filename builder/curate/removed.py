"""The removed duplicates in a curation report: one row per record removed as an exact or
near duplicate, the near duplicates closest to the threshold (with both texts), the pairs on
both sides of the threshold (:func:`threshold_examples`), and where the rows go (inline in
the report, or a JSON Lines file under the workspace's ``curation/`` folder when there are
over :data:`~builder.curate.report.REMOVED_INLINE`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from builder.curate.keep_rule import Kept
from builder.curate.report import EXAMPLES, REMOVED_INLINE, CurationReport
from builder.curate.result_cache import ResultCache, code_version, digest
from builder.fsutil import write_text_atomic
from builder.store.pool import record_texts

if TYPE_CHECKING:
    from sqlmodel import Session

    from builder.curate.scan import ScannedPool

__all__ = [
    "KEPT_PROBE_BUDGET",
    "near_duplicate_examples",
    "removed_rows",
    "store_removed",
    "threshold_examples",
]

KEPT_PROBE_BUDGET = 2_000_000_000
"""Most multiply-adds spent looking for the kept pairs just below the threshold: the kept
records probed × kept records × dimensions (about a second of BLAS on two cores)."""


def removed_rows(pool: ScannedPool, nd: Kept, pos_of: dict[int, int]) -> list[dict[str, Any]]:
    """One row per record removed as an exact or near duplicate, in pool (record id) order."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for p in nd.removed.tolist():
        row = {
            "source_id": pool.source_id[p],
            "kind": "near",
            "duplicate_of": pool.source_id[int(nd.duplicate_of[p])],
            "cosine": round(float(nd.similarity[p]), 4),
        }
        rows.append((pool.record_id[p], row))
    for rid, sid, earlier in pool.exact:
        twin = pool.source_id[pos_of[earlier]]
        row = {"source_id": sid, "kind": "exact", "duplicate_of": twin, "cosine": None}
        rows.append((rid, row))
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


def near_duplicate_examples(s: Session, pool: ScannedPool, nd: Kept) -> list[dict[str, Any]]:
    """The EXAMPLES removed near duplicates closest to the threshold, with both texts."""
    gone = nd.removed
    closest = gone[np.argsort(nd.similarity[gone], kind="stable")[:EXAMPLES]]
    pairs = [(int(p), int(nd.duplicate_of[p])) for p in closest]
    texts = record_texts(s, [pool.record_id[q] for pair in pairs for q in pair])
    return [
        {
            "source_id": pool.source_id[p],
            "text": _clip(texts[pool.record_id[p]][1]),
            "duplicate_of": pool.source_id[k],
            "duplicate_of_text": _clip(texts[pool.record_id[k]][1]),
            "cosine": round(float(nd.similarity[p]), 4),
        }
        for p, k in pairs
    ]


def threshold_examples(
    s: Session,
    pool: ScannedPool,
    nd: Kept,
    x: np.ndarray,
    threshold: float,
    *,
    seed: int,
    cache: ResultCache | None = None,
) -> list[dict[str, Any]]:
    """Up to EXAMPLES pairs whose cosine is closest to ``threshold``, from both sides.

    Above (``side`` ``removed``): removed near duplicates and the kept record they duplicate,
    lowest cosine first. Below (``side`` ``kept``): each of a seeded sample of kept records
    (as many as :data:`KEPT_PROBE_BUDGET` allows, at most 2,048) with its most similar other
    kept record; the pairs with the highest cosine. Up to 3 from above and the rest from
    below, filled from the other side when one is short; returned highest cosine first.
    ``x``: the (n, d) unit vectors of ``pool`` in its order; ``cache``: where the pairs below
    are read from (or stored) for these exact inputs, so a rerun does not search again.
    """
    gone = nd.removed
    above = gone[np.argsort(nd.similarity[gone], kind="stable")[:EXAMPLES]]
    pairs_above = [(int(p), int(nd.duplicate_of[p]), float(nd.similarity[p])) for p in above]
    pairs_below = _closest_kept_pairs_cached(cache, x, nd.keep, threshold, seed=seed)
    n_above = min(len(pairs_above), max(EXAMPLES - len(pairs_below), (EXAMPLES + 1) // 2))
    chosen = [("removed", *t) for t in pairs_above[:n_above]]
    chosen += [("kept", *t) for t in pairs_below[: EXAMPLES - n_above]]
    chosen.sort(key=lambda c: -c[3])
    texts = record_texts(s, [pool.record_id[q] for c in chosen for q in c[1:3]])
    return [
        {
            "side": side,
            "source_id": pool.source_id[p],
            "text": _clip(texts[pool.record_id[p]][1]),
            "other": pool.source_id[k],
            "other_text": _clip(texts[pool.record_id[k]][1]),
            "cosine": round(cos, 4),
        }
        for side, p, k, cos in chosen
    ]


def _closest_kept_pairs_cached(
    cache: ResultCache | None, x: np.ndarray, keep: np.ndarray, threshold: float, *, seed: int
) -> list[tuple[int, int, float]]:
    """:func:`_closest_kept_pairs`, read from ``cache`` when it holds them for exactly these
    inputs (and this code), else computed and stored there (a rerun: 0.2 s of 117,000)."""
    if cache is None:
        return _closest_kept_pairs(x, keep, threshold, seed=seed)
    key = digest(
        "closest-kept-v1",
        code_version("builder.curate.removed"),
        x,
        np.asarray(keep, dtype=bool),
        threshold,
        seed,
    )
    hit = cache.get("closest", key)
    if hit is not None:
        return list(zip(hit["a"].tolist(), hit["b"].tolist(), hit["cosine"].tolist(), strict=True))
    out = _closest_kept_pairs(x, keep, threshold, seed=seed)
    cache.put(
        "closest",
        key,
        {
            "a": np.array([t[0] for t in out], dtype=np.int64),
            "b": np.array([t[1] for t in out], dtype=np.int64),
            "cosine": np.array([t[2] for t in out], dtype=np.float64),
        },
    )
    return out


def _closest_kept_pairs(
    x: np.ndarray, keep: np.ndarray, threshold: float, *, seed: int
) -> list[tuple[int, int, float]]:
    """(a, b, cosine) of the EXAMPLES most similar kept pairs below ``threshold`` found from a
    seeded sample of kept records (each paired with its nearest other kept record).

    ``x`` may be memory-mapped: it is read in blocks of _BLOCK rows, never copied whole.
    """
    kept = np.flatnonzero(keep)
    if len(kept) < 2 or x.shape[1] == 0:
        return []
    probes = int(min(2048, len(kept), max(16, KEPT_PROBE_BUDGET // (len(kept) * x.shape[1]))))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(kept, probes, replace=False))
    best: list[tuple[float, int, int]] = []
    for start in range(0, probes, 256):
        rows = sample[start : start + 256]
        q = np.asarray(x[rows], dtype=np.float32)
        top = np.full(len(rows), -np.inf, dtype=np.float32)
        arg = np.zeros(len(rows), dtype=np.int64)
        for lo in range(0, len(x), _BLOCK):
            hi = min(lo + _BLOCK, len(x))
            sims = q @ np.asarray(x[lo:hi], dtype=np.float32).T
            # Only kept records, not a record with itself, and nothing at or above the
            # threshold (kept pairs are below it by the rule; equal vectors sit at 1.0).
            sims[:, ~keep[lo:hi]] = -np.inf
            inside = (rows >= lo) & (rows < hi)
            sims[np.flatnonzero(inside), rows[inside] - lo] = -np.inf
            sims[sims >= threshold] = -np.inf
            j = sims.argmax(axis=1)
            val = sims[np.arange(len(rows)), j]
            better = val > top
            top[better], arg[better] = val[better], j[better] + lo
        for r, j, c in zip(rows.tolist(), arg.tolist(), top.tolist(), strict=True):
            if np.isfinite(c):
                best.append((c, r, j))
    best.sort(key=lambda t: -t[0])
    out: list[tuple[int, int, float]] = []
    seen: set[tuple[int, int]] = set()
    for c, a, b in best:
        key = (min(a, b), max(a, b))
        if key not in seen:
            seen.add(key)
            out.append((a, b, c))
        if len(out) == EXAMPLES:
            break
    return out


_BLOCK = 65_536
"""Pool rows compared per block in :func:`_closest_kept_pairs` (256 × 65,536 floats: 64 MiB)."""


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def store_removed(
    report: CurationReport, rows: list[dict[str, Any]], home: Path, run_id: int
) -> None:
    """Put ``rows`` (from :func:`removed_rows`) in ``report.removed``, or, when there are over
    REMOVED_INLINE, in ``home``/curation/run-``run_id``-removed.jsonl (``report.removed_file``)."""
    if len(rows) > REMOVED_INLINE:
        path = home / "curation" / f"run-{run_id}-removed.jsonl"
        write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
        report.removed_file = str(path)
    else:
        report.removed = rows
