"""Release speed: publish 100,000 approved items, then pull them with full verification.

Prints medians over repeats, each against a baseline measured in the same run:

* release (query + splits + Parquet/JSONL + card + manifest + DB rows + atomic move) vs
  a bare pandas ``to_parquet`` + ``to_json(lines=True)`` of the same rows (the IO floor);
* verification throughput (sha256 of every file against the manifest) vs ``sha256sum``
  over the same files; and a full pull (copy + verify into a fresh cache);
* peak RSS of the process.

Targets (issue 5): release of 100,000 items ≤ 15 s; verification ≥ 0.8 × sha256sum.
Usage: ``python benchmarks/release_speed.py [--items 100000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert

from builder.config import Settings
from builder.hashing import canonical_json
from builder.release.pull import pull_release
from builder.release.registry import Registry
from builder.release.snapshot import publish_release
from builder.store.models import Annotation, Item, User, utcnow
from builder.store.pool import finish_batch, insert_records, start_batch
from builder.workspace import init_workspace, open_workspace

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "data" / "debian-sections.yaml"
CORPUS = ROOT / "data" / "debian_packages.jsonl.gz"
NAME = "debian-sections"


def _setup(home: Path, n: int) -> Settings:
    """A workspace with ``n`` approved items (sample rows recycled under new ids)."""
    settings = Settings.from_env(
        {}, home=home, registry=str(home / "registry"), private_registry=str(home / "private")
    )
    init_workspace(settings, SPEC)
    ws = open_workspace(settings)
    bench, spec = ws.benchmark()
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        sample = [json.loads(line) for line in f]
    with ws.db.session() as s:
        batch = start_batch(s, benchmark_id=bench.id, source="synthetic")  # type: ignore[arg-type]
        rows = []
        for i in range(n):
            r = sample[i % len(sample)]
            data = {k: r.get(k) for k in spec.fields}
            data["package"] = f"{r['package']}-{i}"
            # RECORD_COLUMNS order; data as canonical JSON text, as ingest stores it.
            rows.append(
                (
                    bench.id,
                    data["package"],
                    f"{i:064x}",
                    r["description"],
                    canonical_json(data).decode("utf-8"),
                    batch,
                )
            )
        insert_records(s, rows)
        finish_batch(s, batch, ingested=n)
    with ws.db.session() as s:
        users = [User(name=f"ann{k}", role="annotator") for k in range(4)]
        s.add(User(name="bench", role="lead"))
        s.add_all(users)
        s.flush()
        now = utcnow()
        s.execute(insert(Item), [
            {"benchmark_id": bench.id, "record_id": i + 1, "status": "approved", "answer": sample[i % len(sample)]["section"],
             "cluster": i % 50, "stratum": sample[i % len(sample)]["priority"], "weight": 0.05, "flags": {}, "created_at": now, "updated_at": now}
            for i in range(n)
        ])  # fmt: skip
        # A tenth of the items carry two current annotations (agreement is computed from them).
        s.execute(insert(Annotation), [
            {"item_id": i + 1, "annotator_id": users[(i + k) % 4].id, "answer": sample[i % len(sample)]["section"],
             "flags": [], "comment": "", "created_at": now, "is_current": True}
            for i in range(0, n, 10) for k in range(2)
        ])  # fmt: skip
    ws.db.dispose()
    return settings


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(home: Path) -> Settings:
    return Settings.from_env({}, home=home, registry=str(home / "registry"),
                             private_registry=str(home / "private")).with_benchmark(None)  # fmt: skip


def _phase(args: argparse.Namespace) -> dict[str, float | str]:
    """One measured step in this (fresh) process, so its peak RSS is its own."""
    home = Path(args.home)
    if args.phase == "setup":
        _setup(home, args.items)
        return {"peak_mb": _peak_mb()}
    settings = replace(_settings(home), cache_dir=home / "cache")
    if args.phase == "release":
        ws = open_workspace(settings)
        t, cpu = time.perf_counter(), time.process_time()
        result = publish_release(ws, actor="bench")
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        return {
            "seconds": seconds,
            "cpu": cpu,
            "peak_mb": _peak_mb(),
            "url": result.url,
            "version": result.version,
        }
    if args.phase == "floor":
        folder = Path(args.folder)
        df = pd.concat([pd.read_parquet(p) for p in sorted((folder / "data").glob("*.parquet"))])
        t = time.perf_counter()
        df.to_parquet(home / "floor.parquet")
        df.to_json(home / "floor.jsonl", orient="records", lines=True, force_ascii=False)
        return {"seconds": time.perf_counter() - t}
    if args.phase == "pull":
        t = time.perf_counter()
        pulled = pull_release(
            NAME, args.version, registry=settings.registry, cache_dir=settings.cache_dir
        )
        assert not pulled.from_cache
        return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}
    raise SystemExit(f"unknown phase {args.phase}")


def _run(phase: str, home: Path, **extra: object) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--home", str(home)]
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--version", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(_phase(args)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="benchsmith-release-speed-"))
    try:
        t0 = time.perf_counter()
        _run("setup", tmp / "pristine", items=args.items)
        print(
            f"setup: {args.items:,} approved items in {time.perf_counter() - t0:.1f} s (not timed below)"
        )
        runs: dict[str, list[float]] = {
            k: []
            for k in (
                "release",
                "cpu",
                "floor",
                "sha256sum",
                "verify",
                "verify1",
                "pull",
                "rss_release",
                "rss_pull",
            )
        }
        total_bytes = 0
        for k in range(args.repeats):
            home = tmp / f"run{k}"
            home.mkdir()
            shutil.copy(tmp / "pristine" / "benchsmith.db", home / "benchsmith.db")
            rel = _run("release", home)
            runs["release"].append(float(rel["seconds"]))
            runs["cpu"].append(float(rel["cpu"]))
            runs["rss_release"].append(float(rel["peak_mb"]))
            folder = Path(str(rel["url"]))
            runs["floor"].append(float(_run("floor", home, folder=folder)["seconds"]))
            files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
            total_bytes = sum(Path(p).stat().st_size for p in files)
            t = time.perf_counter()
            subprocess.run(["sha256sum", *files], check=True, capture_output=True)
            runs["sha256sum"].append(time.perf_counter() - t)
            t = time.perf_counter()
            Registry(str(home / "registry")).verify(NAME, str(rel["version"]))
            runs["verify"].append(time.perf_counter() - t)
            t = time.perf_counter()
            Registry(str(home / "registry")).verify(NAME, str(rel["version"]), workers=1)
            runs["verify1"].append(time.perf_counter() - t)
            pulled = _run("pull", home, version=rel["version"])
            runs["pull"].append(float(pulled["seconds"]))
            runs["rss_pull"].append(float(pulled["peak_mb"]))

        m = {k: _median(v) for k, v in runs.items()}
        mb = total_bytes / 1e6
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"items: {args.items:,}; release files: {mb:.1f} MB; repeats: {args.repeats}; "
              f"load average {load} on {os.cpu_count()} cores")  # fmt: skip
        print(
            f"release:  median {m['release']:.2f} s  (runs {', '.join(f'{x:.2f}' for x in runs['release'])})  target <= 15 s"
        )
        print(f"          CPU time of the release process: median {m['cpu']:.2f} s (wall time grows when "
              "other processes share the cores; see the load average)")  # fmt: skip
        print(f"baseline: pandas to_parquet + to_json(lines) of the same rows: median {m['floor']:.2f} s; "
              f"release / baseline = {m['release'] / m['floor']:.2f}x")  # fmt: skip
        print(f"verify:   median {m['verify']:.3f} s = {mb / m['verify']:.0f} MB/s; sha256sum {m['sha256sum']:.3f} s = "
              f"{mb / m['sha256sum']:.0f} MB/s; ratio {m['sha256sum'] / m['verify']:.2f} x sha256sum (target >= 0.8)")  # fmt: skip
        print(f"verify, one thread: median {m['verify1']:.3f} s = {mb / m['verify1']:.0f} MB/s; "
              f"ratio {m['sha256sum'] / m['verify1']:.2f} x sha256sum")  # fmt: skip
        print(
            f"pull:     download + verify into a fresh cache: median {m['pull']:.3f} s = {mb / m['pull']:.0f} MB/s"
        )
        print(
            f"peak RSS: release process {m['rss_release']:.0f} MB; pull process {m['rss_pull']:.0f} MB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
