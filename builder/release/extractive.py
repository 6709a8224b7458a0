"""Extractive gold answers in a release: SQuAD v2's ``answers`` column.

Each row's ``answers`` is ``{"text": [str, ...], "answer_start": [int, ...]}`` (character
offsets into the context field; empty lists = unanswerable), the form Hugging Face
``datasets`` gives SQuAD v2 (Rajpurkar et al. 2018).
"""

from __future__ import annotations

from typing import Any

from builder.errors import ReleaseError

__all__ = ["extractive_gold"]


def extractive_gold(source_id: str, item_id: int, answer: Any) -> dict[str, list[Any]]:
    """The approved ``answer`` as released; ReleaseError naming the item when it is not
    ``{"text": [str], "answer_start": [int >= 0]}`` of equal lengths."""
    ok = (
        isinstance(answer, dict)
        and set(answer) == {"text", "answer_start"}
        and isinstance(answer["text"], list)
        and isinstance(answer["answer_start"], list)
        and len(answer["text"]) == len(answer["answer_start"])
        and all(isinstance(t, str) and t for t in answer["text"])
        and all(
            isinstance(a, int) and not isinstance(a, bool) and a >= 0
            for a in answer["answer_start"]
        )
    )
    if not ok:
        raise ReleaseError(
            f"approved item {source_id!r} (item #{item_id}) has answer {str(answer)[:80]!r}; an "
            'extractive answer is {"text": [...], "answer_start": [...]} (empty = unanswerable); '
            "fix its answer in the review app (Adjudicate) or send it back, then release again"
        )
    return {"text": list(answer["text"]), "answer_start": list(answer["answer_start"])}
