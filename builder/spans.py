"""Extractive answers (SQuAD v2 style): spans of a context, located, checked and compared.

An extractive answer is ``{"text": [str, ...], "answer_start": [int, ...]}``: each text is
the context's characters ``context[start:start + len(text)]`` (character offsets, 0-based,
Python ``str`` indexing, i.e. code points). Empty lists mean *unanswerable* — the context
does not answer the question. Several spans are several acceptable answers.

Locating a typed answer (:func:`locate`): an exact match first; when there is none, a
match that ignores case and treats any run of whitespace as one space (the stored text is
then the context's own characters). One occurrence → its offset; none → :class:`SpanError`
"not found"; several → :class:`SpanError` "ambiguous" listing the offsets, to be settled by
passing ``start`` (one of :func:`occurrences`).

Agreement between two annotators (:func:`span_f1`, :func:`spans_agree`): both unanswerable
→ 1.0; exactly one unanswerable → 0.0; else the best SQuAD token F1
(:func:`builder.answers.normalize_reference_answer` tokens) over every pair of their
answers. They agree when that is at least :data:`AGREE_F1` (0.5). Pure, stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from builder.answers import token_f1
from builder.errors import ReviewError

__all__ = [
    "AGREE_F1",
    "UNANSWERABLE",
    "SpanError",
    "check_spans",
    "is_unanswerable",
    "locate",
    "merge_spans",
    "occurrences",
    "span_f1",
    "spans_agree",
    "token_f1",
]

AGREE_F1 = 0.5
"""Two annotators' spans agree when their best token F1 is at least this."""
UNANSWERABLE: dict[str, list[Any]] = {"text": [], "answer_start": []}
"""The stored form of "the context does not answer the question" (copy before changing)."""
_SNIPPET = 60


class SpanError(ReviewError):
    """A typed answer is not in the context, or is there more than once."""


