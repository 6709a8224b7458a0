"""Bringing work over from other labeling tools: Label Studio's JSON export and Argilla's
Hugging Face ``datasets`` export.

Each format module reads its export twice over: as pool rows for ``ingest`` (``readers``
yields them) and as answers for ``annotations import``, which checks and stores them by the
same rules as a JSON Lines import (``builder.review.annotations_io``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ForeignAnswer"]


@dataclass(frozen=True)
class ForeignAnswer:
    """One answer read from another tool's export, before benchsmith checks it."""

    where: str
    """Where it was in the export, for errors: ``task 17, annotation 4`` / ``record r-9``."""
    fields: dict[str, Any] | None
    """An annotations line (``source_id``, ``annotator``, ``label``/``labels``/``answer``,
    ``comment``); None when it could not be read (see ``error``)."""
    error: str | None = None
    email: str | None = None
    """The annotator's e-mail in the export: the workspace user with that address answers
    (else ``fields["annotator"]``, created with this address)."""
