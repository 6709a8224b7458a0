"""Curation at scale: the local engine's cold time and peak RSS at 1,000,000 records, and the
local against the Ray engine on this machine (a real local Ray head with 2 CPU workers).

Pools are generated from the bundled corpus with variation, deterministically: each record
stitches 2–6 random lines of the real descriptions (seeded), so the vocabulary and lengths
are real and the texts distinct (as ``benchmarks/curation_speed.py`` builds its pools). The
``static`` embedder, ``size`` 300, the spec's other defaults; the near-duplicate threshold is
the static embedder's calibrated default (0.975) unless ``--threshold spec`` keeps the
example spec's 0.92 (MiniLM's value).

Every curate runs cold (a fresh copy of the ingested workspace, no embedding or scan cache)
in a child process of its own, so its peak RSS (``ru_maxrss`` of that child) is its own.
For the Ray engine that figure is the driver only; the workers belong to the Ray head.
Printed: the medium pool (200,000 by default) with REPEATS runs per engine (medians,
interleaved local/ray so load changes hit both alike), then the large pool (1,000,000) once
per engine (each run takes minutes: a single run, not a median), and the ratio ray / local
measured in the same run. Target: local peak RSS < 3 GB at 1M.

    .venv/bin/python benchmarks/curation_scale.py [--medium 200000] [--large 1000000]
        [--repeats 3] [--engines local,ray] [--skip-large] [--threshold embedder|spec]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Run as a script, this folder is on sys.path: the spec helper is curation_speed's.
from curation_speed import bench_spec  # noqa: E402

SAMPLE = ROOT / "data" / "debian_packages.jsonl.gz"
SIZE = 300


def write_pool(path: Path, n: int) -> None:
    """``n`` generated records as JSON Lines at ``path`` (deterministic, seed 7)."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    lines = [ln.strip() for r in rows for ln in r["description"].split("\n") if len(ln.strip()) > 3]
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            row = {
                "package": f"syn-{i:07d}",
                "description": "\n".join(rng.sample(lines, rng.randint(2, 6))),
                "priority": rng.choice(["optional", "optional", "optional", "extra", "standard"]),
            }
            out.write(json.dumps(row) + "\n")


def build_template(tmp: Path, n: int, spec: Path) -> tuple[Path, float]:
    """A workspace with ``n`` generated records ingested; returns (its home, ingest seconds)."""
    from builder.config import Settings
    from builder.ingest import ingest_files
    from builder.workspace import init_workspace, open_workspace

    data = tmp / f"pool-{n}.jsonl"
    write_pool(data, n)
    home = tmp / f"template-{n}"
    settings = Settings.from_env({}, home=home, registry=str(tmp / "registry"))
    init_workspace(settings, spec)
    ws = open_workspace(settings)
    started = time.perf_counter()
    ingest_files(ws, [data])
    seconds = time.perf_counter() - started
    ws.db.dispose()
    data.unlink()
    return home, seconds


def _rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(home: str, engine: str, address: str | None) -> None:
    """One cold curate (in its own process): prints its figures as one JSON line."""
    from builder.config import Settings
    from builder.curate.pipeline import curate
    from builder.workspace import open_workspace

    ws = open_workspace(Settings.from_env({}, home=Path(home), registry=f"{home}-registry"))
    # Resident memory as each stage goes (sampled at its progress calls, at most every
    # 0.2 s): which stage holds the peak.
    by_stage: dict[str, float] = {}
    last = [0.0]

    def watch(stage: str, _: Any) -> None:
        now = time.perf_counter()
        if now - last[0] >= 0.2:
            last[0] = now
            by_stage[stage] = max(by_stage.get(stage, 0.0), _rss_mb())

    started = time.perf_counter()
    report = curate(
        ws, embedder="static", size=SIZE, engine=engine, ray_address=address, progress=watch
    )
    seconds = time.perf_counter() - started
    assert len(report.selected) == SIZE, len(report.selected)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "stages": report.stages,
                "after_dedup": report.after_dedup,
                "near": report.near_duplicates,
                "threshold": report.near_duplicate_threshold,
                "rss_by_stage": {k: round(v) for k, v in by_stage.items()},
                "exact": report.exact_duplicates,
                "selected": report.selected,
                # The local engine works in threads of this process, so its own peak is the
                # run's. Children are left out: the only ones are short fork+exec helpers
                # (loky asks `lscpu` for the core count when k-means starts), whose
                # ru_maxrss counts the parent's pages shared at the fork.
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )


