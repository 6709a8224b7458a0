"""Label Studio's JSON export (``Export → JSON``): tasks → pool rows, annotations → answers.

The export is one JSON array of tasks: ``{"id", "data": {...}, "annotations": [...],
"predictions": [...], ...}``; each annotation ``{"id", "completed_by", "was_cancelled",
"result": [{"from_name", "to_name", "type", "value"}, ...], ...}``. ``completed_by`` is the
user's numeric id, or (newer exports) ``{"id", "email", "first_name", "last_name"}``.
Format: https://labelstud.io/guide/export#Label-Studio-JSON-format-of-annotated-tasks

- A task's record holds its ``data`` fields; its source id is the spec's ``source.id_field``
  inside ``data``, or else the task id (:func:`source_id_of`).
- Each annotation not cancelled is one answer, by ``ls-user-<id>`` (or by the workspace user
  with the exported e-mail). Its ``choices`` / ``taxonomy`` (last node of each path) results
  are picked options, ``textarea`` results free text, ``labels`` results spans; which of them
  is the answer follows the task type (``builder.migrate.mapping``). Predictions are not
  answers and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builder.errors import BenchsmithError, IngestError
from builder.migrate import ForeignAnswer
from builder.migrate.mapping import Kind, MappingError, fitting, to_line_fields
from builder.readers import RawRow
from builder.spec import TaskSpec
from builder.textio import decode_utf8, id_text

__all__ = ["load_tasks", "read_answers", "read_tasks", "source_id_of"]

_KIND: dict[str, Kind] = {
    "choices": "options",
    "taxonomy": "options",
    "textarea": "text",
    "labels": "spans",
}
"""Label Studio result types benchsmith reads, by the shape of answer they give."""


def load_tasks(path: Path, error: type[BenchsmithError] = IngestError) -> list[dict[str, Any]]:
    """The export's tasks; ``error`` when the file is not a Label Studio JSON export."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise error(f"{path}: cannot read the file ({e.strerror}); check the path") from None
    try:
        tasks = json.loads(decode_utf8(raw, str(path), error))
    except json.JSONDecodeError as e:
        raise error(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); give "
            "Label Studio's JSON export (Export → JSON), not JSON-MIN or CSV"
        ) from None
    if not isinstance(tasks, list):
        raise error(
            f"{path}: a Label Studio JSON export is an array of tasks, got a JSON "
            f"{type(tasks).__name__}; export the project again with Export → JSON"
        )
    if not tasks:
        raise error(f"{path}: the export holds no tasks; nothing to read")
    return tasks


def _task_id(task: Any) -> Any:
    return task.get("id") if isinstance(task, dict) else None


def _task_problem(task: Any) -> str | None:
    if not isinstance(task, dict):
        return f"expected a task object, got {type(task).__name__}"
    tid = task.get("id")
    if isinstance(tid, bool) or not isinstance(tid, int | str) or tid == "":
        return f'has no task "id" (got {tid!r}); export again with Export → JSON'
    if not isinstance(task.get("data"), dict):
        return 'has no "data" object; export again with Export → JSON'
    return None


def source_id_of(task: dict[str, Any], id_field: str | None) -> str:
    """The task's source id: ``data[id_field]`` when the spec names one and it is set, else
    the task id."""
    value = task["data"].get(id_field) if id_field else None
    if value is None or value == "":
        value = task["id"]
    return str(id_text(value))


def read_tasks(path: Path, id_field: str | None) -> Iterator[RawRow]:
    """Each task as a pool row (its ``data``); ``where`` is ``task ID``."""
    for n, task in enumerate(load_tasks(path), start=1):
        where = f"task {_task_id(task)}" if _task_id(task) is not None else f"task #{n}"
        problem = _task_problem(task)
        if problem is not None:
            yield RawRow(where, None, problem, json.dumps(task, default=str)[:2000])
            continue
        fields = dict(task["data"])
        if id_field and (fields.get(id_field) is None or fields.get(id_field) == ""):
            fields[id_field] = task["id"]  # the record keeps the task id as its id field
        yield RawRow(where, fields, source_id=str(task["id"]))


def _annotator(completed_by: Any) -> tuple[str, str | None] | None:
    """(name, e-mail) of ``completed_by``: an int id, or ``{"id", "email", …}``."""
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        uid = completed_by.get("id")
        email = email.strip().lower() if isinstance(email, str) and "@" in email else None
        if isinstance(uid, int) and not isinstance(uid, bool):
            return f"ls-user-{uid}", email
        return (email, email) if email else None
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return f"ls-user-{completed_by}", None
    return None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _shape(name: str, key: str, got: Any, want: str) -> str:
    return (
        f"result {name!r} has value.{key} {got!r}, not {want} as Label Studio exports it; "
        "export the project again with Export → JSON"
    )


