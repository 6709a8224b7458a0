"""Conversation curation speed: ``curate`` of 20,000 conversations against the bare embedding
of the same role-tagged texts (static embedder), medians of 3; target ≤ 1.3×.

The pool is generated deterministically (seed 7) from the bundled corpus
``data/support-conversations.jsonl.gz``: each conversation takes 2–8 turn contents drawn
from every turn of the corpus and a role pair (customer/agent, user/assistant, caller/support)
alternating, so vocabulary and lengths are real and most texts are distinct. The spec is
``data/conversations.yaml`` with the static embedder and no strata.

For each of the REPEATS rounds (interleaved, so load changes hit both alike):
  - encode: ``model.encode`` over the 20,000 role-tagged texts (``builder.conversation.to_text``),
    one call, no cache or database;
  - curate: ``curate`` (size 300) on a fresh copy of the ingested workspace with an empty
    embedding cache (so every text is embedded: ingest is outside the timing).

    .venv/bin/python benchmarks/conversation_curation.py [--records 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORPUS = ROOT / "data" / "support-conversations.jsonl.gz"
SPEC = ROOT / "data" / "conversations.yaml"
SIZE = 300
TARGET = 1.3
ROLES = [("customer", "agent"), ("user", "assistant"), ("caller", "support")]


def make_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` conversations varied from the bundled corpus (see the module docstring)."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        corpus = [json.loads(line) for line in f]
    contents = [t["content"] for r in corpus for t in r["dialog"] if t["content"].strip()]
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        base = corpus[rng.randrange(len(corpus))]
        asker, answerer = rng.choice(ROLES)
        said = rng.sample(contents, rng.randint(2, 8))
        dialog = [
            {"role": asker if k % 2 == 0 else answerer, "content": c} for k, c in enumerate(said)
        ]
        rows.append({"id": f"conv-{i:06d}", "dialog": dialog, "topic": base["topic"],
                     "turns": len(dialog)})  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from builder.config import Settings
    from builder.conversation import to_text
    from builder.curate.embed import get_embedder
    from builder.curate.pipeline import curate
    from builder.ingest import ingest_files
    from builder.workspace import init_workspace, open_workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench-conversations-"))
    try:
        rows = make_rows(args.records)
        texts = [to_text(r["dialog"]) for r in rows]
        data = tmp / "pool.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
        spec["guidelines"] = str(ROOT / "data" / spec["guidelines"])
        spec["curation"] = {**spec["curation"], "embedder": "static", "strata_field": None}
        spec_path = tmp / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        template = tmp / "template"
        settings = Settings.from_env({}, home=template, registry=str(tmp / "registry"))
        init_workspace(settings, spec_path)
        ws = open_workspace(settings)
        t = time.perf_counter()
        ingest_files(ws, [data])
        ingest_s = time.perf_counter() - t
        ws.db.dispose()

        t = time.perf_counter()
        model = get_embedder("static")
        load = time.perf_counter() - t

        encode: list[float] = []
        cold: list[float] = []
        report: Any = None
        for r in range(args.repeats):
            t = time.perf_counter()
            model.encode(texts)
            encode.append(time.perf_counter() - t)
            home = tmp / f"run{r}"
            shutil.copytree(template, home, ignore=shutil.ignore_patterns("embeddings"))
            w = open_workspace(Settings.from_env({}, home=home, registry=str(tmp / "registry")))
            t = time.perf_counter()
            report = curate(w, embedder=model, size=SIZE)
            cold.append(time.perf_counter() - t)
            assert report.embedded > 0 and len(report.selected) == SIZE, report.embedded
            w.db.dispose()
            shutil.rmtree(home)
        ratio = statistics.median(cold) / statistics.median(encode)
        chars = sum(map(len, texts)) / len(texts)
        print(f"== conversations: {len(rows):,} records ({chars:.0f} chars of role-tagged text "
              f"on average), static embedder, medians of {args.repeats}")  # fmt: skip
        print(f"  ingest          {ingest_s:8.2f} s (once, outside the timings)")
        print(f"  model load      {load:8.2f} s (once, outside the timings)")
        print(f"  encode (pure)   {statistics.median(encode):8.2f} s  = baseline "
              f"(runs {', '.join(f'{x:.2f}' for x in encode)})")  # fmt: skip
        print(f"  curate          {statistics.median(cold):8.2f} s  = {ratio:.2f} × encode "
              f"(runs {', '.join(f'{x:.2f}' for x in cold)})")  # fmt: skip
        print(f"  stages          {report.stages}")
        print(f"  embedded {report.embedded:,}; exact duplicates {report.exact_duplicates:,}, "
              f"near {report.near_duplicates:,}; sampled from {report.after_dedup:,}")  # fmt: skip
        ok = ratio <= TARGET
        print(f"  [{'ok' if ok else 'MISSED'}] curate ≤ {TARGET} × encode")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
