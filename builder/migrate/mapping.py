"""A foreign tool's answer → the key and value of an annotations line, by the task type.

Label Studio and Argilla both hand over one of three shapes: picked options (Label Studio
``choices`` / ``taxonomy``, Argilla label and multi-label questions), free text (``textarea``,
text questions) or spans (``labels`` over the text). Which one a task takes:

| task | options | text | spans |
|---|---|---|---|
| classification | exactly one → ``label`` | the comment | — |
| multilabel | any number → ``labels`` | the comment | — |
| multiple_choice | one, a letter or a choice's text → ``label`` (the letter) | the comment | — |
| reference_answer | — | → ``answer`` | extractive tasks: → ``answer`` (text + start) |

Anything else raises :class:`MappingError` naming what was found and what the task takes.
"""

from __future__ import annotations

from typing import Any, Literal

from builder.choices import to_letter
from builder.spec import TaskSpec, TaskType

__all__ = ["Kind", "MappingError", "fitting", "to_line_fields"]

Kind = Literal["options", "text", "spans"]


class MappingError(ValueError):
    """The answer does not fit the task (the message says how)."""


def fitting(task: TaskSpec) -> tuple[Kind, ...]:
    """The shapes of answer the task takes (free text otherwise becomes the comment)."""
    if task.type == TaskType.reference_answer:
        return ("spans", "text") if task.context_field is not None else ("text",)
    return ("options",)


def to_line_fields(
    task: TaskSpec, kind: Kind, value: Any, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{"label": …}`` / ``{"labels": …}`` / ``{"answer": …}`` for ``value`` of shape ``kind``.

    ``value``: a list of strings for options (taxonomy paths already cut to their last
    node), a string for text, ``[(start, text), …]`` for spans. ``data`` is the record's
    data (a multiple-choice item's choices are looked up there).
    """
    t = task.type
    if kind == "options":
        options = [str(v) for v in value]
        if t == TaskType.multilabel:
            return {"labels": options}
        if t in (TaskType.classification, TaskType.multiple_choice):
            if len(options) != 1:
                raise MappingError(
                    f"a {t.value} task takes exactly one choice, got {options}; pick one in "
                    "the source tool or use a multilabel spec"
                )
            if t == TaskType.classification:
                return {"label": options[0]}
            choices = (data or {}).get(task.choices_field or "")
            letter = to_letter(options[0], choices if isinstance(choices, list) else None)
            if letter is None:
                raise MappingError(
                    f"choice {options[0]!r} is neither a letter nor one of the item's choices "
                    f"{choices}"
                )
            return {"label": letter}
    if kind == "text" and t == TaskType.reference_answer:
        return {"answer": str(value)}
    if kind == "spans" and task.context_field is not None:
        spans = sorted(value)
        return {"answer": {"text": [s for _, s in spans], "answer_start": [a for a, _ in spans]}}
    raise MappingError(f"a {t.value} task takes {' or '.join(fitting(task))}, not {kind}")