def _results(annotation: dict[str, Any]) -> dict[Kind, dict[str, Any]]:
    """kind → from_name → the value(s) of that control, in result order; MappingError
    when a value is not the shape Label Studio exports (a list of strings)."""
    out: dict[Kind, dict[str, Any]] = {}
    for r in annotation.get("result") or []:
        if not isinstance(r, dict) or not isinstance(r.get("value"), dict):
            continue
        kind = _KIND.get(str(r.get("type")))
        if kind is None:
            continue
        value, name = r["value"], str(r.get("from_name", ""))
        got = out.setdefault(kind, {})
        if kind == "options":
            if "taxonomy" in value and "choices" not in value:
                paths = value["taxonomy"]
                if not isinstance(paths, list) or not all(
                    isinstance(p, list) and p and isinstance(p[-1], str) for p in paths
                ):
                    raise MappingError(_shape(name, "taxonomy", paths, "lists of node names"))
                picked = [p[-1] for p in paths]
            else:
                picked = value.get("choices")
                if not _strings(picked):
                    raise MappingError(_shape(name, "choices", picked, "a list of choice names"))
            got.setdefault(name, []).extend(picked)
        elif kind == "text":
            text = value.get("text")
            if not isinstance(text, str) and not _strings(text):
                raise MappingError(_shape(name, "text", text, "a list of texts"))
            got.setdefault(name, []).extend([text] if isinstance(text, str) else text)
        else:
            start, span = value.get("start"), value.get("text")
            if isinstance(start, int) and isinstance(span, str):
                got.setdefault(name, []).append((start, span))
    return out


def _answer(
    task_spec: TaskSpec, annotation: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    results = _results(annotation)
    for kind in fitting(task_spec):
        controls = results.get(kind, {})
        if len(controls) > 1:
            raise MappingError(
                f"several {kind} controls answer it ({', '.join(sorted(controls))}); a "
                f"{task_spec.type.value} benchmark takes one: export a project with one such "
                "control"
            )
        if controls:
            (value,) = controls.values()
            if kind == "text":
                value = "\n".join(str(v) for v in value)
            fields = to_line_fields(task_spec, kind, value, data)
            if "text" not in fitting(task_spec) and results.get("text"):
                texts = [str(v) for vs in results["text"].values() for v in vs]
                fields["comment"] = "\n".join(texts)
            return fields
    found = ", ".join(sorted(results)) or "no result benchsmith reads"
    want = " or ".join(t for t, k in _KIND.items() if k in fitting(task_spec))
    raise MappingError(f"has {found}; a {task_spec.type.value} task takes a {want} result")


def read_answers(path: Path, task_spec: TaskSpec, id_field: str | None) -> Iterator[ForeignAnswer]:
    """Every annotation of the export as an answer (cancelled ones: ``fields`` None, no
    error: skipped), in export order."""
    from builder.errors import ReviewError

    for n, task in enumerate(load_tasks(path, ReviewError), start=1):
        tid = _task_id(task)
        where_task = f"task {tid}" if tid is not None else f"task #{n}"
        problem = _task_problem(task)
        if problem is not None:
            yield ForeignAnswer(where_task, None, problem)
            continue
        sid = source_id_of(task, id_field)
        for k, ann in enumerate(task.get("annotations") or [], start=1):
            aid = ann.get("id") if isinstance(ann, dict) else None
            where = f"{where_task}, annotation {aid if aid is not None else f'#{k}'}"
            if not isinstance(ann, dict):
                yield ForeignAnswer(where, None, f"expected an annotation object, got {ann!r}")
                continue
            if ann.get("was_cancelled"):
                yield ForeignAnswer(where, None)
                continue
            who = _annotator(ann.get("completed_by"))
            if who is None:
                yield ForeignAnswer(
                    where,
                    None,
                    f"completed_by {ann.get('completed_by')!r} names no user; export again "
                    "with Export → JSON",
                )
                continue
            try:
                fields = _answer(task_spec, ann, task["data"])
            except MappingError as e:
                yield ForeignAnswer(where, None, str(e))
                continue
            yield ForeignAnswer(
                where, {"source_id": sid, "annotator": who[0], **fields}, email=who[1]
            )
