"""Export a release as plain JSONL prompts + targets, for any other harness.

One line per item: ``{"id", "input", "target", "choices"?, "metadata"}`` (see
:mod:`builder.export._common`; ``choices`` only for multiple-choice items), in
``<task>.<split>.jsonl``. ``metadata`` carries the release ref and content hash, so
OpenAI evals, promptfoo or a script of your own can trace results back. Score the
answers with ``benchsmith eval NAME@VERSION --predictions FILE`` (``{"id", "prediction"}``).
"""

from __future__ import annotations

import json
from pathlib import Path

from builder.export._common import ExportResult, Release, to_samples
from builder.export.inspect import task_name

__all__ = ["write_jsonl"]


def write_jsonl(release: Release, split: str, tmp: Path, result: ExportResult) -> None:
    """Write ``<task>.<split>.jsonl`` into ``tmp``; raises ``ReleaseError`` without the split."""
    samples = to_samples(release, split, tmp)
    rel = f"{task_name(release)}.{split}.jsonl"
    with (tmp / rel).open("w", encoding="utf-8") as f:
        for s in samples:
            if s["choices"] is None:
                del s["choices"]
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    result.files.append(rel)
    result.files += sorted({p for s in samples for p in s["metadata"].get("images", [])})
    result.items[split] = len(samples)
    result.run_hint = f"your harness on {Path(result.out) / rel}"
