"""What `benchsmith status` reports."""

from __future__ import annotations

from typing import Any

from builder.store.items import item_counts
from builder.store.pool import pool_size
from builder.store.releases import releases
from builder.workspace import Workspace

__all__ = ["benchmark_status"]


def benchmark_status(ws: Workspace, benchmark: str | None = None) -> dict[str, Any]:
    """``{"benchmark", "pool", "items": {status: n}, "releases": [...]}``."""
    bench, _ = ws.benchmark(benchmark)
    assert bench.id is not None
    with ws.db.session() as s:
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
        }
