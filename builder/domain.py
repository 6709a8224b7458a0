"""The domain's closed vocabularies, shared by the store, the library and the review app.

Stored as plain VARCHAR (a ``StrEnum`` member *is* its string), so typing a column with one
of these changes no data. This module imports nothing of benchsmith's: every layer may use it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FieldKind", "ItemStatus", "Role", "TaskType", "Verdict"]


class ItemStatus(StrEnum):
    """Item lifecycle: candidate → in_review → consensus|conflict → approved|rejected → released."""

    candidate = "candidate"
    in_review = "in_review"
    consensus = "consensus"
    conflict = "conflict"
    approved = "approved"
    rejected = "rejected"
    released = "released"


class Role(StrEnum):
    """What a user may do; each role includes the ones before it."""

    annotator = "annotator"
    reviewer = "reviewer"
    lead = "lead"


class Verdict(StrEnum):
    """A reviewer's decision on an item."""

    approved = "approved"
    rejected = "rejected"
    sent_back = "sent_back"


class TaskType(StrEnum):
    """What annotators produce for an item."""

    classification = "classification"
    multilabel = "multilabel"
    reference_answer = "reference_answer"
    multiple_choice = "multiple_choice"
    """One of the item's own choices, named by its letter A–J (``builder.choices``)."""


class FieldKind(StrEnum):
    """What a source field holds (``source.field_kinds``); ``text`` when not named."""

    text = "text"
    conversation = "conversation"
    """A list of ``{role, content}`` turns (see ``builder.conversation``)."""
    image = "image"
