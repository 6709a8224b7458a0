"""Answers in and out of the workspace as JSON Lines.

Import (labels from another tool or a pilot round) follows the app's rules exactly — it
calls the same :func:`builder.review.queue.record_answer` — and is all-or-nothing: every
line is checked, every problem is reported with its line number, and nothing is written
unless the whole file is good. Export writes every answer (superseded ones too) and every
decision, for audits; an exported file imports back (decision lines are skipped).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlmodel import Session

from builder.domain import Role
from builder.errors import BenchsmithError, ReviewError
from builder.fsutil import write_text_atomic
from builder.migrate import ForeignAnswer
from builder.migrate.admission import admit
from builder.review import extractive
from builder.review._common import bench_in, clock
from builder.review.auth import Actor, authorize, operator
from builder.review.consensus import check_comment, normalize_flags, validate_answer
from builder.review.extractive import SpanAnswer
from builder.review.queue import record_answer
from builder.review.users import check_name
from builder.spec import TaskSpec, TaskType
from builder.store.annotations import export_annotations as _annotation_rows
from builder.store.audit import log_event
from builder.store.decisions import export_decisions as _decision_rows
from builder.store.items import items_by_source, lock_item
from builder.store.models import User
from builder.store.users import add_user, get_user, get_user_by_email
from builder.textio import decode_utf8, escape_line_breaks, id_field
from builder.workspace import Workspace

__all__ = [
    "FORMAT_VERSION",
    "IMPORT_FORMATS",
    "SCHEMAS",
    "AnnotationLine",
    "DecisionLine",
    "ImportReport",
    "export_annotations",
    "export_lines",
    "import_annotations",
    "lines_schema",
]

FORMAT_VERSION = 1
IMPORT_FORMATS = ("jsonl", "label-studio", "argilla")
"""What ``annotations import --format`` reads: this module's lines, or another tool's export."""
MAX_REPORTED = 20
_ANSWER_KEY = {
    TaskType.classification: "label",
    TaskType.multilabel: "labels",
    TaskType.reference_answer: "answer",
    TaskType.multiple_choice: "label",  # the choice letter, e.g. "B"
}


class AnnotationLine(BaseModel):
    """One annotator's answer to one item (give the key that fits the task type)."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    """Version of this line format."""
    type: Literal["annotation"] = "annotation"
    source_id: str = Field(min_length=1)
    """Source id of the record the item was made from (see `benchsmith items list`)."""
    annotator: str = Field(min_length=1)
    """User name; unknown annotators are created as users who cannot log in."""
    label: str | None = None
    """The label, for classification tasks."""
    labels: list[str] | None = None
    """The labels, for multilabel tasks."""
    answer: str | SpanAnswer | None = None
    """The reference answer text, for reference_answer tasks; extractive ones take the span
    text (located in the context) or ``{"text": [...], "answer_start": [...]}``."""
    unanswerable: bool = False
    """Extractive tasks only: true when the context does not answer the question."""
    flags: list[str] = Field(default_factory=list)
    """Any of ambiguous, out_of_scope, pii, duplicate."""
    comment: str = ""
    created_at: datetime | None = None
    """When the answer was given (written by export; ignored by import)."""
    current: bool = True
    """False for an answer later revised or sent back (export only; import skips it)."""

    @field_validator("source_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        # A pool ingested from JSON integers stores "42"; accept 42 the same way.
        return id_field(value)


class DecisionLine(BaseModel):
    """A reviewer's or the policy's decision (export only; import skips these lines)."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    type: Literal["decision"] = "decision"
    source_id: str
    reviewer: str
    """User name, or ``policy:auto_approve_unanimous`` for automatic approvals."""
    verdict: Literal["approved", "rejected", "sent_back"]
    answer: Any = None
    """The final answer when approved."""
    reason: str = ""
    created_at: datetime

    @field_validator("source_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return id_field(value)


def lines_schema() -> dict[str, Any]:
    """JSON Schema of one line of an annotations file."""
    schema = TypeAdapter(AnnotationLine | DecisionLine).json_schema()
    schema["title"] = "benchsmith annotations (one JSON object per line)"
    return schema


SCHEMAS = {"annotations": lines_schema}
"""Picked up by ``python -m builder.schemas`` (``schemas/annotations.schema.json``)."""


@dataclass
class ImportReport:
    """What an import did."""

    lines: int = 0
    imported: int = 0
    revised: int = 0
    unchanged: int = 0
    skipped: int = 0
    """Decision lines and superseded answers (history, not answers to import)."""
    users_created: list[str] = field(default_factory=list)
    items_created: list[str] = field(default_factory=list)
    """Source ids of pool records that became items (reason ``imported``; foreign formats)."""


def _answer_of(task: TaskSpec, line: AnnotationLine) -> Any:
    if task.context_field is not None:
        return extractive.answer_of_line(line.answer, line.unanswerable)
    if line.unanswerable:
        raise ReviewError('"unanswerable" is for extractive tasks (task.context_field); remove it')
    key = _ANSWER_KEY[task.type]
    given = [k for k in dict.fromkeys(_ANSWER_KEY.values()) if getattr(line, k) is not None]
    if given != [key]:
        got = " and ".join(f'"{k}"' for k in given) or "none of them"
        raise ReviewError(
            f'a {task.type.value} task takes "{key}" (got {got}); '
            'use "label" for classification, "labels" for multilabel, "answer" for '
            "reference_answer"
        )
    return getattr(line, key)


@dataclass(frozen=True)
class _Entry:
    """One answer as read, before it is checked: its place (for errors) and its fields."""

    order: int
    where: str
    obj: Any
    email: str | None = None


def _jsonl_entries(path: Path) -> tuple[list[_Entry], list[tuple[int, str]], int]:
    entries: list[_Entry] = []
    errors: list[tuple[int, str]] = []
    skipped = 0
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReviewError(f"cannot read {str(path)!r}: {e.strerror}; check the path") from None
    # A UTF-8 byte-order mark is dropped, UTF-16 refused by name; lines end at "\n" only
    # (not at U+2028 as str.splitlines would).
    with io.StringIO(decode_utf8(data, str(path), ReviewError)) as handle:
        for n, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                errors.append((n, f"line {n}: not valid JSON ({e.msg} at column {e.colno})"))
                continue
            if isinstance(obj, dict) and obj.get("type") == "decision":
                skipped += 1
                continue
            entries.append(_Entry(n, f"line {n}", obj))
    return entries, errors, skipped


def _foreign_entries(
    answers: Iterable[ForeignAnswer],
) -> tuple[list[_Entry], list[tuple[int, str]], int]:
    entries: list[_Entry] = []
    errors: list[tuple[int, str]] = []
    skipped = 0
    for n, a in enumerate(answers, start=1):
        if a.error is not None:
            errors.append((n, f"{a.where}: {a.error}"))
        elif a.fields is None:
            skipped += 1  # cancelled, discarded, draft: not an answer
        else:
            entries.append(_Entry(n, a.where, a.fields, a.email))
    return entries, errors, skipped


def _check(
    entries: list[_Entry], task: TaskSpec
) -> tuple[list[tuple[_Entry, AnnotationLine, Any]], int, list[tuple[int, str]]]:
    """Each entry validated as an annotations line, by the app's rules."""
    good: list[tuple[_Entry, AnnotationLine, Any]] = []
    errors: list[tuple[int, str]] = []
    skipped = 0
    seen: dict[tuple[str, str], str] = {}
    for e in entries:
        try:
            line = AnnotationLine.model_validate(e.obj)
            if line.format_version > FORMAT_VERSION:
                raise ReviewError(
                    f"format_version {line.format_version} is newer than this benchsmith "
                    f"reads ({FORMAT_VERSION}); upgrade benchsmith"
                )
            if not line.current:
                skipped += 1
                continue
            check_name(line.annotator)
            answer = validate_answer(task, _answer_of(task, line))
            normalize_flags(line.flags)
            check_comment(line.comment)
        except ValidationError as err:
            msgs = "; ".join(
                f"{'.'.join(map(str, d['loc'])) or 'line'}: {d['msg']}" for d in err.errors()
            )
            errors.append((e.order, f"{e.where}: {msgs}"))
            continue
        except ReviewError as err:
            errors.append((e.order, f"{e.where}: {err}"))
            continue
        key = (line.source_id, e.email or line.annotator)
        if key in seen:
            errors.append(
                (
                    e.order,
                    f"{e.where}: {line.annotator!r} already answered {line.source_id!r} "
                    f"{seen[key]}; keep one answer per annotator and item",
                )
            )
            continue
        seen[key] = f"on {e.where}" if e.where.startswith("line ") else f"at {e.where}"
        good.append((e, line, answer))
    return good, skipped, errors


def _fail(path: Path, errors: list[tuple[int, str]]) -> None:
    shown = [msg for _, msg in sorted(errors, key=lambda e: e[0])[:MAX_REPORTED]]
    more = f"\n  … and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
    raise ReviewError(
        f"{path}: nothing imported, {len(errors)} problem(s):\n  " + "\n  ".join(shown) + more
    )


def _entries(
    path: Path, fmt: str, task: TaskSpec, id_field: str | None
) -> tuple[list[_Entry], list[tuple[int, str]], int]:
    if fmt == "jsonl":
        return _jsonl_entries(path)
    if fmt == "label-studio":
        from builder.migrate import label_studio

        return _foreign_entries(label_studio.read_answers(path, task, id_field))
    if fmt == "argilla":
        from builder.migrate import argilla

        return _foreign_entries(argilla.read_answers(path, task, id_field))
    raise ReviewError(f"--format {fmt!r} is not supported; use one of {', '.join(IMPORT_FORMATS)}")


def _annotator(s: Session, entry: _Entry, line: AnnotationLine) -> tuple[User | None, str]:
    """The workspace user who gave the answer (None: to be created) and their name."""
    if entry.email:
        user = get_user_by_email(s, entry.email)
        if user is not None:
            return user, user.name
    return get_user(s, line.annotator), line.annotator


def import_annotations(
    ws: Workspace,
    path: str | Path,
    *,
    fmt: str = "jsonl",
    benchmark: str | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import answers from a file, all or nothing (see the module notes).

    ``fmt``: ``jsonl`` (this module's lines), ``label-studio`` (its JSON export) or
    ``argilla`` (a ``datasets`` folder); see ``builder.migrate``. With the two foreign
    formats, a pool record answered there that is not an item yet becomes one (reason
    ``imported``) unless curation set it aside, which refuses the import naming why.
    """
    path, actor, at = Path(path), actor or operator(), clock(now)
    report = ImportReport()
    with ws.db.session() as s:
        actor = authorize(s, actor, Role.lead, "importing annotations")
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        entries, errors, report.skipped = _entries(path, fmt, spec.task, spec.source.id_field)
        report.lines = len(entries) + report.skipped + len(errors)
        lines, skipped, more = _check(entries, spec.task)
        report.skipped += skipped
        errors += more
        wanted = [line.source_id for _, line, _ in lines]
        items = items_by_source(s, bench.id, wanted)
        if fmt != "jsonl":  # nothing is kept unless the whole file is good (see _fail)
            new = [sid for sid in dict.fromkeys(wanted) if sid not in items]
            admitted, missing = admit(s, spec, bench.id, new)
            items.update(admitted.items)
            report.items_created = sorted(admitted.items)
            for e, line, _ in lines:
                why = admitted.refused.get(line.source_id)
                if why is not None:
                    errors.append(
                        (e.order, f"{e.where}: record {line.source_id!r} is not imported: {why}")
                    )
                elif line.source_id in missing:
                    errors.append(
                        (
                            e.order,
                            f"{e.where}: source id {line.source_id!r} is not in the pool of "
                            f"benchmark {bench.name!r}; ingest the export first (`benchsmith "
                            f"ingest {path} --format {fmt}`)",
                        )
                    )
        for e, line, _ in lines:
            if line.source_id not in items and fmt == "jsonl":
                errors.append(
                    (
                        e.order,
                        f"{e.where}: source id {line.source_id!r} is not an item of benchmark "
                        f"{bench.name!r}; see `benchsmith items list`",
                    )
                )
        if errors:
            _fail(path, errors)
        # Lock items in id order: concurrent single-item writers can then never deadlock us.
        for item_id in sorted({item.id for item in items.values() if item.id is not None}):
            lock_item(s, item_id)
        for e, line, answer in lines:
            user, name = _annotator(s, e, line)
            if user is None:
                user = add_user(s, name=name, role=Role.annotator, password_hash=None)
                if e.email and get_user_by_email(s, e.email) is None:
                    user.email = e.email  # single sign-on can match them later
                    s.add(user)
                report.users_created.append(name)
                log_event(
                    s,
                    actor=actor.name,
                    action="user.create",
                    entity="user",
                    entity_id=name,
                    after={"role": Role.annotator.value, "can_login": False, "via": "import"},
                )
            assert user.id is not None
            item = items[line.source_id]
            try:
                who = authorize(
                    s, Actor(user.name, user.role, user.id), Role.annotator, "answering"
                )
                result = record_answer(
                    s,
                    who,
                    item,
                    spec,
                    answer,
                    flags=line.flags,
                    comment=line.comment,
                    at=at,
                    via="import",
                )
            except BenchsmithError as err:
                errors.append((e.order, f"{e.where}: {err}"))
                continue
            if result.unchanged:
                report.unchanged += 1
            elif result.revised:
                report.revised += 1
            else:
                report.imported += 1
        if errors:
            _fail(path, errors)
        log_event(
            s,
            actor=actor.name,
            action="annotations.import",
            entity="benchmark",
            entity_id=bench.name,
            benchmark_id=bench.id,
            after={
                "file": str(path),
                "format": fmt,
                "imported": report.imported,
                "revised": report.revised,
                "unchanged": report.unchanged,
                "users_created": report.users_created,
                "items_created": len(report.items_created),
            },
        )
    return report


def export_lines(ws: Workspace, *, benchmark: str | None = None) -> Iterator[str]:
    """Every answer, then every decision, one JSON object per line, in a stable order."""
    with ws.db.session() as s:
        bench, spec = bench_in(s, ws, benchmark)
        assert bench.id is not None
        key = _ANSWER_KEY[spec.task.type]
        out: list[str] = []
        for a in _annotation_rows(s, bench.id):
            row = a.annotation
            line = AnnotationLine(
                source_id=a.source_id,
                annotator=a.annotator,
                flags=list(row.flags),
                comment=row.comment,
                created_at=row.created_at,
                current=row.is_current,
                **{key: row.answer},
            )
            out.append(escape_line_breaks(line.model_dump_json(exclude_none=True)))
        for d in _decision_rows(s, bench.id):
            dec = d.decision
            dline = DecisionLine(
                source_id=d.source_id,
                reviewer=d.reviewer or "policy:auto_approve_unanimous",
                verdict=dec.verdict,  # type: ignore[arg-type]
                answer=dec.answer,
                reason=dec.reason,
                created_at=dec.created_at,
            )
            out.append(escape_line_breaks(dline.model_dump_json()))
    yield from out


def export_annotations(
    ws: Workspace,
    out: str | Path,
    *,
    benchmark: str | None = None,
    overwrite: bool = False,
) -> int:
    """Write :func:`export_lines` to ``out`` atomically; returns the number of lines."""
    path = Path(out)
    if path.exists() and not overwrite:
        raise ReviewError(
            f"{path} already exists; choose another --out or pass --force to replace it"
        )
    lines = list(export_lines(ws, benchmark=benchmark))
    write_text_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)
