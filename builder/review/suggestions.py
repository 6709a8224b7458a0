"""Model suggestions: imported from a file, stored per model, shown only where the spec allows.

Every mature labeling tool shows a model's answer to speed work up (Argilla's suggestions,
Label Studio's predictions); in a *benchmark* a suggestion anchors the human and inflates
agreement. So:

* a suggestion lives in its own table and never counts as an annotator: consensus,
  agreement, releases and exports read only annotations and decisions;
* who sees it is decided here, once, by :func:`may_see` (role, page, ``review.suggestions``,
  the control share), and pages get suggestions only through :func:`suggestions_for`,
  which returns nothing where they must not be shown;
* with ``review.suggestions: annotators`` a deterministic share of items
  (``review.suggestion_control``, chosen by :func:`is_control`) is labeled without one,
  so that :mod:`builder.review.anchoring` can measure anchoring against it.

Import is all-or-nothing, like ``annotations import``: every line is checked, every problem
reported with its line number, and nothing is written unless the whole file is good.
Importing a model again replaces all of that model's suggestions (audited).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from builder.domain import Role
from builder.errors import NotFoundError, ReviewError
from builder.review import extractive
from builder.review._common import bench_in, clock, spec_of
from builder.review.auth import Actor, authorize, operator
from builder.review.consensus import validate_answer
from builder.spec import BenchmarkSpec, ReviewSpec, TaskSpec, TaskType
from builder.store.audit import log_event
from builder.store.suggestions import (
    NewSuggestion,
    SuggestionRow,
    holds_item,
    item_record,
    record_ids_by_source,
    record_suggestions,
    replace_model_suggestions,
)
from builder.textio import decode_utf8, id_field
from builder.workspace import Workspace

__all__ = [
    "FORMAT_VERSION",
    "SCHEMAS",
    "ImportReport",
    "Page",
    "SuggestionLine",
    "SuggestionView",
    "import_suggestions",
    "is_control",
    "lines_schema",
    "may_see",
    "store_suggestions",
    "suggestions_for",
]

FORMAT_VERSION = 1
MAX_REPORTED = 20
Page = Literal["annotate", "adjudicate"]
"""Where a suggestion would be shown: while labeling, or while adjudicating."""
_ANSWER_KEYS = ("label", "labels", "answer")
_SCORE_FIX = "give the model's confidence as a probability, or leave score out"
_ANSWER_KEY = {
    TaskType.classification: "label",
    TaskType.multilabel: "labels",
    TaskType.reference_answer: "answer",
    TaskType.multiple_choice: "label",  # the choice letter, e.g. "B"
}


class SuggestionLine(BaseModel):
    """One model's suggested answer for one pool record (give the key that fits the task)."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    """Version of this line format."""
    source_id: str = Field(min_length=1)
    """Source id of the pool record (see `benchsmith items list`)."""
    model: str = Field(min_length=1, max_length=256)
    """Name of the model; importing the same model again replaces its suggestions."""
    label: str | None = None
    """The suggested label, for classification (or the choice letter, multiple choice)."""
    labels: list[str] | None = None
    """The suggested labels, for multilabel tasks."""
    answer: str | extractive.SpanAnswer | None = None
    """The suggested answer text, for reference_answer tasks (extractive: the span text
    or ``{"text": [...], "answer_start": [...]}``)."""
    score: float | None = Field(default=None, ge=0, le=1)
    """The model's confidence in the suggestion, in [0, 1] (optional)."""

    @field_validator("source_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        # A pool ingested from JSON integers stores "42"; accept 42 the same way.
        return id_field(value)


def lines_schema() -> dict[str, Any]:
    """JSON Schema of one line of a suggestions file (JSON Lines, or a JSON array of these)."""
    schema = TypeAdapter(SuggestionLine).json_schema()
    schema["title"] = "benchsmith suggestions (one JSON object per line, or a JSON array)"
    return schema


SCHEMAS = {"suggestions": lines_schema}
"""Picked up by ``python -m builder.schemas`` (``schemas/suggestions.schema.json``)."""


@dataclass
class ImportReport:
    """What a suggestions import (or the baseline) wrote."""

    lines: int = 0
    stored: dict[str, int] = field(default_factory=dict)
    """model → suggestions stored."""
    replaced: dict[str, int] = field(default_factory=dict)
    """model → suggestions of an earlier import of that model that were replaced."""


@dataclass(frozen=True)
class SuggestionView:
    """A suggestion as a page shows it (render as text, never as markup)."""

    model: str
    answer: Any
    score: float | None
    source: str

    @classmethod
    def of(cls, row: SuggestionRow) -> SuggestionView:
        """The view of a stored suggestion."""
        return cls(row.model, row.answer, row.score, row.source)


def _answer_of(task: TaskSpec, line: SuggestionLine) -> Any:
    given = [k for k in _ANSWER_KEYS if getattr(line, k) is not None]
    key = _ANSWER_KEY[task.type]
    if given != [key]:
        got = " and ".join(f'"{k}"' for k in given) or "none of them"
        raise ReviewError(
            f'a {task.type.value} task takes "{key}" (got {got}); give exactly one answer key: '
            '"label" for classification or multiple choice, "labels" for multilabel, '
            '"answer" for reference_answer'
        )
    if task.context_field is not None:
        return extractive.answer_of_line(line.answer, False)
    return getattr(line, key)


def _check_score(score: float | None) -> None:
    if score is not None and not 0.0 <= score <= 1.0:  # NaN fails both comparisons
        raise ReviewError(f"score {score!r} is outside [0, 1]; {_SCORE_FIX}")


def _objects(path: Path) -> Iterator[tuple[str, int, Any]]:
    """(where, number, parsed object or a JSONDecodeError) per line / array entry."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReviewError(f"cannot read {str(path)!r}: {e.strerror}; check the path") from None
    text = decode_utf8(data, str(path), ReviewError)
    if path.suffix.lower() == ".json":
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as e:
            raise ReviewError(
                f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); a .json "
                "file holds one array of suggestions (use .jsonl for one per line)"
            ) from None
        if not isinstance(entries, list):
            raise ReviewError(
                f"{path}: a .json file must hold an array of suggestions, got a "
                f"{type(entries).__name__}; wrap the objects in [ ... ]"
            )
        for n, obj in enumerate(entries, start=1):
            yield "entry", n, obj
        return
    # Lines end at "\n" only (not at U+2028 as str.splitlines would).
    with io.StringIO(text) as handle:
        for n, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield "line", n, json.loads(raw)
            except json.JSONDecodeError as e:
                yield "line", n, e


_KEYS = ", ".join(SuggestionLine.model_fields)


def _field_error(err: Any) -> str:
    """One pydantic error as: the key, the value, what is wrong, the fix."""
    loc = ".".join(map(str, err["loc"]))
    if err["type"] == "missing":
        return f'"{loc}" is missing; every suggestion needs "source_id" and "model"'
    if err["type"] == "extra_forbidden":
        return f'unknown key "{loc}" (value {err["input"]!r}); remove it (keys: {_KEYS})'
    if loc == "score" and err["type"] in ("greater_than_equal", "less_than_equal"):
        return f"score {err['input']!r} is outside [0, 1]; {_SCORE_FIX}"
    if not loc:
        return f"{err['msg']}; give one JSON object per line"
    return f'"{loc}" {err["input"]!r}: {err["msg"]}'


def _parse(path: Path, task: TaskSpec) -> tuple[list[tuple[str, SuggestionLine, Any]], list[str]]:
    good: list[tuple[str, SuggestionLine, Any]] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for kind, n, obj in _objects(path):
        where = f"{kind} {n}"
        if isinstance(obj, json.JSONDecodeError):
            errors.append(f"{where}: not valid JSON ({obj.msg} at column {obj.colno})")
            continue
        try:
            line = SuggestionLine.model_validate(obj)
            if line.format_version > FORMAT_VERSION:
                raise ReviewError(
                    f"format_version {line.format_version} is newer than this benchsmith reads "
                    f"({FORMAT_VERSION}); upgrade benchsmith"
                )
            answer = validate_answer(task, _answer_of(task, line))
            _check_score(line.score)
        except ValidationError as e:
            msgs = "; ".join(_field_error(err) for err in e.errors())
            errors.append(f"{where}: {msgs}")
            continue
        except ReviewError as e:
            errors.append(f"{where}: {e}")
            continue
        key = (line.source_id, line.model)
        if key in seen:
            errors.append(
                f"{where}: model {line.model!r} already suggested for {line.source_id!r} on "
                f"{seen[key]}; keep one suggestion per model and record"
            )
            continue
        seen[key] = where
        good.append((where, line, answer))
    return good, errors


def _fail(path: Path, errors: list[str]) -> None:
    shown = errors[:MAX_REPORTED]
    more = f"\n  … and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
    raise ReviewError(
        f"{path}: nothing imported, {len(errors)} problem(s):\n  " + "\n  ".join(shown) + more
    )


def store_suggestions(
    ws: Workspace,
    by_model: dict[str, list[tuple[str, Any, float | None]]],
    *,
    source: str,
    benchmark: str | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
    origin: str = "",
    check: bool = True,
) -> ImportReport:
    """Replace each model's suggestions with ``by_model[model]`` = [(source id, answer,
    score)], in one transaction (all models or none), each replacement audited.

    Answers are validated against the task unless ``check`` is False (the caller did);
    a source id that is not a pool record of the benchmark is refused.
    """
    actor, at = actor or operator(), clock(now)
    report = ImportReport(lines=sum(len(v) for v in by_model.values()))
    with ws.db.session() as s:
        actor = authorize(s, actor, Role.lead, "storing model suggestions")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        ids = record_ids_by_source(
            s, bench.id, [sid for rows in by_model.values() for sid, _, _ in rows]
        )
        for model, rows in sorted(by_model.items()):
            new = []
            for sid, answer, score in rows:
                if sid not in ids:
                    raise NotFoundError(
                        f"source id {sid!r} is not a pool record of benchmark {bench.name!r}; "
                        "ingest it first or drop it from the file"
                    )
                _check_score(score)
                new.append(
                    NewSuggestion(
                        ids[sid], validate_answer(spec.task, answer) if check else answer, score
                    )
                )
            gone = replace_model_suggestions(
                s, benchmark_id=bench.id, model=model, rows=new, source=source, at=at
            )
            report.stored[model], report.replaced[model] = len(new), gone
            log_event(
                s,
                actor=actor.name,
                action="suggestions.replace" if gone else "suggestions.import",
                entity="benchmark",
                entity_id=bench.name,
                benchmark_id=bench.id,
                before={"model": model, "suggestions": gone} if gone else None,
                after={"model": model, "suggestions": len(new), "source": source, "file": origin},
            )
    return report


def import_suggestions(
    ws: Workspace,
    path: str | Path,
    *,
    benchmark: str | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import suggestions from a JSON Lines file (or a ``.json`` array), all or nothing.

    Raises :class:`ReviewError` naming every bad line (invalid JSON, unknown key, two answer
    keys, a label not in the spec, a score outside [0, 1], a source id not in the pool, the
    same model twice for a record); nothing is written then.
    """
    path = Path(path)
    with ws.db.session() as s:
        # Refused before the file is read: a non-lead learns nothing about the pool from it.
        authorize(s, actor or operator(), Role.lead, "importing model suggestions")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        lines, errors = _parse(path, spec.task)
        known = record_ids_by_source(s, bench.id, [line.source_id for _, line, _ in lines])
    for where, line, _ in lines:
        if line.source_id not in known:
            errors.append(
                f"{where}: source id {line.source_id!r} is not a pool record of benchmark "
                f"{bench.name!r}; check the id (see `benchsmith items list`) or ingest the record"
            )
    if errors:
        errors.sort(key=lambda e: int(e.split(":", 1)[0].split(" ")[1]))
        _fail(path, errors)
    if not lines:
        raise ReviewError(f"{path}: no suggestions in the file; give one JSON object per line")
    by_model: dict[str, list[tuple[str, Any, float | None]]] = {}
    for _, line, answer in lines:
        by_model.setdefault(line.model, []).append((line.source_id, answer, line.score))
    return store_suggestions(
        ws,
        by_model,
        source="import",
        benchmark=bench.name,
        actor=actor,
        now=now,
        origin=str(path),
        check=False,
    )


