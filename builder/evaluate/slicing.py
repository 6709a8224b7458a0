"""Evaluation slices from release metadata, multiple-choice prediction letters, and
reading one slice's metric back out of a stored evaluation (``leaderboard --slice``).

Slices: the spec's ``evaluation.slices`` (stored with the release manifest's spec) name
metadata fields that releases carry as columns; every metric is reported per value of
each, with a bootstrap CI and ``small`` when the slice has fewer than
:data:`builder.evaluate.scoring.SMALL_SLICE` items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from builder.choices import to_letter
from builder.errors import ReleaseError
from builder.evaluate.scoring import SMALL_SLICE
from builder.release.manifest import Manifest

__all__ = ["choice_letters", "metadata_slices", "parse_slice", "slice_lines", "slice_metric"]


def _spec_slices(manifest: Manifest) -> list[str]:
    evaluation = manifest.spec.get("evaluation") or {}
    return [str(f) for f in evaluation.get("slices") or []]


def metadata_slices(manifest: Manifest, rows: list[dict[str, Any]]) -> dict[str, list[str | None]]:
    """field → one slice value per row (as text; None when the row lacks it), for every
    ``evaluation.slices`` field of the release's spec. Raises ReleaseError when the
    release has no column for such a field (released before the slice was added)."""
    out: dict[str, list[str | None]] = {}
    for name in _spec_slices(manifest):
        if rows and name not in rows[0]:
            raise ReleaseError(
                f"{manifest.name}@{manifest.version}: the spec slices by {name!r} but the "
                "release has no such column; publish a new release to slice by it"
            )
        out[name] = [None if r.get(name) is None else str(r[name]) for r in rows]
    return out


def choice_letters(
    manifest: Manifest, rows: list[dict[str, Any]], pred: list[Any]
) -> tuple[list[str | None], Counter[str]]:
    """Multiple-choice predictions as letters (see :func:`builder.choices.to_letter`:
    letter, 0-based index or exact choice text), and a count of the given predictions that
    name no choice of their item (scored as wrong, reported as unknown labels)."""
    field = (manifest.spec.get("task") or {}).get("choices_field")
    letters: list[str | None] = []
    odd: Counter[str] = Counter()
    for row, p in zip(rows, pred, strict=True):
        choices = row.get(field) if field else None
        letter = to_letter(p, choices if isinstance(choices, list) else None)
        if p is not None and letter is None:
            odd[str(p)] += 1
        letters.append(letter)
    return letters, odd


def parse_slice(text: str) -> tuple[str, str]:
    """``"FIELD=VALUE"`` → (field, value); ReleaseError naming the text otherwise."""
    field, eq, value = text.partition("=")
    if not eq or not field.strip():
        raise ReleaseError(f"--slice {text!r} is not FIELD=VALUE; write e.g. --slice subject=devel")
    return field.strip(), value


def slice_metric(
    metrics: Mapping[str, Any], field: str, value: str, metric: str
) -> dict[str, Any] | None:
    """``{"value", "ci", "n", "small"}`` of ``metric`` on slice ``field=value`` of a stored
    evaluation, or None when that evaluation has no such slice."""
    got = ((metrics.get("slices") or {}).get(field) or {}).get(value)
    if not got or metric not in got:
        return None
    return {
        "value": float(got[metric]),
        "ci": (got.get("ci") or {}).get(metric),
        "n": int(got.get("n", 0)),
        "small": bool(got.get("small", False)),
    }


def slice_lines(result: Mapping[str, Any], metric: str) -> list[str]:
    """Text lines for ``eval``'s slice report: per slice value, n, ``metric`` and its 95% CI,
    with a note on slices too small for a useful interval. Cluster slices are left out
    (there are many; ``--json`` has them)."""
    lines: list[str] = []
    small = 0
    for name, values in (result.get("slices") or {}).items():
        if name == "cluster":
            continue
        lines.append(f"  by {name}:")
        for value, got in values.items():
            ci = (got.get("ci") or {}).get(metric)
            shown = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
            mark = "  (small)" if got.get("small") else ""
            small += bool(got.get("small"))
            lines.append(
                f"    {value:<24} n={got['n']:<5} {metric} {got[metric]:.3f} {shown}{mark}"
            )
    if small:
        lines.append(
            f"  note: {small} slice(s) marked (small) have under {SMALL_SLICE} items; their "
            "intervals are too wide to compare models on"
        )
    return lines
