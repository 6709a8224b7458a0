"""Multiple-choice vocabulary: choice letters, the choice-list check, answer conversion.

A multiple-choice item carries a list of 2–10 choice texts (the spec's
``task.choices_field``); answers, annotation imports and predictions name a choice by its
letter ``A``–``J`` (position 0–9), as MMLU-style datasets do. This module imports nothing
of benchsmith's: ingest, review, release and evaluation all use it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LETTERS",
    "MAX_CHOICES",
    "MIN_CHOICES",
    "choice_list_problem",
    "letter_index",
    "to_letter",
]

LETTERS: tuple[str, ...] = tuple("ABCDEFGHIJ")
"""The choice letters, in position order (``A`` is choice 0)."""
MIN_CHOICES = 2
MAX_CHOICES = len(LETTERS)


def choice_list_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid choice list for field ``name`` (None when it is).

    Valid: a list of 2–10 strings, each non-empty after stripping, no two equal after
    stripping. The message names the field, the problem and the fix.
    """
    if not isinstance(value, list | tuple):
        return (
            f"field {name!r} must be a list of {MIN_CHOICES}–{MAX_CHOICES} choice texts, "
            f"got {type(value).__name__}; write the choices as a JSON list"
        )
    if len(value) < MIN_CHOICES:
        return (
            f"field {name!r} has {len(value)} choice(s); a multiple-choice item needs at "
            f"least {MIN_CHOICES}"
        )
    if len(value) > MAX_CHOICES:
        return (
            f"field {name!r} has {len(value)} choices; at most {MAX_CHOICES} (A–J) are "
            "allowed, drop some"
        )
    seen: dict[str, int] = {}
    for i, choice in enumerate(value):
        if not isinstance(choice, str) or not choice.strip():
            return (
                f"field {name!r}: choice {LETTERS[i]} is empty or not text "
                f"({choice!r}); give every choice a text"
            )
        key = choice.strip()
        if key in seen:
            return (
                f"field {name!r}: choice {LETTERS[i]} repeats choice {LETTERS[seen[key]]} "
                f"({key!r}); make the choices distinct"
            )
        seen[key] = i
    return None


def letter_index(letter: str) -> int:
    """0-based position of a choice letter; ValueError for anything but ``A``–``J``."""
    if letter not in LETTERS:
        raise ValueError(f"{letter!r} is not a choice letter; use one of {', '.join(LETTERS)}")
    return LETTERS.index(letter)


def to_letter(pred: Any, choices: list[str] | tuple[str, ...] | None) -> str | None:
    """A prediction as a choice letter, or None when it names no choice of the item.

    Accepted: the letter (``"B"``, any case, surrounding spaces ignored), the 0-based
    index as an int (``1``), or the exact text of a choice (compared after stripping).
    A letter wins over a choice whose text is that letter. A letter beyond the item's choices, an out-of-range index or an unknown text → None
    (the caller counts it wrong). ``None`` stays None.
    """
    if pred is None:
        return None
    n = len(choices) if choices is not None else MAX_CHOICES
    if isinstance(pred, bool):
        return None
    if isinstance(pred, int):
        return LETTERS[pred] if 0 <= pred < n else None
    if not isinstance(pred, str):
        return None
    word = pred.strip()
    up = word.upper()
    if len(up) == 1 and up in LETTERS[:n]:
        return up
    if choices is not None:
        for i, choice in enumerate(choices):
            if isinstance(choice, str) and choice.strip() == word:
                return LETTERS[i]
    return None
