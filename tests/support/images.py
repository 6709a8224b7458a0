"""Image benchmarks for tests: real optdigits PNGs (data/make_digits.py) and a digits spec."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

from builder.config import Settings
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import DATA, spec_copy

_spec = importlib.util.spec_from_file_location("make_digits", DATA / "make_digits.py")
assert _spec is not None and _spec.loader is not None
make_digits = importlib.util.module_from_spec(_spec)  # data/make_digits.py: the sample's builder
_spec.loader.exec_module(make_digits)

DIGITS_SPEC = DATA / "digits.yaml"


def digit_rows(n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of the bundled digits sample (id, image {bytes, path}, label, group)."""
    return make_digits.rows()[:n]


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """``rows`` (as :func:`digit_rows`) as a Parquet file with the HF image struct."""
    make_digits.write(path, rows)
    return path


def image_spec(tmp: Path, **curation: Any) -> Path:
    """data/digits.yaml with ``curation`` keys changed, written into ``tmp``."""
    return spec_copy(DIGITS_SPEC, tmp, {"curation": curation})


def image_workspace(settings: Settings, tmp: Path, **curation: Any) -> Workspace:
    """A workspace with the digits benchmark (``curation`` changes applied)."""
    init_workspace(settings, image_spec(tmp, **curation))
    return open_workspace(settings)


def png(pixels: Any) -> bytes:
    """PNG bytes of a uint8 array (grey 2-D or RGB 3-D)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def decoded(data: bytes) -> Any:
    """The pixels of encoded image ``data`` as a numpy array."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))