def run_cold(tmp: Path, template: Path, engine: str, address: str | None) -> dict[str, Any]:
    """A fresh copy of ``template``, curated by ``engine`` in a child process."""
    home = tmp / f"run-{engine}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home, ignore=shutil.ignore_patterns("embeddings", "scan_cache"))
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(home),
            engine,
            (engine == "ray" and address) or "",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} curate failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def _fmt_rss(runs: list[dict[str, Any]]) -> str:
    return f"{max(r['rss_mb'] for r in runs):,.0f} MB"


def _report(label: str, n: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    print(f"\n{label}: {n:,} records, {len(next(iter(runs.values())))} run(s) per engine")
    medians = {}
    for engine, rs in runs.items():
        med = statistics.median(r["seconds"] for r in rs)
        medians[engine] = med
        stages = {
            k: round(statistics.median(r["stages"].get(k, 0) for r in rs), 1)
            for k in rs[0]["stages"]
        }
        each = ", ".join(f"{r['seconds']:.1f}" for r in rs)
        print(
            f"  {engine:>5}: curate {med:8.1f} s (median of {len(rs)}; each "
            f"{each}), {n / med:,.0f} records/s, "
            f"peak RSS {_fmt_rss(rs)}{' (driver)' if engine == 'ray' else ''}; "
            f"kept {rs[0]['after_dedup']:,} (near {rs[0]['near']:,} at cosine ≥ "
            f"{rs[0]['threshold']}, exact {rs[0]['exact']:,})"
        )
        print(f"         stages: {stages}")
        print(f"         resident MB by stage (largest sample): {rs[0]['rss_by_stage']}")
    if {"local", "ray"} <= set(runs):
        same = runs["local"][0]["selected"] == runs["ray"][0]["selected"]
        print(f"  ray / local time: {medians['ray'] / medians['local']:.2f}; same picks: {same}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--medium", type=int, default=200_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--threshold", choices=["embedder", "spec"], default="embedder")
    args = parser.parse_args()
    engines = args.engines.split(",")
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} CPUs", flush=True)

    from tests.support.ray_cluster import RayHead

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    head = None
    try:
        address = None
        if "ray" in engines:
            head = RayHead(
                Path(tempfile.mkdtemp(prefix="bsray-", dir="/tmp")), object_store_mb=3072
            )
            head.start()
            address = head.address
        # The large pool first: its single runs are the figures the issue asks for.
        sizes = [] if args.skip_large else [("large", args.large, 1)]
        sizes.append(("medium", args.medium, args.repeats))
        for label, n, repeats in sizes:
            template, ingest_s = build_template(tmp, n, bench_spec(tmp, args.threshold))
            print(f"\n[{label}] ingested {n:,} records in {ingest_s:.1f} s", flush=True)
            runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
            for _ in range(repeats):
                for engine in engines:
                    runs[engine].append(run_cold(tmp, template, engine, address))
                    r = runs[engine][-1]
                    print(
                        f"  {engine} run: {r['seconds']:.1f} s, {r['rss_mb']:,.0f} MB", flush=True
                    )
            _report(label, n, runs)
            print(f"  load average now: {os.getloadavg()}", flush=True)
            shutil.rmtree(template, ignore_errors=True)
    finally:
        if head is not None:
            head.stop()
            shutil.rmtree(head.root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4] or None)
        sys.exit(0)
    sys.exit(main())
