"""Near-duplicate removal side by side: benchsmith's kept-match rule and semhash (MinishLab).

Pool: real text found on this machine, no synthetic edits: every docstring paragraph of at
least 40 characters in the ``.py`` files of this project's ``.venv`` site-packages (files in
sorted path order, nodes in ``ast.walk`` order, paragraphs split at blank lines, stripped;
nothing de-duplicated here). ``--limit`` keeps the first N paragraphs (the recorded run used
``--limit 120000``; ``--cache DIR`` keeps the pool and vectors for reruns). ``--pool curation``
uses the synthetic pool of ``benchmarks/curation_speed.py`` instead (``--large`` records,
117,000 by default, the size the curation speed is measured on), e.g. with
``--thresholds 0.92`` (the spec's threshold there).

Both see the same vectors: the pool is embedded once with the ``static`` embedder (the
model2vec model inside the PyPI package ``tokenlearn-static-model``, 64-d, unit rows) and the
vectors are handed to ``SemHash.from_embeddings`` (its own ``Encoder`` is the same model2vec
model, loaded by path; from_embeddings and self_deduplicate never call it). Records are given
to semhash as ``{"id", "text"}`` with both columns as the key, so its exact-match grouping
joins nothing and both methods work from the vectors alone (identical texts have cosine 1
and are near duplicates for both).

semhash is not a project dependency: it runs in a separate virtual environment, in a
subprocess that reads the vectors (``.npy``) and records (JSON Lines) and writes back the
removed indices and its timings::

    python3 -m venv /tmp/semhash-venv
    /tmp/semhash-venv/bin/pip install semhash model2vec numpy
    .venv/bin/python benchmarks/near_duplicates_semhash.py [--semhash-python PATH]

(``--semhash-python`` defaults to ``$SEMHASH_PYTHON``, else /tmp/semhash-venv/bin/python.)

Timed per threshold, median of ``--repeats`` interleaved runs (embedding excluded): benchsmith
:func:`builder.curate.pair_search.near_duplicates` (pair search, greedy keep rule, check search
over the kept records); semhash ``from_embeddings`` (usearch index) + ``self_deduplicate``.
Keep priority differs by design (benchsmith: nearest its cell centre, then longest, then
first; semhash: input order), so the removed sets differ even where both are exact.

For each it prints records, time and the semhash/benchsmith ratio, removed records,
removed records with no kept record at cosine ≥ threshold, and pairs ≥ threshold left among
the kept records (both by an exhaustive blocked matmul over the vectors), and the Jaccard
index of the two removed sets.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.curate.embed import get_embedder  # noqa: E402
from builder.curate.pair_search import NearDuplicates, near_duplicates  # noqa: E402

THRESHOLDS = (0.92, 0.97)
MIN_CHARS = 40
_PARA = re.compile(r"\n[ \t]*\n")

_RUNNER = r"""
import json, statistics, sys, time
import numpy as np
from model2vec import StaticModel
from semhash import SemHash

vectors, records, model_dir, out, repeats = sys.argv[1:6]
x = np.load(vectors)
with open(records, encoding="utf-8") as f:
    recs = [json.loads(line) for line in f]
model = StaticModel.from_pretrained(model_dir)
report = {}
for thr in [float(t) for t in sys.argv[6:]]:
    times = []
    for _ in range(int(repeats)):
        t0 = time.perf_counter()
        sh = SemHash.from_embeddings(x, recs, model=model, columns=["id", "text"])
        res = sh.self_deduplicate(threshold=thr)
        times.append(time.perf_counter() - t0)
    removed = sorted(int(d.record["id"]) for d in res.filtered)
    np.save(f"{out}/removed-{thr}.npy", np.asarray(removed, dtype=np.int64))
    report[str(thr)] = {"times": times, "selected": len(res.selected)}
with open(f"{out}/semhash.json", "w") as f:
    json.dump(report, f)
