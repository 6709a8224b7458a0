"""What `benchsmith status` reports."""

from __future__ import annotations

from typing import Any

from builder.curate.report import stage_counts
from builder.store.items import item_counts
from builder.store.pool import pool_size
from builder.store.releases import releases
from builder.store.runs import latest_run
from builder.workspace import Workspace

__all__ = ["benchmark_status"]


def benchmark_status(ws: Workspace, benchmark: str | None = None) -> dict[str, Any]:
    """``{"benchmark", "pool", "items": {status: n}, "releases": [...], "curation"}``.

    ``curation`` (None before the first run) is the latest run: ``run_id``, ``created_at``,
    ``embedder``, ``near_duplicate_threshold`` and its ``threshold_source``, ``stages``
    (``[stage, records]`` rows, :func:`~builder.curate.report.stage_counts`) and
    ``threshold_examples`` (the pairs at the threshold, as in the report).
    """
    bench, _ = ws.benchmark(benchmark)
    assert bench.id is not None
    with ws.db.session() as s:
        run = latest_run(s, bench.id)
        report = run.report if run is not None and isinstance(run.report, dict) else None
        curation = (
            None
            if run is None or report is None
            else {
                "run_id": run.id,
                "created_at": run.created_at.isoformat(),
                "embedder": run.embedder,
                "near_duplicate_threshold": report.get("near_duplicate_threshold"),
                "threshold_source": report.get("near_duplicate_threshold_source") or "",
                "stages": [[k, n] for k, n in stage_counts(report)],
                "threshold_examples": report.get("threshold_examples") or [],
            }
        )
        return {
            "benchmark": bench.name,
            "pool": pool_size(s, bench.id),
            "items": item_counts(s, bench.id),
            "releases": [
                {
                    "version": r.version,
                    "created_at": r.created_at.isoformat(),
                    "yanked": r.yanked,
                    "content_hash": r.content_hash,
                }
                for r in releases(s, bench.id)
            ],
            "curation": curation,
        }
