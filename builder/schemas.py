"""Generate ``schemas/*.schema.json`` from the pydantic models of every file format.

Run ``python -m builder.schemas`` after changing a format model; a test fails when stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builder.spec import BenchmarkSpec

__all__ = ["SCHEMAS", "render", "write_all"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# name → function returning the JSON Schema; other modules add their formats here.
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "benchmark": BenchmarkSpec.model_json_schema,
}


def _register_optional() -> None:
    # Formats owned by other modules register lazily to keep import order one way.
    import importlib

    for mod in ("builder.formats", "builder.review.annotations_io", "builder.review.suggestions"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError:
            continue
        SCHEMAS.update(getattr(m, "SCHEMAS", {}))


def render(name: str) -> str:
    """The schema file text for format ``name``."""
    _register_optional()
    schema = SCHEMAS[name]()
    schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    schema.setdefault("$id", f"https://benchsmith.dev/schemas/{name}.schema.json")
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file; return the paths written."""
    from builder.fsutil import write_text_atomic

    _register_optional()
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name in sorted(SCHEMAS):
        path = directory / f"{name}.schema.json"
        write_text_atomic(path, render(name))
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write_all():
        sys.stdout.write(f"wrote {p}\n")