"""


def docstring_pool(site: Path, limit: int | None) -> list[str]:
    """Docstring paragraphs (≥ MIN_CHARS characters) of every .py file under ``site``."""
    out: list[str] = []
    for path in sorted(site.rglob("*.py")):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if not isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                continue
            doc = ast.get_docstring(node, clean=True)
            if not doc:
                continue
            for para in _PARA.split(doc):
                para = para.strip()
                if len(para) >= MIN_CHARS:
                    out.append(para)
                    if limit is not None and len(out) >= limit:
                        return out
    return out


def without_kept_match(x: np.ndarray, keep: np.ndarray, thr: float, block: int = 2048) -> int:
    """Removed rows whose best cosine with any kept row is below ``thr`` (exhaustive)."""
    xk = x[keep]
    gone = np.flatnonzero(~keep)
    bad = 0
    for s in range(0, len(gone), block):
        best = (x[gone[s : s + block]] @ xk.T).max(axis=1)
        bad += int((best < thr).sum())
    return bad


def kept_pairs(x: np.ndarray, keep: np.ndarray, thr: float, block: int = 2048) -> int:
    """Pairs of kept rows with cosine ≥ ``thr`` (exhaustive, each pair once)."""
    xk = x[keep]
    n = 0
    for s in range(0, len(xk), block):
        sims = xk[s : s + block] @ xk[s:].T
        hits = sims >= thr
        square = hits[:, : min(block, len(xk) - s)]
        square[np.tril_indices(square.shape[0], 0, square.shape[1])] = False
        n += int(hits.sum())
    return n


def keep_mask(n: int, removed: np.ndarray) -> np.ndarray:
    keep = np.ones(n, dtype=bool)
    keep[removed] = False
    return keep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--semhash-python",
        default=os.environ.get("SEMHASH_PYTHON", "/tmp/semhash-venv/bin/python"),
        help="python of the virtual environment semhash is installed in",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--pool",
        choices=("docstrings", "curation"),
        default="docstrings",
        help="docstring paragraphs, or the pool of benchmarks/curation_speed.py (--large N)",
    )
    ap.add_argument("--large", type=int, default=117_000, help="records of the curation pool")
    ap.add_argument(
        "--thresholds", default=",".join(map(str, THRESHOLDS)), help="comma-separated cosines"
    )
    ap.add_argument("--limit", type=int, default=None, help="first N paragraphs only")
    ap.add_argument(
        "--cache", type=Path, default=None, help="keep the pool and its vectors here for reruns"
    )
    args = ap.parse_args()

    site = Path(sysconfig.get_paths()["purelib"])
    thresholds = tuple(float(t) for t in args.thresholds.split(","))
    embedder = get_embedder("static")
    tag = f"curation-{args.large}" if args.pool == "curation" else f"pool-{args.limit or 'all'}"
    cache = args.cache / tag if args.cache else None
    if cache is not None and (cache / "vectors.npy").is_file():
        texts = json.loads((cache / "texts.json").read_text(encoding="utf-8"))
        x = np.load(cache / "vectors.npy")
        build_s = embed_s = 0.0
    else:
        tick = time.perf_counter()
        if args.pool == "curation":
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from curation_speed import make_rows

            texts = [r["description"] for r in make_rows("static", 0, args.large)]
        else:
            texts = docstring_pool(site, args.limit)
        build_s = time.perf_counter() - tick
        tick = time.perf_counter()
        x = np.ascontiguousarray(embedder.encode(texts), dtype=np.float32)
        embed_s = time.perf_counter() - tick
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            (cache / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
            np.save(cache / "vectors.npy", x)
    n = len(texts)
    if args.pool == "curation":
        print(f"pool: benchmarks/curation_speed.py's static pool, {args.large:,} records")
    else:
        print(f"pool: docstring paragraphs (>= {MIN_CHARS} chars) of {site}")
    print(
        f"records: {n:,} ({len(set(texts)):,} distinct texts); built in {build_s:.1f} s, "
        f"embedded ({embedder.model_id}, {x.shape[1]}-d) in {embed_s:.1f} s"
    )
    import static_model

    model_dir = Path(static_model.__file__).resolve().parent / "model"

    with tempfile.TemporaryDirectory(prefix="semhash-bench-") as tmp:
        work = Path(tmp)
        np.save(work / "vectors.npy", x)
        with open(work / "records.jsonl", "w", encoding="utf-8") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": str(i), "text": t}) + "\n")
        (work / "runner.py").write_text(_RUNNER, encoding="utf-8")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        sem_times: dict[float, list[float]] = {t: [] for t in thresholds}
        our_times: dict[float, list[float]] = {t: [] for t in thresholds}
        kept: dict[float, NearDuplicates] = {}
        near_duplicates(x[:2000], thresholds[0])  # warm-up (imports, BLAS threads)
        # Repeats interleaved (semhash, then benchsmith) so load changes hit both alike.
        for _ in range(args.repeats):
            subprocess.run(
                [args.semhash_python, str(work / "runner.py"), str(work / "vectors.npy"),
                 str(work / "records.jsonl"), str(model_dir), str(work), "1",
                 *map(str, thresholds)],
                check=True, env=env,
            )  # fmt: skip
            sem = json.loads((work / "semhash.json").read_text())
            for thr in thresholds:
                sem_times[thr] += sem[str(thr)]["times"]
                tick = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kept[thr] = near_duplicates(x, thr)
                our_times[thr].append(time.perf_counter() - tick)
        sem_removed = {t: np.load(work / f"removed-{t}.npy") for t in thresholds}

    for thr in thresholds:
        nd = kept[thr]
        ours_t = statistics.median(our_times[thr])
        sem_t = statistics.median(sem_times[thr])
        ours_keep = nd.keep
        sem_keep = keep_mask(n, sem_removed[thr])
        assert int((~sem_keep).sum()) + sem[str(thr)]["selected"] == n  # every record once
        a, b = set(np.flatnonzero(~ours_keep).tolist()), set(sem_removed[thr].tolist())
        jac = len(a & b) / len(a | b) if a | b else 1.0
        print(f"\nthreshold {thr}  (median of {args.repeats}; embedding excluded)")
        print(f"  {'':12} {'time s':>8} {'removed':>9} {'no kept match':>14} {'kept pairs':>11}")
        for name, keep, t in (("benchsmith", ours_keep, ours_t), ("semhash", sem_keep, sem_t)):
            print(
                f"  {name:12} {t:8.2f} {int((~keep).sum()):9,} "
                f"{without_kept_match(x, keep, thr):14,} {kept_pairs(x, keep, thr):11,}"
            )
        print(
            f"  semhash / benchsmith time: {sem_t / ours_t:.2f}; Jaccard of removed sets: "
            f"{jac:.4f} (both {len(a & b):,}, only benchsmith {len(a - b):,}, "
            f"only semhash {len(b - a):,}); benchsmith searches {nd.searches}, "
            f"verified {nd.verified}"
        )


if __name__ == "__main__":
    main()
