"""An Argilla 2.x dataset exported as a Hugging Face ``datasets`` folder: records → pool
rows, submitted responses → answers.

``dataset.records.to_datasets().save_to_disk(FOLDER)`` (or a ``DatasetDict`` of such splits)
gives one row per record: ``id`` (the record id), ``status``, ``_server_id``, one column per
field and per metadata property, and per question ``Q``: ``Q.responses`` (the answers),
``Q.responses.users`` (who gave them, user ids) and ``Q.responses.status`` (``submitted``,
``discarded``, ``draft``), beside ``Q.suggestion`` / ``.score`` / ``.agent``.
Format: https://docs.argilla.io/latest/how_to_guides/import_export/

- A record's pool row holds its fields and metadata; its source id is the spec's
  ``source.id_field`` there, or else the record id.
- Each submitted response is one answer by ``argilla-<user id>``; discarded and draft ones
  are skipped, and suggestions are not answers. A label question's answer is a picked
  option, a multi-label question's several, a text question's free text; when the dataset
  has several questions, the one whose answers fit the task is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builder.errors import BenchsmithError, IngestError, ReviewError
from builder.migrate import ForeignAnswer
from builder.migrate.mapping import Kind, MappingError, fitting, to_line_fields
from builder.readers import RawRow
from builder.spec import TaskSpec, TaskType
from builder.textio import id_text

__all__ = ["load_rows", "questions", "read_answers", "read_records", "source_id_of"]

_RESPONSES = ".responses"
_SKIPPED = ("status", "_server_id")
"""Record columns that describe the Argilla record, not its data."""


def load_rows(path: Path, error: type[BenchsmithError] = IngestError) -> list[dict[str, Any]]:
    """The records of the folder (every split of a ``DatasetDict``, in split-name order)."""
    if not path.is_dir():
        raise error(
            f"{path}: an Argilla export is a folder written by `datasets` "
            "(`dataset.records.to_datasets().save_to_disk(FOLDER)`); give that folder"
        )
    try:
        import datasets
    except ImportError:  # pragma: no cover - a dev/migration extra
        raise error(
            "reading an Argilla export needs the `datasets` package; pip install 'benchsmith[migrate]'"
        ) from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise error(f"{path}: not a `datasets` folder ({e}); save it with save_to_disk") from None
    parts = (
        [loaded[k] for k in sorted(loaded)]
        if isinstance(loaded, datasets.DatasetDict)
        else [loaded]
    )
    rows = [dict(r) for part in parts for r in part]
    if not rows:
        raise error(f"{path}: the dataset holds no records; nothing to read")
    if "id" not in rows[0]:
        raise error(
            f"{path}: no `id` column; this is not an Argilla export (records.to_datasets())"
        )
    return rows


def questions(row: dict[str, Any]) -> list[str]:
    """The question names of the export (the columns ``Q.responses``)."""
    return sorted(c[: -len(_RESPONSES)] for c in row if c.endswith(_RESPONSES))


def _data(row: dict[str, Any]) -> dict[str, Any]:
    """Fields and metadata: every column but the record's own and the questions'."""
    qs = questions(row)
    data = {
        c: v
        for c, v in row.items()
        if c not in _SKIPPED and c != "metadata" and not any(c.startswith(f"{q}.") for q in qs)
    }
    if isinstance(row.get("metadata"), dict):  # older exports keep metadata in one column
        data.update({k: v for k, v in row["metadata"].items() if k not in data})
    return data


def source_id_of(row: dict[str, Any], id_field: str | None) -> str:
    """The record's source id: its ``id_field`` value when the spec names one and it is
    set, else the record id."""
    value = _data(row).get(id_field) if id_field else None
    if value is None or value == "":
        value = row["id"]
    return str(id_text(value))


def read_records(path: Path, id_field: str | None) -> Iterator[RawRow]:
    """Each record as a pool row; ``where`` is ``record ID``."""
    for row in load_rows(path):
        rid = row.get("id")
        data = _data(row)
        if id_field and (data.get(id_field) is None or data.get(id_field) == ""):
            data[id_field] = rid
        yield RawRow(f"record {rid}", data, source_id=None if rid is None else str(rid))


def _kind(task: TaskSpec, value: Any) -> tuple[Kind, Any]:
    if isinstance(value, list):
        return "options", value
    if task.type == TaskType.reference_answer:
        return "text", value
    return "options", [value]


def _fits(task: TaskSpec, rows: list[dict[str, Any]], q: str) -> bool:
    """Whether every submitted answer to ``q`` fits the task (labels from the spec)."""
    labels = set(task.labels or ())
    for row in rows:
        for value in row.get(f"{q}{_RESPONSES}") or []:
            if value is None:
                continue
            kind, v = _kind(task, value)
            if kind not in fitting(task):
                return False
            if kind == "options" and labels and not set(map(str, v)) <= labels:
                return False
            if kind == "text" and not isinstance(v, str):
                return False
    return True


def _question(task: TaskSpec, rows: list[dict[str, Any]], path: Path) -> str:
    qs = questions(rows[0])
    if not qs:
        raise ReviewError(
            f"{path}: no responses in the export (no `QUESTION.responses` column); export "
            "the records with their responses"
        )
    if len(qs) == 1:
        return qs[0]
    fit = [q for q in qs if _fits(task, rows, q)]
    if len(fit) != 1:
        raise ReviewError(
            f"{path}: the export has questions {qs} and "
            + (f"{fit} all fit" if fit else "none fits")
            + f" a {task.type.value} task; keep one question's columns "
            "(`Dataset.remove_columns`) and save the folder again"
        )
    return fit[0]


def read_answers(path: Path, task_spec: TaskSpec, id_field: str | None) -> Iterator[ForeignAnswer]:
    """Every response of the chosen question as an answer (not submitted: ``fields`` None,
    no error: skipped), in record order."""
    rows = load_rows(path, ReviewError)
    q = _question(task_spec, rows, path)
    for row in rows:
        where_rec = f"record {row.get('id')}"
        values = row.get(f"{q}{_RESPONSES}") or []
        users = row.get(f"{q}{_RESPONSES}.users") or []
        statuses = row.get(f"{q}{_RESPONSES}.status") or ["submitted"] * len(values)
        if not (len(values) == len(users) == len(statuses)):
            yield ForeignAnswer(
                where_rec,
                None,
                f"{q}.responses, .responses.users and .responses.status differ in length "
                f"({len(values)}, {len(users)}, {len(statuses)}); export the records again",
            )
            continue
        sid = source_id_of(row, id_field)
        for value, user, status in zip(values, users, statuses, strict=True):
            where = f"{where_rec}, response by {user}"
            if status != "submitted" or value is None:
                yield ForeignAnswer(where, None)
                continue
            if not user:
                yield ForeignAnswer(where, None, "the response names no user")
                continue
            try:
                kind, v = _kind(task_spec, value)
                fields = to_line_fields(task_spec, kind, v, _data(row))
            except MappingError as e:
                yield ForeignAnswer(where, None, str(e))
                continue
            yield ForeignAnswer(where, {"source_id": sid, "annotator": f"argilla-{user}", **fields})
