"""The removed duplicates in a curation report: one row per record removed as an exact or
near duplicate, the near duplicates closest to the threshold (with both texts), and where the
rows go (inline in the report, or a JSON Lines file under the workspace's ``curation/``
folder when there are over :data:`~builder.curate.report.REMOVED_INLINE`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from builder.curate.keep_rule import Kept
from builder.curate.report import EXAMPLES, REMOVED_INLINE, CurationReport
from builder.fsutil import write_text_atomic
from builder.store.pool import record_texts

if TYPE_CHECKING:
    from sqlmodel import Session

    from builder.curate.scan import ScannedPool

__all__ = ["near_duplicate_examples", "removed_rows", "store_removed"]


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
