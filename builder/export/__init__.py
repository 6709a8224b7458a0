"""Export a verified release into the evaluation harnesses engineers already use.

:func:`export_release` pulls and verifies ``name@version`` (``builder.release.pull``), then
writes one format into a folder, atomically:

* ``inspect`` — an Inspect AI task file (:mod:`builder.export.inspect`),
* ``lm-eval`` — an lm-evaluation-harness task folder (:mod:`builder.export.lm_eval`),
* ``jsonl`` — prompts + targets, one per line (:mod:`builder.export.jsonl`).

Every export records the release ref and content hash inside it, and
``benchsmith eval`` refuses a harness log whose content hash is not the release's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builder.errors import ReleaseError
from builder.export._common import ExportResult, Release, atomic_dir
from builder.release.pull import TrustArg, pull_release, read_table
from builder.release.registry import Registry
from builder.workspace import Workspace

__all__ = ["FORMATS", "ExportResult", "Release", "export_release", "open_release"]

FORMATS = ("inspect", "lm-eval", "jsonl")


def _decode(table: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    encoded = [f.name for f in table.schema if (f.metadata or {}).get(b"encoding") == b"json"]
    for row in rows:
        for name in encoded:
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
    return rows


def open_release(
    name: str,
    version: str = "latest",
    *,
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    trust: TrustArg = None,
    workspace: Workspace | None = None,
) -> Release:
    """Pull and verify ``name@version``; every split's rows as plain Python values.

    ``workspace``: the publishing workspace when open (its own key verifies its releases).

    Raises what :func:`builder.release.pull.pull_release` raises (``IntegrityError``,
    ``TrustError``, ``NotFoundError``).
    """
    pulled = pull_release(
        name, version, registry=registry, cache_dir=cache_dir, trust=trust, workspace=workspace
    )
    m = pulled.manifest
    return Release(m, {s: _decode(read_table(pulled.path, m, s)) for s in m.splits})


def export_release(
    name: str,
    version: str,
    fmt: str,
    out: str | Path,
    *,
    split: str = "test",
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    trust: TrustArg = None,
    force: bool = False,
    release: Release | None = None,
    workspace: Workspace | None = None,
) -> ExportResult:
    """Write ``name@version`` as ``fmt`` (one of :data:`FORMATS`) into the folder ``out``.

    ``split`` is the split to run (lm-eval gets every split, ``split`` as its test split).
    ``out`` must be absent or empty unless ``force``; it is replaced atomically. ``release``
    skips the pull (an already opened release). Raises :class:`ReleaseError` for an unknown
    format, a missing split or a non-empty ``out``, plus what the pull raises.
    """
    if fmt not in FORMATS:
        raise ReleaseError(f"--format {fmt!r} is not supported; use one of: {', '.join(FORMATS)}")
    rel = release or open_release(
        name, version, registry=registry, cache_dir=cache_dir, trust=trust, workspace=workspace
    )
    final = Path(out).absolute()
    result = ExportResult(fmt, rel.ref, rel.manifest.content_hash, final)
    with atomic_dir(final, force=force) as tmp:
        if fmt == "inspect":
            from builder.export.inspect import write_inspect

            write_inspect(rel, split, tmp, result)
        elif fmt == "lm-eval":
            from builder.export.lm_eval import write_lm_eval

            write_lm_eval(rel, split, tmp, final, result)
        else:
            from builder.export.jsonl import write_jsonl

            write_jsonl(rel, split, tmp, result)
        (tmp / "benchsmith-export.json").write_text(
            json.dumps({k: v for k, v in result.to_dict().items()}, indent=2) + "\n",
            encoding="utf-8",
        )
    result.files.append("benchsmith-export.json")
    return result
