"""What every export format shares: the prompt per task type, rows → samples, atomic output.

A *sample* is the harness-neutral form of one released item::

    {"id": str, "input": str | [{"role", "content"}], "target": str | [str],
     "choices": [str] | None, "metadata": {"release", "content_hash", "split", ...}}

``input`` is the prompt text, or chat messages when the item holds a conversation
(a list of ``{"role", "content"}`` in an input field). ``target`` is the gold label,
the sorted gold labels (multilabel) or the reference answer. ``choices`` are the
options of a multiple-choice item (``choices`` column) and None otherwise. Images in
an input field (``{"bytes", "path"}`` dicts) are written beside the export and named
in ``metadata["images"]`` (relative paths).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from builder.errors import ReleaseError
from builder.release.manifest import Manifest

__all__ = [
    "ExportResult",
    "Release",
    "atomic_dir",
    "prompt_header",
    "to_samples",
]

_SEP = ", "
"""Separator a model is asked to use between labels (multilabel)."""


@dataclass(frozen=True)
class Release:
    """A pulled, verified release as the exporters need it."""

    manifest: Manifest
    rows: dict[str, list[dict[str, Any]]]
    """split → released rows (plain Python values)."""

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.manifest.name}@{self.manifest.version}"

    @property
    def trace(self) -> dict[str, str]:
        """What every exported record carries so results trace back to the release."""
        return {"release": self.ref, "content_hash": self.manifest.content_hash}


@dataclass
class ExportResult:
    """What an export wrote."""

    format: str
    release: str
    content_hash: str
    out: Path
    files: list[str] = field(default_factory=list)
    """Paths relative to ``out``."""
    items: dict[str, int] = field(default_factory=dict)
    """split → items written."""
    run_hint: str = ""
    """The command that runs the export."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``export --json``)."""
        return {**self.__dict__, "out": str(self.out)}


def prompt_header(manifest: Manifest) -> str:
    """The instruction that precedes each item's input, by task type."""
    kind = manifest.task_type
    title = manifest.title or manifest.name
    if kind == "classification":
        return (
            f"Task: {title}. Classify the item below with exactly one of these labels: "
            f"{_SEP.join(manifest.labels)}.\nAnswer with the label only."
        )
    if kind == "multilabel":
        return (
            f"Task: {title}. Tag the item below with every label that applies, from: "
            f"{_SEP.join(manifest.labels)}.\nAnswer with the labels only, separated by commas."
        )
    if kind == "multiple_choice":
        return f"Task: {title}. Answer the question below."
    return f"Task: {title}. Answer the question below in a few words."


def _is_conversation(value: Any) -> TypeGuard[list[dict[str, Any]]]:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in value)
    )


def _is_image(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and "bytes" in value and "path" in value


def _image_file(value: dict[str, Any], sid: str, fname: str, out: Path) -> str:
    data = value.get("bytes")
    if not isinstance(data, bytes | bytearray):
        raise ReleaseError(
            f"item {sid!r}: field {fname!r} is an image without bytes; re-release it with the image data"
        )
    suffix = Path(str(value.get("path") or "")).suffix.lower() or ".png"
    rel = f"images/{_safe(sid)}-{_safe(fname)}{suffix}"
    (out / "images").mkdir(exist_ok=True)
    (out / rel).write_bytes(bytes(data))
    return rel


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "x"


def _target(manifest: Manifest, row: dict[str, Any]) -> str | list[str]:
    gold = row[manifest.answer_field]
    if manifest.task_type == "multilabel":
        return sorted(str(x) for x in gold)
    if isinstance(gold, dict):  # extractive: SQuAD v2 {"text": [...], "answer_start": [...]}
        return [str(x) for x in gold.get("text") or []]
    return str(gold)


def to_samples(release: Release, split: str, out: Path | None = None) -> list[dict[str, Any]]:
    """The samples of ``split`` (see the module doc); images go under ``out/images``.

    Raises :class:`ReleaseError` naming the split when the release lacks it.
    """
    m = release.manifest
    if split not in release.rows:
        raise ReleaseError(
            f"{release.ref} has no split {split!r}; it has {', '.join(release.rows) or 'none'}"
        )
    header = prompt_header(m)
    task = m.spec.get("task") or {}
    choices_field = task.get("choices_field") if isinstance(task, dict) else None
    samples = []
    for row in release.rows[split]:
        sid = str(row["id"])
        parts: list[str] = []
        conversation: list[dict[str, str]] | None = None
        images: list[str] = []
        for fname in m.input_fields:
            value = row.get(fname)
            if fname == choices_field:
                continue  # the harness lists the choices itself
            if _is_conversation(value):
                conversation = [
                    {"role": str(x["role"]), "content": str(x["content"])} for x in value
                ]
            elif _is_image(value):
                if out is not None:
                    images.append(_image_file(value, sid, fname, out))
            elif value is not None and value != "":
                parts.append(f"{fname}: {value}" if len(m.input_fields) > 1 else str(value))
        choices = row.get(choices_field) if choices_field else None
        text = "\n".join(parts)
        if conversation is not None:
            messages = [{"role": "system", "content": header}, *conversation]
            if text:
                messages.append({"role": "user", "content": text})
            inp: str | list[dict[str, str]] = messages
        else:
            inp = f"{header}\n\n{text}" if text else header
        meta: dict[str, Any] = {**release.trace, "split": split}
        for key in ("cluster", "stratum"):
            if row.get(key) is not None:
                meta[key] = row[key]
        if images:
            meta["images"] = images
        samples.append(
            {
                "id": sid,
                "input": inp,
                "target": _target(m, row),
                "choices": [str(c) for c in choices] if isinstance(choices, list) else None,
                "metadata": meta,
            }
        )
    return samples


@contextmanager
def atomic_dir(out: str | Path, *, force: bool) -> Iterator[Path]:
    """A fresh temp folder beside ``out`` that replaces ``out`` when the block succeeds.

    Raises :class:`ReleaseError` naming ``out`` when it is a non-empty folder (or a file)
    and ``force`` is False. On an error inside the block ``out`` is left as it was.
    """
    target = Path(out).absolute()
    if target.exists() and not target.is_dir():
        raise ReleaseError(f"--out {str(target)!r} is a file; give a folder path")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ReleaseError(
            f"--out {str(target)!r} is not empty; choose a new folder or pass --force to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
