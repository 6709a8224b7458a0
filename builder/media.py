"""Image fields: validation at ingest and the content-addressed media store.

An ``image`` field (``source.field_kinds: {FIELD: image}``) holds, per row, a path (relative
to the ingested file, or absolute) in csv/jsonl, or the Hugging Face image struct
``{bytes, path}`` in Parquet. :func:`ingest_image` checks it with Pillow and stores it under
``<home>/media/sha256/<ab>/<cdef…>.<ext>`` (written atomically, one file per content); the
record keeps only an :data:`ImageRef` — never a path that may move.

What is stored: the source bytes as they are, unless the image carries an EXIF orientation
other than 1; then the orientation is applied (``PIL.ImageOps.exif_transpose``) and the pixels
are stored as PNG (lossless). ``sha256`` is the hash of the *stored bytes*, so exact
duplicates are found by it (same bytes = one stored file); re-encoded copies are caught by
the perceptual hash (``phash``: ``imagehash.phash``, 64 bits, DCT of the 32×32 grey image).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

from builder.errors import BenchsmithError
from builder.fsutil import write_bytes_atomic

__all__ = [
    "FORMATS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "ImageError",
    "ImageRef",
    "image_fields",
    "image_text",
    "ingest_image",
    "media_path",
    "media_root",
    "parse_image_text",
    "read_image_bytes",
]

MAX_IMAGE_BYTES = 32 * 1024 * 1024
"""Largest image file accepted (bytes)."""
MAX_IMAGE_PIXELS = 40_000_000
"""Largest image accepted (width × height), checked from the header before decoding."""
FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}
"""Pillow format name → file extension of the stored copy."""

ImageRef = dict[str, Any]
"""What a record stores for an image: ``{"sha256": hex, "format": ext, "width": px,
"height": px, "phash": 16 hex digits}``."""


class ImageError(BenchsmithError):
    """An image value that cannot be ingested or a stored image that is missing."""


def media_root(home: str | Path) -> Path:
    """``<home>/media``: the workspace's content-addressed image store."""
    return Path(home) / "media"


def media_path(root: str | Path, sha256: str, fmt: str) -> Path:
    """``<root>/sha256/<first 2 hex>/<other 62 hex>.<fmt>`` for a stored image."""
    return Path(root) / "sha256" / sha256[:2] / f"{sha256[2:]}.{fmt}"


def _raw_bytes(value: Any, base_dir: Path, max_bytes: int) -> bytes:
    if isinstance(value, dict):
        data = value.get("bytes")
        if data is None and value.get("path"):
            return _raw_bytes(str(value["path"]), base_dir, max_bytes)
        if not isinstance(data, bytes | bytearray):
            raise ImageError(
                "is an image struct without bytes or a path; give {bytes, path} as written by "
                "datasets' Image feature"
            )
        data = bytes(data)
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
    elif isinstance(value, str):
        p = Path(value).expanduser()
        p = p if p.is_absolute() else base_dir / p
        if not p.is_file():
            raise ImageError(
                f"names image file {value!r}, which does not exist at {p}; paths are relative "
                "to the ingested file — fix the path or add the file"
            )
        size = p.stat().st_size
        if size > max_bytes:
            raise ImageError(
                f"names image file {value!r} of {size:,} bytes, over the limit of {max_bytes:,}; "
                "downscale or recompress it"
            )
        data = p.read_bytes()
    else:
        raise ImageError(
            f"must be an image path or {{bytes, path}}, got {type(value).__name__}; "
            "give a path relative to the ingested file"
        )
    if len(data) > max_bytes:
        raise ImageError(
            f"is {len(data):,} bytes, over the limit of {max_bytes:,}; downscale or recompress it"
        )
    if not data:
        raise ImageError("is empty (0 bytes); give a real image file")
    return data


def _checked(data: bytes, max_pixels: int) -> tuple[Any, str]:
    """The decoded image (orientation applied) and its Pillow format; raises ImageError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    with warnings.catch_warnings():
        # Pillow warns (then errors) on decompression bombs; both are refusals here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            head = Image.open(io.BytesIO(data))
            fmt = head.format or ""
            w, h = head.size
            if w * h > max_pixels:
                raise ImageError(
                    f"is {w}×{h} = {w * h:,} pixels, over the limit of {max_pixels:,}; downscale it"
                )
            if fmt not in FORMATS:
                raise ImageError(
                    f"has format {fmt or 'unknown'}, which is not accepted; convert it to one of "
                    f"{', '.join(sorted(FORMATS))}"
                )
            head.verify()
            im = Image.open(io.BytesIO(data))
            im.load()
        except UnidentifiedImageError:
            raise ImageError(
                "is not an image Pillow can read; give a PNG/JPEG/WebP/GIF/BMP/TIFF file"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"is a decompression bomb ({e}); downscale it") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"is damaged or truncated ({e}); re-export the file") from None
    return ImageOps.exif_transpose(im), fmt


def ingest_image(
    value: Any,
    *,
    base_dir: Path,
    root: Path,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ImageRef:
    """Check one image value and store it; return its :data:`ImageRef`.

    ``value``: a path (str, relative to ``base_dir`` or absolute), raw bytes, or a
    ``{bytes, path}`` dict. Raises :class:`ImageError` (message starts with what is wrong, for
    "field X …") when the file is missing, too big (``max_bytes``, ``max_pixels``), not an
    image, truncated or damaged. Storing the same content twice writes one file.
    """
    import imagehash

    data = _raw_bytes(value, base_dir, max_bytes)
    im, fmt = _checked(data, max_pixels)
    ext = FORMATS[fmt]
    if _orientation(data) not in (None, 1):
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        data, ext = buf.getvalue(), "png"
    digest = hashlib.sha256(data).hexdigest()
    target = media_path(root, digest, ext)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, data)
    return {
        "sha256": digest,
        "format": ext,
        "width": im.width,
        "height": im.height,
        "phash": str(imagehash.phash(im)),
    }


def _orientation(data: bytes) -> int | None:
    from PIL import Image

    try:
        value = Image.open(io.BytesIO(data)).getexif().get(0x0112)
    except Exception:
        return None
    return int(value) if isinstance(value, int) else None


def image_text(ref: ImageRef) -> str:
    """The record text of an image text field: ``image <sha256>.<format> phash:<hex>``.

    Curation keys exact duplicates on it (same stored bytes) and reads the phash from it.
    """
    return f"image {ref['sha256']}.{ref['format']} phash:{ref['phash']}"


def parse_image_text(text: str) -> tuple[str, str, int] | None:
    """(sha256, format, phash as int) from :func:`image_text`'s output; None for other text."""
    parts = text.split(" ")
    if len(parts) != 3 or parts[0] != "image" or not parts[2].startswith("phash:"):
        return None
    sha, _, fmt = parts[1].partition(".")
    try:
        return sha, fmt, int(parts[2][6:], 16)
    except ValueError:
        return None


def read_image_bytes(root: str | Path, ref: ImageRef) -> bytes:
    """The stored bytes of ``ref``; raises :class:`ImageError` when the file is gone."""
    p = media_path(root, str(ref["sha256"]), str(ref["format"]))
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise ImageError(
            f"stored image {ref['sha256']}.{ref['format']} is missing from {p}; re-ingest the "
            "source file to restore it"
        ) from None


def image_fields(spec: Any) -> frozenset[str]:
    """The fields of ``spec`` (a :class:`~builder.spec.BenchmarkSpec`) whose kind is ``image``."""
    from builder.domain import FieldKind

    return frozenset(f for f in spec.fields if spec.source.kind(f) is FieldKind.image)
