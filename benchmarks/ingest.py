"""Ingest speed and memory against a naive pandas baseline, on SQLite and PostgreSQL.

Generates N JSONL rows (~400 bytes each; default 1,000,000), then, each in a fresh child
process so peak RSS is its own, and REPEATS times (medians quoted):
  - baseline: ``pandas.read_json(lines=True)`` + ``DataFrame.to_sql`` (no validation, no hashing)
  - benchsmith: ``ingest_files`` (streamed in chunks, validated, content-hashed, idempotent)
on SQLite and on a throwaway PostgreSQL server. Prints rows/s, the process's CPU seconds,
peak RSS and the ratio.

    .venv/bin/python benchmarks/ingest.py [N] [REPEATS]
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPEC = """
name: bench-ingest
task: {type: classification, input_fields: [text], labels: [a, b, c]}
source: {id_field: id, text_field: text, metadata_fields: [category, source, score]}
"""
WORDS = (  # noqa: SIM905
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
    "rho sigma tau upsilon phi chi psi omega package library tool data server client"
).split()


def generate(path: Path, n: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choices(WORDS, k=56))
            row = {
                "id": f"rec-{i:08d}",
                "text": text,
                "category": rng.choice("abc"),
                "source": f"batch-{i // 10000}",
                "score": round(rng.random(), 4),
            }
            f.write(json.dumps(row) + "\n")


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def child(kind: str, backend_url: str, data: str, home: str) -> None:
    """Runs in a fresh process; prints {"seconds", "cpu_s", "rss_mb"} (``cpu_s``: this
    process's CPU time over the timed region, all threads; the rest of the wall time is
    spent waiting, mostly on the disk — or, for PostgreSQL, on the server).

    Imports and workspace creation (``benchsmith init``) are outside the timed region for
    both methods: the timing covers reading, validating, hashing and writing rows.
    """
    if kind == "pandas":
        import pandas as pd
        from sqlalchemy import create_engine

        engine = create_engine(backend_url)
        cpu0 = _cpu()
        started = time.perf_counter()
        df = pd.read_json(data, lines=True)
        df.to_sql("records", engine, if_exists="replace", index=False, chunksize=10_000)
        engine.dispose()
    else:
        from builder.config import Settings
        from builder.ingest import ingest_files
        from builder.workspace import init_workspace, open_workspace

        spec = Path(home) / "spec.yaml"
        spec.write_text(SPEC)
        settings = Settings.from_env({}, home=home, database_url=backend_url)
        init_workspace(settings, spec)
        ws = open_workspace(settings)
        cpu0 = _cpu()
        started = time.perf_counter()
        report = ingest_files(ws, [data])
        assert report.files[0].ingested > 0
    seconds = time.perf_counter() - started
    cpu_s = _cpu() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "rss_mb": rss_mb}))


def measure(kind: str, url: str, data: Path, home: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, url, str(data), str(home)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    from tests.support.pgserver import PostgresServer

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmpd = Path(tmp)
        data = tmpd / "rows.jsonl"
        generate(data, n)
        size_mb = data.stat().st_size / 1e6
        print(
            f"{n:,} rows, {size_mb:.0f} MB ({size_mb * 1e6 / n:.0f} bytes/row), {repeats} repeats"
        )
        pg_root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        pg = PostgresServer(Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]), pg_root)
        pg.start()
        try:
            results: dict[tuple[str, str], list[dict[str, float]]] = {}
            for rep in range(repeats):
                for backend in ("sqlite", "postgresql"):
                    for kind in ("pandas", "benchsmith"):
                        home = tmpd / f"{backend}-{kind}-{rep}"
                        home.mkdir()
                        url = (
                            f"sqlite:///{home / 'db.sqlite'}"
                            if backend == "sqlite"
                            else pg.create_database()
                        )
                        results.setdefault((backend, kind), []).append(
                            measure(kind, url, data, home)
                        )
        finally:
            pg.stop()
            subprocess.run(["rm", "-rf", str(pg_root)], check=False)
        print(
            f"{'backend':<11} {'method':<11} {'median s':>9} {'rows/s':>10} {'CPU s':>7} "
            f"{'peak RSS MB':>12}"
        )
        med: dict[tuple[str, str], float] = {}
        for (backend, kind), runs in results.items():
            s = statistics.median(r["seconds"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            rss = max(r["rss_mb"] for r in runs)
            med[(backend, kind)] = s
            print(f"{backend:<11} {kind:<11} {s:>9.2f} {n / s:>10,.0f} {cpu:>7.2f} {rss:>12.0f}")
        for backend in ("sqlite", "postgresql"):
            ratio = med[(backend, "benchsmith")] / med[(backend, "pandas")]
            print(
                f"{backend}: benchsmith time / pandas baseline time = {ratio:.2f} "
                f"(< 1 means faster than the naive baseline, while validating and hashing)"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
    else:
        main()
