"""Build the image sample ``data/digits.parquet`` from scikit-learn's copy of UCI optdigits.

``sklearn.datasets.load_digits()`` ships (inside the scikit-learn wheel, no download) the
1,797 test-set images of the UCI "Optical Recognition of Handwritten Digits" data set
(E. Alpaydin, C. Kaynak, 1998; 8×8 pixels, values 0..16; licence CC BY 4.0 per the UCI
archive page). Each image is written as a 32×32 grey PNG (nearest-neighbour upscaling ×4,
ink dark on white: ``255 - round(v * 255 / 16)``), deterministic bytes (Pillow, no metadata).

Columns: ``id`` (``digit-0000`` … in the order load_digits returns them), ``image`` (the
Hugging Face image struct ``{bytes, path}``; ``datasets`` reads it as ``Image()`` through the
Parquet schema's ``huggingface`` metadata), ``label`` (the digit as a string, "0".."9") and
``group`` (``g0``..``g3`` = row index mod 4: a deterministic stand-in; load_digits carries
no writer ids).

Run from the repository root: ``python data/make_digits.py [--out data/digits.parquet]``.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

HF_META = {
    b"huggingface": json.dumps({"info": {"features": {"image": {"_type": "Image"}}}}).encode()
}
"""Parquet schema metadata that makes ``datasets`` decode the ``image`` column as Image()."""


def digit_png(pixels: Any, scale: int = 4) -> bytes:
    """PNG bytes of one 8×8 optdigits image (values 0..16), upscaled ``scale``× nearest."""
    from PIL import Image

    arr = np.asarray(pixels, dtype=np.float64).reshape(8, 8)
    grey = (255 - np.rint(np.clip(arr, 0, 16) * 255 / 16)).astype(np.uint8)
    big = np.kron(grey, np.ones((scale, scale), np.uint8))
    buf = io.BytesIO()
    Image.fromarray(big, mode="L").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def rows() -> list[dict[str, Any]]:
    """One dict per image: id, image {bytes, path}, label, group."""
    from sklearn.datasets import load_digits

    d = load_digits()
    out = []
    for i, (img, target) in enumerate(zip(d.images, d.target, strict=True)):
        sid = f"digit-{i:04d}"
        out.append(
            {
                "id": sid,
                "image": {"bytes": digit_png(img), "path": f"{sid}.png"},
                "label": str(int(target)),
                "group": f"g{i % 4}",
            }
        )
    return out


def write(out: Path, data: list[dict[str, Any]]) -> None:
    """Write ``data`` (rows as from :func:`rows`) to the Parquet file ``out``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("label", pa.string()),
            ("group", pa.string()),
        ],
        metadata=HF_META,
    )
    table = pa.Table.from_pylist(data, schema=schema)
    pq.write_table(table, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("digits.parquet"))
    args = ap.parse_args()
    data = rows()
    write(args.out, data)
    print(f"wrote {len(data)} images to {args.out}")


if __name__ == "__main__":
    main()
