"""Image curation speed: ``curate`` of 10,000 images against the bare image embedding.

The pool: the 1,797 optdigits images of data/make_digits.py, varied deterministically to
10,000 distinct 32×32 PNGs (variant v = i // 1797 of digit i % 1797 is shifted by
(v % 3 - 1, v // 3 % 3 - 1) pixels and gets seeded noise of ±8 grey levels), ingested once.

Per round (medians of REPEATS, default 3, interleaved):
  - embed: ``ImageEmbedder.encode`` over every record text (decoding each stored PNG);
  - curate: the whole ``curate`` (size 300, embedding cache empty, a fresh copy of the
    ingested workspace), i.e. scan, filters, exact + phash dedup, embedding, near-duplicate
    search, k-means and sampling.
Target: curate ≤ 1.3 × embed.

    .venv/bin/python benchmarks/image_curation.py [--n 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 1.3


def _make_digits() -> Any:
    spec = importlib.util.spec_from_file_location("make_digits", ROOT / "data" / "make_digits.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pool_rows(n: int) -> list[dict[str, Any]]:
    """``n`` distinct digit images (see the module docstring)."""
    import io

    from PIL import Image
    from sklearn.datasets import load_digits

    md = _make_digits()
    d = load_digits()
    rng = np.random.default_rng(13)
    out = []
    for i in range(n):
        k, v = i % len(d.images), i // len(d.images)
        base = md.digit_png(d.images[k])
        px = np.asarray(Image.open(io.BytesIO(base)), np.int16)
        px = np.roll(px, (v % 3 - 1, v // 3 % 3 - 1), axis=(0, 1)) if v else px
        px = np.clip(px + rng.integers(-8, 9, px.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(px, mode="L").save(buf, format="PNG")
        sid = f"v{v}-{k:04d}"
        out.append({"id": sid, "image": {"bytes": buf.getvalue(), "path": f"{sid}.png"},
                    "label": str(int(d.target[k])), "group": f"g{k % 4}"})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from builder.config import Settings
    from builder.curate.image_embed import ImageEmbedder
    from builder.curate.pipeline import curate
    from builder.ingest import ingest_files
    from builder.media import media_root
    from builder.store.pool import iter_pool
    from builder.workspace import init_workspace, open_workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench-image-curation-"))
    try:
        tick = time.perf_counter()
        rows = pool_rows(args.n)
        src = tmp / "pool.parquet"
        _make_digits().write(src, rows)
        base = Settings.from_env({}, home=tmp / "base", registry=str(tmp / "reg"),
                                 private_registry=str(tmp / "priv"))  # fmt: skip
        init_workspace(base, ROOT / "data" / "digits.yaml")
        ws = open_workspace(base)
        ingest_files(ws, [src])
        bench, _ = ws.benchmark(None)
        with ws.db.session() as s:
            texts = [r.text for chunk in iter_pool(s, bench.id) for r in chunk]  # type: ignore[arg-type]
        ws.db.dispose()
        print(f"pool: {len(texts):,} images generated and ingested in "
              f"{time.perf_counter() - tick:.1f} s")  # fmt: skip

        embed_s: list[float] = []
        curate_s: list[float] = []
        for r in range(args.repeats):
            model = ImageEmbedder(media_root(base.home))
            tick = time.perf_counter()
            model.encode(texts)
            embed_s.append(time.perf_counter() - tick)

            home = tmp / f"run{r}"
            shutil.copytree(base.home, home)
            shutil.rmtree(home / "embeddings", ignore_errors=True)
            run = Settings.from_env({}, home=home, registry=str(tmp / "reg"),
                                    private_registry=str(tmp / "priv"))  # fmt: skip
            rws = open_workspace(run)
            tick = time.perf_counter()
            report = curate(rws, size=300)
            curate_s.append(time.perf_counter() - tick)
            rws.db.dispose()
            print(f"round {r + 1}: embed {embed_s[-1]:.2f} s, curate {curate_s[-1]:.2f} s "
                  f"(selected {len(report.selected)}, exact dup {report.exact_duplicates}, "
                  f"near dup {report.near_duplicates}); curate stages (s): {report.stages}")  # fmt: skip
        e, c = statistics.median(embed_s), statistics.median(curate_s)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        ratio = c / e
        print(f"median embed {e:.2f} s · median curate {c:.2f} s · ratio {ratio:.2f}× "
              f"(target ≤ {TARGET}×: {'met' if ratio <= TARGET else 'NOT met'})")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
