"""Pydantic models of the file formats releases and evaluations exchange.

``builder.schemas`` picks up :data:`SCHEMAS` and writes ``schemas/<name>.schema.json``:

* ``predictions`` — one line of a predictions JSONL file for ``benchsmith eval``;
* ``release-manifest`` — a release's ``manifest.json``
  (:class:`builder.release.manifest.Manifest`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from builder.release.manifest import Manifest
from builder.textio import id_field

__all__ = ["SCHEMAS", "PredictionLine"]


class PredictionLine(BaseModel):
    """One prediction: the release row's ``id`` and the model's answer.

    The answer's shape follows the task: a label string (classification), a list of
    label strings (multilabel), answer text (reference_answer) or, for multiple_choice,
    the choice letter (``"B"``), its 0-based index (``1``) or the exact choice text;
    ``null`` counts as a missing prediction (scored wrong). Other keys (scores, latency…) are allowed and ignored.
    """

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    """The release row's ``id`` (the record's source id)."""
    prediction: str | list[str] | int | None
    """Predicted label, labels or answer text; null for none."""

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        # Numeric source ids are stored as text in releases; accept either spelling.
        return id_field(value)


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "predictions": PredictionLine.model_json_schema,
    "release-manifest": Manifest.model_json_schema,
}
