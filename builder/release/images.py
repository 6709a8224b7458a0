"""Image columns of a release (fields of kind ``image``, see :mod:`builder.media`).

Parquet: the Hugging Face image struct ``{bytes: binary, path: string}`` holding the stored
bytes (pixels identical to the ingested image, orientation applied) and ``<sha256>.<ext>``;
the schema's ``huggingface`` metadata marks the column ``{"_type": "Image"}`` so ``datasets``
decodes it as ``PIL.Image`` while pandas reads a dict with ``bytes``. JSONL keeps the record's
:data:`~builder.media.ImageRef` (sha256, format, width, height, phash) and no bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from builder.media import ImageError, read_image_bytes

__all__ = ["IMAGE_STRUCT", "hf_metadata", "parquet_values"]

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
"""Arrow type of an image column (what ``datasets.Image().pa_type`` is)."""


def hf_metadata(image_columns: Iterable[str]) -> dict[bytes, bytes]:
    """Parquet schema metadata marking ``image_columns`` as ``datasets`` ``Image()`` features."""
    features = {name: {"_type": "Image"} for name in image_columns}
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}


def parquet_values(media: Path | None, refs: Sequence[Any]) -> list[dict[str, Any] | None]:
    """``{bytes, path}`` per image ref (None stays None) read from the image store ``media``.

    Raises :class:`~builder.media.ImageError` for a lost file or when ``media`` is None.
    """
    if media is None:
        raise ImageError(
            "a release with image columns needs the workspace's media folder; pass "
            "arrow_schema(..., media=media_root(home))"
        )
    return [
        None
        if ref is None
        else {"bytes": read_image_bytes(media, ref), "path": f"{ref['sha256']}.{ref['format']}"}
        for ref in refs
    ]
