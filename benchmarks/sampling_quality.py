"""Sampling quality: does ``curate`` represent the pool better than uniform random sampling?

Runs the whole ``curate`` pipeline on the data/ sample (5,052 Debian packages; their archive
``section`` is the label, hidden from the sampler: the spec does not ingest it) for several
seeds, and for each seed draws RANDOM_DRAWS uniform random samples of the same size. Prints
medians over seeds (random: the mean over its draws first) of:

  (a) Jensen–Shannon divergence (base 2) between the sample's label mix and the pool's;
  (b) share of labels with ≥ 1 sampled item (and the same for rare labels, < 0.5% of pool);
  (c) coverage: mean cosine distance from every pool record to its nearest sampled item,
      in the embedding space the sampler used;
  (d) exact-duplicate and near-duplicate (cosine ≥ 0.92) pairs inside the sample;

against the targets: (c) ≤ 0.9 × random, (b) ≥ random, (a) ≤ 1.5 × random, (d) = 0.
Then the trade-off behind the default number of clusters: the same measures for
k = size (one pick per cluster), size/3 (the default) and size/10.

    .venv/bin/python benchmarks/sampling_quality.py [--embedder minilm] [--seeds 1,2,3,4,5]
        [--size 300] [--draws 20] [--no-ablation]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "data" / "debian_packages.jsonl.gz"
SPEC = ROOT / "data" / "debian-sections.yaml"
THRESHOLD = 0.92


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits between two distributions on the same labels."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


class Metrics:
    """The four measures of a sample (indices into the pool)."""

    def __init__(self, x: np.ndarray, labels: list[str], keys: list[bytes]) -> None:
        self.x = x
        names = sorted(set(labels))
        self.y = np.array([names.index(lab) for lab in labels])
        self.n_labels = len(names)
        counts = np.bincount(self.y, minlength=self.n_labels)
        self.p = counts / counts.sum()
        self.rare = set(np.flatnonzero(counts < 0.005 * len(labels)).tolist())
        self.keys = keys

    def __call__(self, idx: np.ndarray) -> dict[str, float]:
        q = np.bincount(self.y[idx], minlength=self.n_labels) / len(idx)
        present = set(self.y[idx].tolist())
        sims = self.x[idx] @ self.x[idx].T
        iu = np.triu_indices(len(idx), 1)
        exact = Counter(self.keys[i] for i in idx)
        return {
            "js": js_divergence(self.p, q),
            "labels": len(present) / self.n_labels,
            "rare": len(present & self.rare) / max(1, len(self.rare)),
            "coverage": float((1 - (self.x @ self.x[idx].T).max(axis=1)).mean()),
            "near_pairs": int((sims[iu] >= THRESHOLD - 1e-6).sum()),
            "exact_pairs": sum(c * (c - 1) // 2 for c in exact.values()),
        }


def make_workspace(tmp: Path, name: str, cache: Path, clusters: int | None = None) -> Any:
    from builder.config import Settings
    from builder.ingest import ingest_files
    from builder.workspace import init_workspace, open_workspace

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    spec["guidelines"] = str(SPEC.parent / spec["guidelines"])
    if clusters:
        spec["curation"]["clusters"] = clusters
    spec_path = tmp / f"{name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    home = tmp / name
    home.mkdir()
    os.symlink(cache, home / "embeddings")  # every run shares one embedding cache
    settings = Settings.from_env({}, home=home, registry=str(tmp / f"{name}-registry"))
    init_workspace(settings, spec_path)
    ws = open_workspace(settings)
    ingest_files(ws, [SAMPLE])
    return ws


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--no-ablation", action="store_true")
    args = parser.parse_args()
    from builder.curate.dedup import exact_key
    from builder.curate.embed import FittableEmbedder, embed_texts, get_embedder
    from builder.curate.embed_cache import EmbeddingCache
    from builder.curate.pipeline import curate

    started = time.perf_counter()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    index = {r["package"]: i for i, r in enumerate(rows)}
    texts = [r["description"] for r in rows]
    seeds = [int(s) for s in args.seeds.split(",")]
    model = get_embedder(args.embedder)
    tmp = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    cache = tmp / "cache"
    cache.mkdir()

    def run(seed: int, name: str, clusters: int | None = None) -> tuple[np.ndarray, Any]:
        ws = make_workspace(tmp, name, cache, clusters)
        report = curate(ws, embedder=model, size=args.size, seed=seed)
        ws.db.dispose()
        return np.array([index[s] for s in report.selected]), report

    first_idx, first = run(seeds[0], f"seed{seeds[0]}")
    print(f"pool {first.pool} records, {first.after_dedup} after filters and dedup; "
          f"embedder {first.embedder}; k = {first.k}; first run {first.seconds:.1f} s")  # fmt: skip
    if isinstance(model, FittableEmbedder):
        x = model.encode(texts)  # fitted by curate on this very pool
    else:
        x, _ = embed_texts(model, texts, cache=EmbeddingCache(cache, model.model_id, model.dim))
    metrics = Metrics(x, [r["section"] for r in rows], [exact_key(t) for t in texts])

    def measure(picks: dict[int, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
        ours, rand = [], []
        for seed, idx in picks.items():
            ours.append(metrics(idx))
            rng = np.random.default_rng(1000 + seed)
            draws = [
                metrics(rng.choice(len(rows), len(idx), replace=False)) for _ in range(args.draws)
            ]
            rand.append({k: float(np.mean([d[k] for d in draws])) for k in draws[0]})
        med = lambda runs: {k: statistics.median(r[k] for r in runs) for k in runs[0]}  # noqa: E731
        return med(ours), med(rand)

    picks = {seeds[0]: first_idx}
    for seed in seeds[1:]:
        picks[seed] = run(seed, f"seed{seed}")[0]
    ours, rand = measure(picks)
    print(
        f"\nmedians over seeds {seeds}, sample size {args.size}, random: mean of {args.draws} draws"
    )
    print(f"{'measure':44} {'curate':>9} {'random':>9} {'ratio':>7}  target")
    rows_out = [
        ("(a) JS divergence of label mix (bits)", "js", "≤ 1.5 × random", ours["js"] <= 1.5 * rand["js"]),
        ("(b) share of labels with ≥ 1 item", "labels", "≥ random", ours["labels"] >= rand["labels"]),
        ("    share of rare labels (< 0.5%) covered", "rare", "(info)", None),
        ("(c) mean cosine distance to nearest pick", "coverage", "≤ 0.9 × random", ours["coverage"] <= 0.9 * rand["coverage"]),
        ("(d) near-duplicate pairs in sample", "near_pairs", "= 0", ours["near_pairs"] == 0),
        ("    exact-duplicate pairs in sample", "exact_pairs", "= 0", ours["exact_pairs"] == 0),
    ]  # fmt: skip
    for label, key, target, ok in rows_out:
        ratio = ours[key] / rand[key] if rand[key] else float("nan")
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"{label:44} {ours[key]:9.4f} {rand[key]:9.4f} {ratio:7.3f}  {target} {verdict}")

    if not args.no_ablation:
        print("\ntrade-off: number of k-means clusters (seeds "
              f"{seeds[:3]}; ratios against the random draws above)")  # fmt: skip
        print(f"{'k':>24} {'JS ratio':>9} {'labels':>8} {'rare':>7} {'coverage ratio':>15}")
        for label, k in [
            ("size (1 pick/cluster)", args.size),
            ("size/3 (default)", round(args.size / 3)),
            ("size/10", round(args.size / 10)),
        ]:
            sub = {s: run(s, f"k{k}-{s}", clusters=k)[0] for s in seeds[:3]}
            o, r = measure(sub)
            print(f"{label:>24} {o['js'] / r['js']:9.3f} {o['labels']:8.3f} {o['rare']:7.3f} "
                  f"{o['coverage'] / r['coverage']:15.3f}")  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:.0f} MB; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
