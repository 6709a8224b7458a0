"""Whether a pool record answered in another tool may become an item (reason ``imported``).

A record curation set aside stays out, and the import is refused naming why: removed as a
duplicate of a kept record (the latest curation run's ``removed`` rows, or its
``removed_file``), excluded as contaminated (its ``contaminated`` rows), failing the spec's
quality filters (empty, shorter than ``curation.min_chars`` or longer than
``curation.max_chars``, the same check curation's scan applies), or holding PII under the
spec's ``pii: drop`` policy. Otherwise it becomes a candidate item with the PII flags
(and, under ``redact``, the redacted text) curation would have given it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from builder.curate.filters import apply_pii_policy, quality_problem
from builder.errors import ReviewError
from builder.spec import BenchmarkSpec
from builder.store.imports import add_imported_items, pool_records
from builder.store.models import Item
from builder.store.runs import latest_run

__all__ = ["REASON", "Admission", "admit"]

REASON = "imported"
"""The ``reason`` of an item made by an import."""


@dataclass
class Admission:
    """What :func:`admit` did: the new items by source id, and why the others were refused."""

    items: dict[str, Item] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def _set_aside(report: dict[str, Any], run_id: int | None) -> dict[str, str]:
    """source id → why curation run ``run_id`` left it out (duplicates, contamination).

    Raises ReviewError when the report names a ``removed_file`` that is gone."""
    why: dict[str, str] = {}
    removed = list(report.get("removed") or [])
    removed_file = report.get("removed_file")
    if removed_file:
        # Without the file, which records the run removed is unknown: admitting them all
        # would let duplicates of kept records in unseen.
        if not Path(removed_file).is_file():
            raise ReviewError(
                f"curation run {run_id} lists its removed duplicates in {removed_file!r}, which "
                "is missing, so whether the answered records were removed cannot be checked; "
                "restore the file, or run `benchsmith curate` again, then import"
            )
        with Path(removed_file).open(encoding="utf-8") as f:
            removed += [json.loads(line) for line in f if line.strip()]
    for r in removed:
        cosine = f", cosine {r['cosine']}" if r.get("cosine") is not None else ""
        kind = str(r.get("kind", "near"))
        why[str(r["source_id"])] = (
            f"curation run {run_id} removed it as {'an' if kind.startswith(tuple('aeiou')) else 'a'} "
            f"{kind} duplicate of {r.get('duplicate_of')!r}{cosine}"
        )
    for c in report.get("contaminated") or []:
        why[str(c["source_id"])] = (
            f"curation run {run_id} excluded it as contaminated: it shares {c.get('shared')} "
            f"of {c.get('total')} n-grams with {c.get('source')!r}"
        )
    return why


def admit(
    s: Session, spec: BenchmarkSpec, benchmark_id: int, source_ids: Sequence[str]
) -> tuple[Admission, list[str]]:
    """Make items of the pool records ``source_ids`` (none of them an item yet) unless
    curation excluded them; returns the admission and the ids not in the pool at all.
    Nothing is written when any is refused or missing (the caller fails the import).
    Raises ReviewError when the latest curation run's ``removed_file`` is missing."""
    records = pool_records(s, benchmark_id, source_ids)
    missing = [sid for sid in source_ids if sid not in records]
    run = latest_run(s, benchmark_id) if records else None
    aside = _set_aside(run.report or {}, run.id) if run is not None else {}
    out = Admission()
    new: list[tuple[str, int, str | None, dict[str, Any]]] = []
    for sid, (record_id, text) in records.items():
        if sid in aside:
            out.refused[sid] = aside[sid]
            continue
        cur = spec.curation
        problem = quality_problem(text, min_chars=cur.min_chars, max_chars=cur.max_chars)
        if problem is not None:
            out.refused[sid] = (
                f"its text fails curation's quality filter ({problem.replace('_', ' ')}: "
                f"{len(text.strip())} characters, the spec's curation allows "
                f"{cur.min_chars}–{cur.max_chars}); curation leaves such records out"
            )
            continue
        pii = apply_pii_policy(text, spec.curation.pii)
        if not pii.keep:
            kinds = ", ".join(sorted((pii.flags or {}).get("kinds", {}))) or "PII"
            out.refused[sid] = (
                f"it holds PII ({kinds}) and the spec's curation.pii is drop; curation "
                "leaves such records out"
            )
            continue
        flags: dict[str, Any] = {"pii": pii.flags} if pii.flags else {}
        new.append((sid, record_id, pii.text, flags))
    if out.refused or missing or not new:
        return out, missing
    rows = add_imported_items(
        s,
        benchmark_id=benchmark_id,
        items=[(rid, text, flags) for _, rid, text, flags in new],
        reason=REASON,
    )
    out.items = {sid: row for (sid, *_), row in zip(new, rows, strict=True)}
    return out, missing
