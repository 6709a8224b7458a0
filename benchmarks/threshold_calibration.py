"""Near-duplicate thresholds per embedder, calibrated on labelled pairs from the bundled corpus.

Data: the 5,052 real Debian package descriptions of ``data/debian_packages.jsonl.gz``.

Labelled pairs (seeded, ``--bases`` base records of at least 8 words):
  - near duplicates (positives): each base against one copy made by a known edit:
      ``typo`` (about 1 word in 10 gets a character dropped, doubled, swapped or replaced),
      ``reorder`` (its clauses rotated: split at sentence ends, then at commas),
      ``boilerplate`` (a stock sentence added before or after: "This package is part of …"),
      ``case_punct`` (lower-cased, punctuation inside words turned into spaces, the rest
      removed: "e-mail" → "e mail", "2.0" → "2 0"; only bases it changes beyond the exact-
      duplicate normalisation count, the others would be exact duplicates);
  - non-duplicate neighbours (negatives): each base against its nearest *distinct* record of
    the corpus (another package; different normalised text) under each embedder; the union
    of the three embedders' neighbours is scored by every embedder, so all share one set.

For each embedder (minilm, static, tfidf fitted on the corpus plus the edited copies, as a
pool would be) it prints, at MiniLM's default 0.92 and at the calibrated threshold: the
false-positive rate on the neighbours (FPR), the recall per edit and overall, precision and
F1 on the labelled pairs, and the threshold that maximises F1 (for comparison).

Rule (the number in ``builder.curate.embed.DEFAULT_THRESHOLDS``): the lowest threshold, on a
0.005 grid, whose FPR on the neighbours is at most MiniLM's FPR at 0.92 — the same share of
distinct neighbours wrongly merged as MiniLM at its default; recall is whatever that gives.

The ``image`` embedder is calibrated by the same rule (MiniLM's FPR as the target) on the
1,797 bundled digits images (``data/digits.parquet``): 300 bases, each against four edited
copies (JPEG at quality 70, shifted by one pixel, 10% brighter, Gaussian noise σ = 8 grey
levels) and against its nearest image with other bytes.

Then the share of a whole pool removed by the kept-match rule
(:func:`builder.curate.pair_search.near_duplicates`) on the corpus itself (few true
duplicates), at 0.92 ("before") and at the calibrated threshold ("after").

    .venv/bin/python benchmarks/threshold_calibration.py [--bases 600] [--seed 7] [--cache DIR]

(vectors are kept under ``--cache``, default the system temp folder, so a rerun skips the
minutes MiniLM needs on two cores)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.curate.dedup import exact_key  # noqa: E402
from builder.curate.embed import (  # noqa: E402
    DEFAULT_THRESHOLDS,
    TfidfEmbedder,
    embed_texts,
    get_embedder,
    normalize_rows,
)
from builder.curate.pair_search import near_duplicates  # noqa: E402

CORPUS = ROOT / "data" / "debian_packages.jsonl.gz"
DIGITS = ROOT / "data" / "digits.parquet"
EMBEDDERS = ("minilm", "static", "tfidf")
REFERENCE = 0.92
"""MiniLM's default threshold: the operating point the others are matched to."""
EDITS = ("typo", "reorder", "boilerplate", "case_punct")
BOILERPLATE = (
    "This package is part of the Debian distribution.",
    "See the upstream homepage for more information.",
    "Note: this description was imported automatically.",
    "Please report bugs to the package maintainer.",
)
GRID = np.round(np.arange(0.5, 1.0001, 0.005), 3)


def corpus() -> list[str]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        return [json.loads(line)["description"] for line in f]


def typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 4]
    for i in rng.sample(spots, max(1, len(spots) // 10)) if spots else []:
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        op = rng.randrange(4)
        if op == 0:
            w = w[:j] + w[j + 1 :]
        elif op == 1:
            w = w[:j] + w[j] + w[j:]
        elif op == 2:
            w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
        else:
            w = w[:j] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[j + 1 :]
        words[i] = w
    return " ".join(words)


def reorder(rng: random.Random, text: str) -> str:
    parts = [p for p in re.split(r"(?<=[.;:!?])\s+", text.strip()) if p]
    if len(parts) < 2:
        parts = [p for p in re.split(r",\s+", text.strip()) if p]
    if len(parts) < 2:
        words = text.split()
        half = len(words) // 2
        parts = [" ".join(words[:half]), " ".join(words[half:])]
    k = rng.randrange(1, len(parts))
    return " ".join(parts[k:] + parts[:k])


def boilerplate(rng: random.Random, text: str) -> str:
    extra = rng.choice(BOILERPLATE)
    return f"{extra} {text}" if rng.random() < 0.5 else f"{text} {extra}"


def case_punct(rng: random.Random, text: str) -> str:
    inner = re.sub(r"(?<=\w)[^\w\s]+(?=\w)", " ", text)
    return re.sub(r"[^\w\s]", "", inner).lower()


EDIT_FN = {"typo": typo, "reorder": reorder, "boilerplate": boilerplate, "case_punct": case_punct}


def nearest_distinct(x: np.ndarray, bases: list[int], norm: list[bytes]) -> list[int]:
    """For each base, the index of its most similar record with a different normalised text."""
    sims = x[bases] @ x.T
    out = []
    for row, b in enumerate(bases):
        order = np.argsort(-sims[row])
        out.append(next(int(j) for j in order if j != b and norm[j] != norm[b]))
    return out


def image_edits(rng: random.Random, im: Any) -> dict[str, Any]:
    """Known edits of one PIL image that leave it the same picture."""
    from PIL import Image, ImageEnhance

    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=70)
    shifted = Image.new(im.mode, im.size, 255)
    shifted.paste(im, (rng.choice((-1, 1)), rng.choice((-1, 1))))
    arr = np.asarray(im, np.float32)
    noisy = np.clip(
        arr + np.random.default_rng(rng.randrange(1 << 30)).normal(0, 8, arr.shape), 0, 255
    )
    return {
        "jpeg": Image.open(io.BytesIO(buf.getvalue())),
        "shift_1px": shifted,
        "brighter": ImageEnhance.Brightness(im).enhance(1.1),
        "noise": Image.fromarray(noisy.astype(np.uint8)),
    }


def calibrate_images(ref_fpr: float, rng: random.Random) -> float:
    """The ``image`` embedder's threshold by the same rule, on the bundled digits images."""
    import pyarrow.parquet as pq
    from PIL import Image

    from builder.curate.image_embed import ImageEmbedder

    table = pq.read_table(DIGITS).to_pylist()
    images = [Image.open(io.BytesIO(r["image"]["bytes"])).convert("L") for r in table]
    emb = ImageEmbedder(Path("."))
    x = normalize_rows(np.stack([emb.features(im) for im in images]))
    bases = sorted(rng.sample(range(len(images)), min(300, len(images))))
    pos: dict[str, list[float]] = {}
    for b in bases:
        for edit, im in image_edits(rng, images[b]).items():
            v = normalize_rows(emb.features(im)[None, :])[0]
            pos.setdefault(edit, []).append(float(v @ x[b]))
    keys = [r["image"]["bytes"] for r in table]
    sims = x[bases] @ x.T
    neg = []
    for row, b in enumerate(bases):
        order = np.argsort(-sims[row])
        j = next(int(j) for j in order if j != b and keys[j] != keys[b])
        neg.append(float(sims[row, j]))
    allpos = np.array([v for vs in pos.values() for v in vs])
    negs = np.array(neg)
    t = float(min(t for t in GRID if rates(allpos, negs, float(t))[1] <= ref_fpr))
    print(
        f"\nimage embedder ({ImageEmbedder.model_id}) on the {len(images):,} digits images: "
        f"{len(bases)} bases × {len(pos)} edits ({', '.join(pos)}), {len(neg)} nearest "
        "distinct neighbours"
    )
    print(f"{'threshold':>9} {'recall by edit':<58} {'recall':>6} {'FPR':>6} {'F1':>6}")
    for label, thr in (("0.92 ", 0.92), ("chosen", t)):
        recall, fpr, _, f1 = rates(allpos, negs, thr)
        per = ", ".join(f"{e} {float((np.array(v) >= thr).mean()):.3f}" for e, v in pos.items())
        tag = f"{thr:.3f}" + ("*" if label == "chosen" else " ")
        print(f"{tag:>9} {per:<58} {recall:>6.3f} {fpr:>6.3f} {f1:>6.3f}")
    return t


def rates(pos: np.ndarray, neg: np.ndarray, t: float) -> tuple[float, float, float, float]:
    """(recall, FPR, precision, F1) at threshold ``t`` (a pair is flagged when sim ≥ t)."""
    tp, fp = float((pos >= t).sum()), float((neg >= t).sum())
    recall = tp / len(pos)
    fpr = fp / len(neg)
    precision = tp / (tp + fp) if tp + fp else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return recall, fpr, precision, f1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bases", type=int, default=600)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "benchsmith-threshold-calibration",
        help="folder for the vectors of a previous run (same texts, same model)",
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    texts = corpus()
    norm = [exact_key(t) for t in texts]
    eligible = [i for i, t in enumerate(texts) if len(t.split()) >= 8]
    bases = sorted(rng.sample(eligible, min(args.bases, len(eligible))))
    variants = {e: [EDIT_FN[e](rng, texts[b]) for b in bases] for e in EDITS}
    pool_texts = texts + [v for e in EDITS for v in variants[e]]
    # A copy the exact-duplicate stage would catch never reaches the near-duplicate one.
    differs = {
        e: np.array([exact_key(v) != norm[b] for b, v in zip(bases, variants[e], strict=True)])
        for e in EDITS
    }
    print(
        f"corpus: {len(texts):,} Debian descriptions; {len(bases)} bases × {len(EDITS)} edits "
        f"copies; seed {args.seed}"
    )
    print(
        "near-duplicate pairs (copies that are not exact duplicates): "
        + ", ".join(f"{e} {int(differs[e].sum())}" for e in EDITS)
    )

    vecs: dict[str, np.ndarray] = {}
    digest = hashlib.sha256("\0".join(pool_texts).encode()).hexdigest()[:16]
    for name in EMBEDDERS:
        started = time.perf_counter()
        model = get_embedder(name, seed=13)
        if isinstance(model, TfidfEmbedder):
            model.fit(pool_texts)
        # Vectors of these very texts by this very model are reused (MiniLM takes minutes).
        slug = hashlib.sha256(model.model_id.encode()).hexdigest()[:12]
        cached = args.cache / f"{name}-{slug}-{digest}.npy"
        if cached.exists():
            vecs[name] = np.load(cached)
        else:
            vecs[name], _ = embed_texts(model, pool_texts)
            args.cache.mkdir(parents=True, exist_ok=True)
            np.save(cached, vecs[name])
        took = time.perf_counter() - started
        print(f"  embedded with {name} ({model.model_id}) in {took:.1f}s")

    n = len(texts)
    neg_pairs = sorted(
        {
            (min(b, j), max(b, j))
            for name in EMBEDDERS
            for b, j in zip(bases, nearest_distinct(vecs[name][:n], bases, norm), strict=True)
        }
    )
    print(f"non-duplicate neighbours: {len(neg_pairs)} pairs (union over the embedders)\n")
    na, nb = np.array([a for a, _ in neg_pairs]), np.array([b for _, b in neg_pairs])

    scores: dict[str, tuple[dict[str, np.ndarray], np.ndarray]] = {}
    for name in EMBEDDERS:
        x = vecs[name]
        pos = {}
        for k, e in enumerate(EDITS):
            off = n + k * len(bases)
            sims = np.einsum("ij,ij->i", x[bases], x[off : off + len(bases)])
            pos[e] = sims[differs[e]]
        neg = np.einsum("ij,ij->i", x[na], x[nb])
        scores[name] = (pos, neg)

    ref_pos, ref_neg = scores["minilm"]
    _, ref_fpr, _, _ = rates(np.concatenate(list(ref_pos.values())), ref_neg, REFERENCE)
    print(f"MiniLM at {REFERENCE}: FPR on the neighbours = {ref_fpr:.4f} (the target)\n")

    header = (
        f"{'embedder':<8} {'threshold':>9} {'typo':>6} {'reorder':>7} {'boiler':>6} "
        f"{'casep':>6} {'recall':>6} {'FPR':>6} {'prec':>6} {'F1':>6}"
    )
    print(header)
    chosen: dict[str, float] = {}
    best_f1: dict[str, tuple[float, float]] = {}
    for name in EMBEDDERS:
        pos, neg = scores[name]
        allpos = np.concatenate(list(pos.values()))
        ok = [t for t in GRID if rates(allpos, neg, float(t))[1] <= ref_fpr]
        chosen[name] = REFERENCE if name == "minilm" else float(min(ok))
        f1s = [(rates(allpos, neg, float(t))[3], float(t)) for t in GRID]
        best_f1[name] = max(f1s)
        for label, t in (("0.92", REFERENCE), ("chosen", chosen[name])):
            recall, fpr, prec, f1 = rates(allpos, neg, t)
            per = " ".join(
                f"{float((pos[e] >= t).mean()):>{w}.3f}"
                for e, w in zip(EDITS, (6, 7, 6, 6), strict=True)
            )
            tag = f"{t:.3f}" + ("*" if label == "chosen" else " ")
            print(f"{name:<8} {tag:>9} {per} {recall:>6.3f} {fpr:>6.3f} {prec:>6.3f} {f1:>6.3f}")
    print("(* = calibrated: the lowest threshold with FPR ≤ MiniLM's at 0.92)")
    for name in EMBEDDERS:
        f1, t = best_f1[name]
        print(f"{name}: F1-maximising threshold {t:.3f} (F1 {f1:.3f}), for comparison")

    chosen["image"] = calibrate_images(ref_fpr, rng)
    print(
        f"\nshare of the {n:,}-record corpus removed as near duplicates (kept-match rule), "
        "before (0.92) / after (calibrated):"
    )
    lengths = np.array([len(t) for t in texts])
    for name in EMBEDDERS:
        x = vecs[name][:n]
        before = len(near_duplicates(x, REFERENCE, seed=13, lengths=lengths).removed)
        t = chosen[name]
        after = len(near_duplicates(x, t, seed=13, lengths=lengths).removed)
        print(
            f"{name:<8} at 0.92: {before:>5} ({before / n:6.1%})   at {t:.3f}: "
            f"{after:>5} ({after / n:6.1%})"
        )
    print("\nin code (builder.curate.embed.DEFAULT_THRESHOLDS):", dict(DEFAULT_THRESHOLDS))
    print("calibrated here:", {k: round(v, 3) for k, v in chosen.items()})


if __name__ == "__main__":
    main()
