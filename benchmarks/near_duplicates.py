"""Near-duplicate removal: the kept-match rule against the old union-find groups.

Corpora (``static`` embedder, 64-d, cosine threshold 0.92 as in the sample spec, or
``--threshold``):
  - ``sample``: the 5,052 real Debian descriptions of data/;
  - ``perturbed``: LARGE records (default 100,000): 75% stitched from 2–6 random lines of the
    real descriptions, 25% chains of 1–4 copies, each editing the previous one (2–30% of the
    words dropped, replaced, inserted or swapped), so near-duplicate families and chains
    (a ~ b ~ c with a, c below the threshold) are common. Seeded.

Methods, timed on the same vectors (embedding excluded), repeats interleaved so load changes
hit both alike:
  - ``old``: the previous ``near_duplicates`` (kept here as the baseline only): k-means cells,
    8 nearest-centroid probes pruned by the bisector test, connected components of the pairs
    (union-find), one record kept per component;
  - ``new``: :func:`builder.curate.pair_search.near_duplicates`: the pair search with the default
    reach, the greedy keep rule, and the check search over the kept records.
The truth is an exhaustive blocked matmul over every pair (timed once).

For each it prints the median time, removed records, the % of removed records with no kept
record at cosine ≥ threshold (must be 0 for the new rule), pairs ≥ threshold left among kept
records, the pair search's recall against the exhaustive pairs, the largest group, and the
new/old time ratio.

    .venv/bin/python benchmarks/near_duplicates.py [--large 100000] [--repeats 3] [--threshold 0.92]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.curate.dedup import _nearest, kmeans_centroids  # noqa: E402
from builder.curate.pair_search import near_duplicates, similar_pairs  # noqa: E402

SAMPLE = ROOT / "data" / "debian_packages.jsonl.gz"
THRESHOLD = 0.92


def sample_texts() -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        return [json.loads(line)["description"] for line in f]


def _perturb(rng: random.Random, text: str, strength: float, vocab: list[str]) -> str:
    out = text.split()
    for _ in range(max(1, round(len(out) * strength))):
        op = rng.random()
        if op < 0.35 and len(out) > 3:
            del out[rng.randrange(len(out))]
        elif op < 0.7 and out:
            out[rng.randrange(len(out))] = rng.choice(vocab)
        elif op < 0.85:
            out.insert(rng.randrange(len(out) + 1), rng.choice(vocab))
        elif len(out) > 1:
            i = rng.randrange(len(out) - 1)
            out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def perturbed_texts(texts: list[str], n: int, seed: int = 7) -> list[str]:
    """The ``perturbed`` corpus (see the module docstring)."""
    rng = random.Random(seed)
    lines = [ln.strip() for t in texts for ln in t.split("\n") if len(ln.strip()) > 3]
    vocab = sorted({w for t in texts for w in t.split()})
    out = list(texts)
    while len(out) < int(n * 0.75):
        out.append("\n".join(rng.sample(lines, rng.randint(2, 6))))
    bases = list(out)
    while len(out) < n:
        cur = rng.choice(bases)
        for _ in range(rng.randint(1, 4)):
            cur = _perturb(rng, cur, rng.choice([0.02, 0.05, 0.1, 0.2, 0.3]), vocab)
            out.append(cur)
    return out[:n]


def exhaustive_pairs(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair i < j with cosine ≥ threshold: a blocked all-pairs matmul (the truth)."""
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    step = 4096
    for start in range(0, len(x), step):
        # Only columns from this block on: each unordered pair once.
        sims = x[start : start + step] @ x[start:].T
        a, b = np.nonzero(sims >= threshold - 1e-6)
        ok = a < b
        found_i.append(a[ok] + start)
        found_j.append(b[ok] + start)
    return np.concatenate(found_i), np.concatenate(found_j)


