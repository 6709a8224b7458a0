"""Duplicate removal of the latest curation run, for the Dashboard page.

Pure: the stored curation report in, what the page shows out (the rule in words, the
records removed per kind, and the removed near duplicates closest to the threshold with
the kept record each duplicates), and the records each curation stage removed with the pairs
on both sides of the threshold. Reports written before the rule was stated
(``format_version`` 1) have counts but no rule or examples; before ``format_version`` 3,
no threshold source and no pairs below the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from builder.curate.report import stage_counts

__all__ = ["DuplicatePair", "Duplicates", "ThresholdPair", "duplicates_from"]


@dataclass(frozen=True)
class DuplicatePair:
    """A removed near duplicate and the kept record it duplicates."""

    kept_id: str
    kept_text: str
    removed_id: str
    removed_text: str
    cosine: float | None


@dataclass(frozen=True)
class ThresholdPair:
    """Two records whose cosine is close to the threshold, on either side of it."""

    side: str
    """``removed`` (cosine ≥ threshold: ``first`` was removed as a near duplicate of
    ``second``) or ``kept`` (below it: both kept)."""
    first_id: str
    first_text: str
    second_id: str
    second_text: str
    cosine: float | None


@dataclass(frozen=True)
class Duplicates:
    """How the latest curation run removed duplicates."""

    rule: str
    """The rule, in words, as the report states it ("" for reports that predate it)."""
    threshold: float | None
    """Cosine threshold of the near-duplicate rule."""
    removed: dict[str, int]
    """Records removed per kind: ``exact`` and ``near`` (the near count includes any the final
    check of the sample ruled out)."""
    examples: list[DuplicatePair] = field(default_factory=list)
    """Removed near duplicates closest to the threshold, lowest cosine first."""
    removed_file: str | None = None
    """Where the full list of removed records is, when it was too long for the report."""
    threshold_source: str = ""
    """``spec`` or ``embedder default`` ("" for reports before format 3)."""
    stages: list[tuple[str, int]] = field(default_factory=list)
    """(stage, records) from pool to sample (:func:`~builder.curate.report.stage_counts`)."""
    threshold_pairs: list[ThresholdPair] = field(default_factory=list)
    """Pairs closest to the threshold on both sides, highest cosine first (format 3)."""

    @property
    def total(self) -> int:
        """Records removed as duplicates of any kind."""
        return sum(self.removed.values())


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def duplicates_from(report: dict[str, Any] | None) -> Duplicates | None:
    """What the page shows of a curation report's duplicate removal (None: no report)."""
    if not report:
        return None
    examples = [
        DuplicatePair(
            kept_id=_str(e.get("duplicate_of")),
            kept_text=_str(e.get("duplicate_of_text")),
            removed_id=_str(e.get("source_id")),
            removed_text=_str(e.get("text")),
            cosine=_float(e.get("cosine")),
        )
        for e in report.get("near_duplicate_examples") or []
        if isinstance(e, dict)
    ]
    pairs = [
        ThresholdPair(
            side="kept" if e.get("side") == "kept" else "removed",
            first_id=_str(e.get("source_id")),
            first_text=_str(e.get("text")),
            second_id=_str(e.get("other")),
            second_text=_str(e.get("other_text")),
            cosine=_float(e.get("cosine")),
        )
        for e in report.get("threshold_examples") or []
        if isinstance(e, dict)
    ]
    file = report.get("removed_file")
    return Duplicates(
        rule=_str(report.get("near_duplicate_rule")),
        threshold=_float(report.get("near_duplicate_threshold")),
        removed={
            "exact": _int(report.get("exact_duplicates")),
            "near": _int(report.get("near_duplicates")),
        },
        examples=examples,
        removed_file=file if isinstance(file, str) and file else None,
        threshold_source=_str(report.get("near_duplicate_threshold_source")),
        stages=_stages(report),
        threshold_pairs=pairs,
    )


def _stages(report: dict[str, Any]) -> list[tuple[str, int]]:
    try:
        return stage_counts(report)
    except (TypeError, ValueError, AttributeError):  # a malformed stored report: no table
        return []