def _short(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


def occurrences(context: str, answer: str) -> tuple[list[int], bool]:
    """Start offsets of ``answer`` in ``context`` and whether they are exact matches.

    Exact (overlapping) occurrences when there is at least one; else occurrences ignoring
    case with any whitespace run matching any whitespace run (``False`` second). Returns
    ``([], False)`` when there is none or ``answer`` is blank. Raises nothing.
    """
    if not answer.strip():
        return [], False
    exact = []
    at = context.find(answer)
    while at != -1:
        exact.append(at)
        at = context.find(answer, at + 1)
    if exact:
        return exact, True
    pattern = r"\s+".join(re.escape(word) for word in answer.split())
    loose = [m.start() for m in re.finditer(f"(?=({pattern}))", context, re.IGNORECASE)]
    return loose, False


def _loose_end(context: str, answer: str, start: int) -> int:
    pattern = r"\s+".join(re.escape(word) for word in answer.split())
    m = re.compile(pattern, re.IGNORECASE).match(context, start)
    assert m is not None
    return m.end()


def locate(context: str, answer: str, start: int | None = None) -> tuple[str, int]:
    """``(text as in the context, start offset)`` of the typed ``answer``.

    ``start`` picks one occurrence when the answer is in the context more than once (it
    must be one of :func:`occurrences`). Raises :class:`SpanError` when the answer is
    blank, not in the context, ambiguous without ``start``, or ``start`` is not one of its
    occurrences; the message names the answer and the fix.
    """
    found, exact = occurrences(context, answer)
    shown = _short(answer.strip())
    if not answer.strip():
        raise SpanError("an answer line is empty; type the answer as it appears in the context")
    if not found:
        raise SpanError(
            f"answer {shown!r} is not in the context (not even ignoring case and spacing); "
            "copy it from the context, or mark the item unanswerable"
        )
    if start is None:
        if len(found) > 1:
            offsets = ", ".join(map(str, found[:10])) + (" …" if len(found) > 10 else "")
            raise SpanError(
                f"answer {shown!r} appears {len(found)} times in the context (at characters "
                f"{offsets}); pick which occurrence is meant"
            )
        start = found[0]
    elif start not in found:
        raise SpanError(
            f"answer {shown!r} does not occur at character {start} of the context (it occurs "
            f"at {', '.join(map(str, found[:10]))}); pick one of those"
        )
    end = start + len(answer) if exact else _loose_end(context, answer, start)
    return context[start:end], start


def is_unanswerable(answer: Any) -> bool:
    """True for the stored unanswerable form (empty ``text`` list)."""
    return isinstance(answer, dict) and not answer.get("text")


def check_spans(context: str, answer: Any) -> dict[str, list[Any]]:
    """The stored form of an extractive answer given for ``context``.

    ``answer`` is the stored form (``start`` None → located with :func:`locate`), one span
    text (located), a list of span texts (each located), or the unanswerable form. Each
    given start must point at exactly its text in the context. Duplicate spans are kept
    once. Raises :class:`SpanError` (not found / ambiguous / wrong offset) or
    :class:`~builder.errors.ReviewError` for a malformed answer.
    """
    if isinstance(answer, str):
        answer = {"text": [answer], "answer_start": [None]}
    elif isinstance(answer, list | tuple):
        answer = {"text": list(answer), "answer_start": [None] * len(answer)}
    if not isinstance(answer, dict) or set(answer) != {"text", "answer_start"}:
        raise ReviewError(
            f"extractive answer {_short(repr(answer))} must be "
            '{"text": [...], "answer_start": [...]}, span text, or unanswerable; fix the answer'
        )
    texts, starts = answer["text"], answer["answer_start"]
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        raise ReviewError(
            "extractive answer: text and answer_start must be lists of the same length "
            f"(got {_short(repr(texts))} and {_short(repr(starts))}); give one start per text"
        )
    out: dict[str, list[Any]] = {"text": [], "answer_start": []}
    for text, start in zip(texts, starts, strict=True):
        if not isinstance(text, str) or not (
            start is None or (isinstance(start, int) and not isinstance(start, bool))
        ):
            raise ReviewError(
                f"extractive answer span ({_short(repr(text))}, {start!r}) must be "
                "(text, integer offset); fix the answer"
            )
        if start is not None and context[start : start + len(text)] == text and text.strip():
            span = (text, start)
        else:
            span = locate(context, text, start)
        if span not in zip(out["text"], out["answer_start"], strict=True):
            out["text"].append(span[0])
            out["answer_start"].append(span[1])
    return out


def span_f1(a: Any, b: Any) -> float:
    """Agreement in [0, 1] of two stored extractive answers: 1.0 when both are
    unanswerable, 0.0 when one is, else the best :func:`token_f1` over their span pairs."""
    ua, ub = is_unanswerable(a), is_unanswerable(b)
    if ua or ub:
        return float(ua and ub)
    return max(token_f1(x, y) for x in a["text"] for y in b["text"])


def spans_agree(answers: Sequence[Any], threshold: float = AGREE_F1) -> bool:
    """True when every pair of ``answers`` has :func:`span_f1` ≥ ``threshold``."""
    return all(
        span_f1(answers[i], answers[j]) >= threshold
        for i in range(len(answers))
        for j in range(i + 1, len(answers))
    )


def merge_spans(answers: Sequence[Any]) -> dict[str, list[Any]]:
    """The consensus answer of agreeing annotators: every distinct span, first-seen order
    (SQuAD keeps each annotator's span as an acceptable answer); unanswerable when all are."""
    out: dict[str, list[Any]] = {"text": [], "answer_start": []}
    seen: set[tuple[str, int]] = set()
    for a in answers:
        for text, start in zip(a["text"], a["answer_start"], strict=True):
            if (text, start) not in seen:
                seen.add((text, start))
                out["text"].append(text)
                out["answer_start"].append(start)
    return out