def is_control(item_id: int, *, seed: int, share: float) -> bool:
    """Whether an item is in the blind control share: labeled without its suggestion.

    Deterministic: the first 8 bytes of sha256(``"{seed}:suggestion-control:{item_id}"``)
    read as a fraction of 2**64, below ``share``. The same for every annotator, session and
    process, and independent of the item's text, answers and gold status.
    """
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:suggestion-control:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def may_see(review: ReviewSpec, *, seed: int, role: Role | str, page: Page, item_id: int) -> bool:
    """The one rule for who sees a suggestion.

    * ``hidden``: nobody, anywhere;
    * adjudicating: reviewers and leads (``reviewers`` or ``annotators``);
    * labeling: only with ``annotators``, and not on a control item (:func:`is_control`),
      whatever the labeler's role: a reviewer who labels labels as an annotator.
    """
    if review.suggestions == "hidden":
        return False
    if page == "adjudicate":
        return Role(role) in (Role.reviewer, Role.lead)
    return review.suggestions == "annotators" and not is_control(
        item_id, seed=seed, share=review.suggestion_control
    )


def _shown(spec: BenchmarkSpec, role: Role | str, page: Page, item_id: int) -> bool:
    return may_see(spec.review, seed=spec.curation.seed, role=role, page=page, item_id=item_id)


def suggestions_for(
    ws: Workspace, actor: Actor, item_id: int, *, page: Page
) -> list[SuggestionView]:
    """The suggestions ``actor`` may see for the item on ``page`` (by model name), or [].

    Labeling: only an item the actor was handed or answered. Adjudicating: reviewers and
    leads only (:class:`~builder.errors.PermissionDenied` otherwise). The role is the
    user's current one, re-read here.
    """
    with ws.db.session() as s:
        need = Role.reviewer if page == "adjudicate" else Role.annotator
        actor = authorize(s, actor, need, "seeing model suggestions")
        found = item_record(s, item_id)
        if found is None:
            raise NotFoundError(f"item {item_id} does not exist; see `benchsmith items list`")
        benchmark_id, record_id = found
        _, spec = spec_of(s, benchmark_id)
        if not _shown(spec, actor.role, page, item_id):
            return []
        if (
            page == "annotate"
            and actor.user_id is not None
            and not holds_item(s, item_id=item_id, annotator_id=actor.user_id)
        ):
            return []
        return [SuggestionView.of(r) for r in record_suggestions(s, record_id)]
