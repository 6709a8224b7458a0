"""The Annotate form's part for extractive answers (``task.context_field`` set).

Streamlit has no text-selection widget, so the annotator *types* each acceptable answer
(one per line) and it is located in the context (:func:`builder.spans.occurrences`: exact
first, then ignoring case and spacing). Each line's location is shown under the box; a
line found more than once gets a picker of its occurrences; a line not found is refused
with a message when submitted. A checkbox marks the item unanswerable. The context is
also shown with character offsets (:func:`offset_lines`), literally.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.display import visible
from builder.spans import is_unanswerable, occurrences
from review_ui.widgets import plain

__all__ = ["offset_lines", "span_picker"]

_WIDTH = 40
_SNIP = 24


def offset_lines(context: str, width: int = _WIDTH) -> str:
    """``context`` cut into lines of at most ``width`` characters (and at its line breaks),
    each prefixed by the character offset of its first character, e.g. ``"   60 │ text"``;
    invisible characters shown as codes (:func:`builder.display.visible`)."""
    out: list[str] = []
    pos = 0
    for line in context.split("\n"):
        for i in range(0, max(len(line), 1), width):
            out.append(f"{pos + i:>6} │ {visible(line[i : i + width])}")
        pos += len(line) + 1
    return "\n".join(out)


def _snippet(context: str, start: int, length: int) -> str:
    before = context[max(0, start - _SNIP) : start]
    after = context[start + length : start + length + _SNIP]
    return visible(f"at {start}: …{before}[{context[start : start + length]}]{after}…")


def span_picker(item_id: int, context: Any, previous: Any) -> dict[str, list[Any]]:
    """Render the extractive inputs (inside the Annotate form); return the answer to submit:
    ``{"text": [...], "answer_start": [...]}`` with ``None`` starts to be located on submit,
    or empty lists when the item is marked unanswerable."""
    ctx = "" if context is None else str(context)
    with st.expander("Context with character offsets"):
        st.code(offset_lines(ctx), language=None, wrap_lines=False)
    had = isinstance(previous, dict)
    unanswerable = st.checkbox(
        "Unanswerable: the context does not answer the question",
        value=had and is_unanswerable(previous),
        key=f"unanswerable_{item_id}",
    )
    typed = st.text_area(
        "Answer spans, one per line (type or paste them as in the context; each is located)",
        value="\n".join(previous["text"]) if had else "",
        key=f"answer_spans_{item_id}",
    )
    if unanswerable:
        return {"text": [], "answer_start": []}
    prev_starts = dict(zip(previous["text"], previous["answer_start"], strict=False)) if had else {}
    texts: list[str] = []
    starts: list[int | None] = []
    for n, line in enumerate(t.strip() for t in typed.split("\n")):
        if not line:
            continue
        found, exact = occurrences(ctx, line)
        start: int | None = None
        if len(found) == 1:
            start = found[0]
            how = "" if exact else " (ignoring case and spacing)"
            st.caption(f"✓ {plain(line)} — at character {start}{how}")  # trusted: counts
        elif not found:
            st.caption(f"✗ {plain(line)} — not in the context")
        else:
            # No default: an ambiguous span is refused on submit until one is picked.
            default = found.index(prev_starts[line]) if prev_starts.get(line) in found else None
            # trusted: a count; _snippet passes the context through visible()
            start = st.selectbox(
                f"{plain(line)} occurs {len(found)} times: which one?",
                options=found,
                index=default,
                format_func=lambda at, w=line: _snippet(ctx, at, len(w)),
                placeholder="pick the occurrence meant",
                key=f"occurrence_{item_id}_{n}_{abs(hash(line))}",
            )
        texts.append(line)
        starts.append(start)
    return {"text": texts, "answer_start": starts}
