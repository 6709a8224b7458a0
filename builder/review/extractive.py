"""Review of extractive answers (``task.context_field`` set): shape, context check, agreement.

The span rules themselves (locating, token F1, when two answers agree) are in
:mod:`builder.spans`. Here: :func:`precheck` (what ``validate_answer`` accepts before the
context is known), :func:`check_item_answer` (the context check when an answer is
recorded), :func:`answer_key` and :func:`span_agreement` (mean pairwise token F1 and
Krippendorff's alpha on the unanswerable decision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from builder.answers import normalize_reference_answer
from builder.errors import ReviewError
from builder.review.agreement import krippendorff_alpha
from builder.spans import (
    AGREE_F1,
    check_spans,
    is_unanswerable,
    merge_spans,
    span_f1,
    spans_agree,
)
from builder.spec import BenchmarkSpec
from builder.store.items import item_view

__all__ = [
    "AGREE_F1",
    "SpanAnswer",
    "answer_key",
    "answer_of_line",
    "check_item_answer",
    "check_stored_item",
    "merge_spans",
    "precheck",
    "span_agreement",
    "span_note",
    "spans_agree",
]

_SHAPE = (
    'an extractive answer is {"text": [...], "answer_start": [...]} (empty lists = '
    "unanswerable), the span text, or a list of span texts"
)


class SpanAnswer(BaseModel):
    """An extractive answer as stored and released (SQuAD v2's ``answers``)."""

    model_config = ConfigDict(extra="forbid")

    text: list[str]
    """The answer spans, as written in the context; empty = unanswerable."""
    answer_start: list[int]
    """Character offset of each span in the context (0-based, code points)."""


def answer_of_line(answer: str | SpanAnswer | None, unanswerable: bool) -> Any:
    """The answer of an import line: the span text, the stored form, or unanswerable.

    Raises :class:`ReviewError` when both or neither of ``answer`` and ``unanswerable`` are
    given.
    """
    if unanswerable:
        if answer is not None and not (isinstance(answer, SpanAnswer) and not answer.text):
            raise ReviewError(
                'a line gives both "answer" and "unanswerable": true; keep one of them'
            )
        return {"text": [], "answer_start": []}
    if answer is None:
        raise ReviewError(
            'an extractive task takes "answer" (span text or {"text": [...], '
            '"answer_start": [...]}) or "unanswerable": true; give one'
        )
    return answer.model_dump() if isinstance(answer, SpanAnswer) else answer


def precheck(answer: Any) -> Any:
    """The answer in stored shape, starts still ``None`` where not given (located later).

    Accepts the stored form, one span text, or a list of span texts (blank lines dropped).
    Raises :class:`ReviewError` for anything else or for no answer at all.
    """
    if isinstance(answer, str):
        answer = [answer]
    if isinstance(answer, list | tuple):
        texts = [t.strip() for t in answer if isinstance(t, str) and t.strip()]
        if len(texts) != len(answer) and any(not isinstance(t, str) for t in answer):
            raise ReviewError(f"{_SHAPE}; got a list with non-text entries")
        if not texts:
            raise ReviewError(
                "no answer given; type the answer span, or mark the item unanswerable"
            )
        return {"text": texts, "answer_start": [None] * len(texts)}
    if isinstance(answer, dict) and set(answer) == {"text", "answer_start"}:
        texts, starts = answer["text"], answer["answer_start"]
        if isinstance(texts, list) and isinstance(starts, list) and len(texts) == len(starts):
            return {"text": list(texts), "answer_start": list(starts)}
    raise ReviewError(f"{_SHAPE}; got {str(answer)[:80]!r}")


def check_item_answer(
    source_id: str, fields: Mapping[str, Any], spec: BenchmarkSpec, answer: Any
) -> Any:
    """:func:`builder.spans.check_spans` against the item's context, from ``fields`` (the
    input fields as annotators see them, :func:`builder.review.items.item_fields`).

    Raises :class:`builder.spans.SpanError` naming the span when it is not in the context,
    ambiguous or at a wrong offset; :class:`ReviewError` when the item has no context text.
    """
    assert spec.task.context_field is not None
    context = fields.get(spec.task.context_field)
    if not isinstance(context, str):
        raise ReviewError(
            f"item {source_id!r} has no text in context field "
            f"{spec.task.context_field!r}; fix the source data"
        )
    return check_spans(context, answer)


def answer_key(answer: Any) -> tuple[str, ...]:
    """The sorted normalised span texts; ``()`` for unanswerable. Agreement itself is by
    token overlap (:func:`builder.spans.spans_agree`), not by equality of these keys."""
    if is_unanswerable(answer):
        return ()
    texts = answer["text"] if isinstance(answer, dict) else [str(answer)]
    return tuple(sorted({normalize_reference_answer(t) for t in texts}))


def span_agreement(units: Mapping[Any, Sequence[Any]]) -> dict[str, float | int | None]:
    """Agreement of extractive answers: item → its annotators' stored answers.

    ``mean_pairwise_f1``: mean over items with two or more answers, and over each pair of
    annotators on the item, of :func:`builder.spans.span_f1` (None when no item has two);
    ``alpha_unanswerable``: Krippendorff's nominal alpha of the unanswerable decision
    (:func:`builder.review.agreement.krippendorff_alpha`; None when undefined, e.g. every
    answer says the same); ``agree_share``: share of pairs with F1 ≥ :data:`AGREE_F1`;
    ``pairs``: number of pairs.
    """
    f1s: list[float] = []
    columns: list[list[bool]] = []
    for answers in units.values():
        if len(answers) < 2:
            continue
        columns.append([is_unanswerable(a) for a in answers])
        f1s += [
            span_f1(answers[i], answers[j])
            for i in range(len(answers))
            for j in range(i + 1, len(answers))
        ]
    alpha: float | None = None
    if columns:
        width = max(map(len, columns))
        table = [[c[r] if r < len(c) else None for c in columns] for r in range(width)]
        value = krippendorff_alpha(table, level="nominal")
        alpha = None if value != value else float(value)  # NaN → None
    return {
        "mean_pairwise_f1": sum(f1s) / len(f1s) if f1s else None,
        "alpha_unanswerable": alpha,
        "agree_share": sum(f >= AGREE_F1 for f in f1s) / len(f1s) if f1s else None,
        "pairs": len(f1s),
    }


def span_note(agreement: Mapping[str, float | int | None]) -> str:
    """The dashboard's one-line reading of :func:`span_agreement`."""
    f1 = agreement["mean_pairwise_f1"]
    share = agreement["agree_share"]
    return (
        "extractive: α and κ are over the unanswerable decision; spans agree when their token "
        f"F1 ≥ {AGREE_F1} or both are unanswerable; mean pairwise token F1 "
        + ("n/a" if f1 is None else f"{float(f1):.3f}")
        + f" over {agreement['pairs']} pair(s), "
        + ("n/a" if share is None else f"{float(share):.0%}")
        + " of pairs agree"
    )


def check_stored_item(s: Session, item_id: int, spec: BenchmarkSpec, answer: Any) -> Any:
    """:func:`check_item_answer` for item ``item_id``, its context read as annotators see it
    (the redacted text when curation redacted the text field; as
    :func:`builder.review.items.item_fields`, which imports the consensus module)."""
    view = item_view(s, item_id)
    assert view is not None and spec.task.context_field is not None
    name = spec.task.context_field
    if name == spec.source.text_field and view.text is not None:
        context: Any = view.text
    elif name == spec.source.text_field and name not in view.data:
        context = view.record_text
    else:
        context = view.data.get(name)
    return check_item_answer(view.source_id, {name: context}, spec, answer)
