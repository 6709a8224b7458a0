"""Export a release as an Inspect AI task: ``<task>.py`` + ``<task>.jsonl`` beside it.

``inspect eval DIR/<task>.py --model PROVIDER/MODEL`` runs it as is. The task file needs
only ``inspect-ai``: benchsmith's answer normalisation (:mod:`builder.answers`, stdlib
only) is copied beside it as ``_benchsmith_normalize.py`` and loaded from there, so a
reference answer is matched by the same rule that scored the annotators.

Solver and scorer by task type: classification → ``generate()`` + ``benchsmith_label``
(the label the completion names, case/quotes ignored, must equal the gold label);
multilabel → ``benchsmith_labels`` (comma-separated labels; the set must equal the gold
set: Inspect's accuracy is benchsmith's ``exact_match``); reference answer →
``benchsmith_answer`` (normalised exact match), plus Inspect's ``model_graded_qa`` with
the spec's ``evaluation.rubric`` (or the guidelines) when run with ``-T rubric=true``;
multiple choice → ``multiple_choice()`` + ``choice()``. Every scorer stores what it scored
in ``Score.metadata["prediction"]``, which :mod:`builder.evaluate.harness_logs` reads back.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from builder.export._common import ExportResult, Release, to_samples

__all__ = ["task_name", "write_inspect"]

_TEMPLATE = "inspect_template.py.txt"


def task_name(release: Release) -> str:
    """A Python identifier for the task: ``debian_sections_1_0_0``."""
    base = f"{release.manifest.name}_{release.manifest.version}"
    return re.sub(r"\W", "_", base)


def _rubric(release: Release) -> str | None:
    spec = release.manifest.spec
    evaluation = spec.get("evaluation") or {}
    text = evaluation.get("rubric") if isinstance(evaluation, dict) else None
    if isinstance(text, str) and text.strip():
        return text.strip()
    guide = spec.get("guidelines_text") or spec.get("guidelines")
    if isinstance(guide, str) and "\n" in guide:  # the text itself, not a file name
        return guide.strip()
    return None


def write_inspect(release: Release, split: str, tmp: Path, result: ExportResult) -> None:
    """Write the task, its data and the normaliser into ``tmp`` (the export's folder).

    Raises ``ReleaseError`` when the release has no ``split``.
    """
    name = task_name(release)
    samples = to_samples(release, split, tmp)
    data = f"{name}.jsonl"
    with (tmp / data).open("w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    info: dict[str, Any] = {
        "ref": release.ref,
        "content_hash": release.manifest.content_hash,
        "split": split,
        "task_type": release.manifest.task_type,
        "labels": list(release.manifest.labels),
        "rubric": _rubric(release),
        "data_file": data,
    }
    code = (
        resources.files("builder.export")
        .joinpath(_TEMPLATE)
        .read_text(encoding="utf-8")
        .replace("__RELEASE_JSON__", repr(json.dumps(info, ensure_ascii=False)))
        .replace("__FUNC__", name)
        .replace("__NAME__", repr(name))
        .replace("__FILE__", f"{name}.py")
        .replace("__REF__", release.ref)
        .replace("__SPLIT__", split)
        .replace("__HASH__", release.manifest.content_hash)
    )
    (tmp / f"{name}.py").write_text(code, encoding="utf-8")
    normalizer = resources.files("builder").joinpath("answers.py").read_text(encoding="utf-8")
    (tmp / "_benchsmith_normalize.py").write_text(normalizer, encoding="utf-8")
    result.files += [f"{name}.py", data, "_benchsmith_normalize.py"]
    result.files += sorted({p for s in samples for p in s["metadata"].get("images", [])})
    result.items[split] = len(samples)
    # ``FILE@TASK``: Inspect takes a bare .py path as a glob under the cwd (relative only).
    result.run_hint = f"inspect eval {result.out / (name + '.py')}@{name} --model PROVIDER/MODEL"
