"""Release columns beyond inputs and the gold answer: choice index and slice metadata.

* ``answer_index`` (int, multiple_choice only): the 0-based position of the gold letter
  in the row's choice list, beside ``answer`` (the letter), as MMLU-style datasets do.
* The spec's ``evaluation.slices`` metadata fields, after the input fields, so that
  ``eval`` can score every metric per slice value from the release alone.
"""

from __future__ import annotations

from typing import Any

from builder.choices import LETTERS
from builder.domain import TaskType
from builder.errors import ReleaseError
from builder.spec import BenchmarkSpec

__all__ = ["ANSWER_INDEX", "slice_columns", "with_answer_index"]

ANSWER_INDEX = "answer_index"


def slice_columns(spec: BenchmarkSpec) -> list[str]:
    """The ``evaluation.slices`` fields that are not already input fields, in spec order."""
    return [f for f in spec.evaluation.slices if f not in spec.task.input_fields]


def with_answer_index(spec: BenchmarkSpec, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ``answer_index`` set for a multiple-choice task (unchanged otherwise).

    Raises ReleaseError when the gold letter names no choice of the row (e.g. ``E`` on an
    item with four choices), naming the item and the fix.
    """
    if spec.task.type is not TaskType.multiple_choice:
        return row
    assert spec.task.choices_field is not None
    letter = row.get("answer")
    choices = row.get(spec.task.choices_field)
    n = len(choices) if isinstance(choices, list) else 0
    if not isinstance(letter, str) or letter not in LETTERS[:n]:
        raise ReleaseError(
            f"approved item {row.get('id')!r} has answer {letter!r}, but its "
            f"{spec.task.choices_field!r} has {n} choices ({', '.join(LETTERS[:n])}); fix its "
            "answer in the review app (Adjudicate) or send it back, then release again"
        )
    return {**row, ANSWER_INDEX: LETTERS.index(letter)}