def old_union_find(x: np.ndarray, threshold: float, seed: int = 13) -> tuple[np.ndarray, Any]:
    """The previous near_duplicates (baseline only): keep mask and the pair keys it found."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(x)
    keep = np.ones(n, dtype=bool)
    k = max(1, round(n / 256))
    centroids = kmeans_centroids(x, k, seed=seed, max_fit=10_000, max_iter=10, init="random")
    near, dist = _nearest(x, centroids, 8)
    primary = near[:, 0]
    order = np.argsort(primary, kind="stable")
    bounds = np.searchsorted(primary[order], np.arange(len(centroids) + 1))
    eps = float(np.sqrt(max(0.0, 2.0 * (1.0 - threshold)))) + 1e-4
    gap = np.linalg.norm(centroids[near[:, 1:]] - centroids[primary][:, None, :], axis=2)
    probe_ok = (dist[:, 1:] - dist[:, :1]) <= 2.0 * eps * gap
    second = near[:, 1:][probe_ok]
    second_pts = np.nonzero(probe_ok)[0]
    second_order = np.argsort(second, kind="stable")
    second_bounds = np.searchsorted(second[second_order], np.arange(len(centroids) + 1))
    thr = threshold - 1e-6
    pi: list[np.ndarray] = []
    pj: list[np.ndarray] = []
    for c in range(len(centroids)):
        own = order[bounds[c] : bounds[c + 1]]
        if len(own) == 0:
            continue
        probe = second_pts[second_order[second_bounds[c] : second_bounds[c + 1]]]
        cols = np.concatenate([own, probe])
        step = max(64, (1 << 24) // max(1, len(cols)))
        xc = x[cols]
        for start in range(0, len(own), step):
            sims = x[own[start : start + step]] @ xc.T
            a, b = np.nonzero(sims >= thr)
            a = a + start
            ok = (b >= len(own)) | (a < b)
            pi.append(own[a[ok]])
            pj.append(cols[b[ok]])
    ii = np.concatenate(pi)
    jj = np.concatenate(pj)
    keys = np.unique(np.minimum(ii, jj) * n + np.maximum(ii, jj))
    graph = coo_matrix((np.ones(len(ii), dtype=np.int8), (ii, jj)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    cn = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    centrality = (x * cn[primary]).sum(axis=1)
    # One record per component: the member nearest its cell's centre.
    best = np.lexsort((np.arange(n), -centrality, labels))
    first = np.flatnonzero(np.diff(labels[best], prepend=-1))
    keep[:] = False
    keep[best[first]] = True
    return keep, (keys, labels)


def judge(
    keep: np.ndarray, found_keys: np.ndarray, truth: tuple[np.ndarray, np.ndarray]
) -> dict[str, Any]:
    """Removed, % removed with no kept match, kept pairs left, recall: against the truth."""
    n = len(keep)
    ti, tj = truth
    matched = np.zeros(n, dtype=bool)
    matched[ti[keep[tj]]] = True
    matched[tj[keep[ti]]] = True
    removed = ~keep
    unmatched = int((removed & ~matched).sum())
    truth_keys = ti.astype(np.int64) * n + tj
    recall = float(np.isin(truth_keys, found_keys).mean()) if len(truth_keys) else 1.0
    return {
        "removed": int(removed.sum()),
        "unmatched": unmatched,
        "unmatched_pct": 100.0 * unmatched / max(1, int(removed.sum())),
        "left": int((keep[ti] & keep[tj]).sum()),
        "recall": recall,
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def run_corpus(name: str, x: np.ndarray, repeats: int, threshold: float) -> None:
    n = len(x)
    truth, t_exh = timed(lambda: exhaustive_pairs(x, threshold))
    # Warm both (imports, BLAS threads) on a slice before timing.
    old_union_find(x[:2000], threshold)
    near_duplicates(x[:2000], threshold)
    t_old: list[float] = []
    t_new: list[float] = []
    for _ in range(repeats):
        (old_keep, (old_keys, labels)), t = timed(lambda: old_union_find(x, threshold))
        t_old.append(t)
        nd, t = timed(lambda: near_duplicates(x, threshold))
        t_new.append(t)
    # Recall of the new search: its first search (the one over every record).
    pairs = similar_pairs(x, threshold)
    new_keys = pairs.i * n + pairs.j
    old = judge(old_keep, old_keys, truth)
    new = judge(nd.keep, new_keys, truth)
    old_group = int(np.bincount(labels).max())
    new_group = max((len(g) for g in nd.groups), default=1)
    print(
        f"\n{name}: {n:,} records, {len(truth[0]):,} pairs with cosine ≥ {threshold} "
        f"(exhaustive blocked matmul: {t_exh:.2f} s, 1 run)"
    )
    header = (
        f"  {'method':<24}{'median s':>9}{'removed':>9}{'no kept match':>15}"
        f"{'kept pairs left':>17}{'recall':>10}{'largest group':>15}"
    )
    print(header)
    for label, times, r, g in (
        ("old: union-find", t_old, old, old_group),
        ("new: kept-match rule", t_new, new, new_group),
    ):
        print(
            f"  {label:<24}{statistics.median(times):>9.2f}{r['removed']:>9,}"
            f"{r['unmatched']:>7,} ({r['unmatched_pct']:4.1f}%)"
            f"{r['left']:>17,}{100 * r['recall']:>9.3f}%{g:>15,}"
        )
    print(
        f"  times old {', '.join(f'{v:.2f}' for v in t_old)} s; "
        f"new {', '.join(f'{v:.2f}' for v in t_new)} s "
        f"(searches {nd.searches}, verified {nd.verified}, {nd.pairs:,} pairs found)"
    )
    ratio = statistics.median(t_new) / statistics.median(t_old)
    print(f"  ratio new/old median time: {ratio:.2f}")
    assert new["unmatched"] == 0, "the new rule removed a record without a kept match"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--large", type=int, default=100_000, help="perturbed corpus size (0: skip)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threshold", type=float, default=THRESHOLD, help=f"cosine (default {THRESHOLD})"
    )
    args = ap.parse_args()
    from builder.curate.embed import get_embedder

    model = get_embedder("static")
    texts = sample_texts()
    print(
        f"near-duplicate removal at cosine {args.threshold}, embedder {model.model_id} "
        f"({model.dim}-d), {os.cpu_count()} CPU cores, medians of {args.repeats} repeats"
    )
    run_corpus("sample (data/)", model.encode(texts), args.repeats, args.threshold)
    if args.large:
        big, t_embed = timed(lambda: model.encode(perturbed_texts(texts, args.large)))
        print(f"\n(perturbed corpus built and embedded in {t_embed:.1f} s)", end="")
        run_corpus("perturbed", big, args.repeats, args.threshold)


if __name__ == "__main__":
    main()
