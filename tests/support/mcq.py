"""A multiple-choice workspace from the bundled demo questions (data/mcq_debian.jsonl.gz)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from builder.config import Settings
from builder.domain import Role
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import ROOT, spec_copy, write_jsonl
from tests.support.review import make_user

MCQ_DATA = ROOT / "data" / "mcq_debian.jsonl.gz"
MCQ_SPEC = ROOT / "data" / "mcq-debian.yaml"


def mcq_rows(n: int) -> list[dict[str, Any]]:
    """The first ``n`` demo questions (each with ``true_answer``, the true section's letter)."""
    out = []
    with gzip.open(MCQ_DATA, "rt", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if len(out) == n:
                break
    return out


def mcq_spec(tmp: Path, **changes: Any) -> Path:
    """A test spec like data/mcq-debian.yaml: tfidf embedder, no guidelines, ``changes``
    merged into its sections (``curation={"size": 40}``)."""
    curation = {"embedder": "tfidf", "strata_field": None, "min_chars": 1}
    curation.update(changes.get("curation", {}))
    return spec_copy(MCQ_SPEC, tmp, {**changes, "curation": curation}, without=["guidelines"])


def write_rows(tmp: Path, rows: list[dict[str, Any]], name: str = "mcq.jsonl") -> Path:
    """``rows`` as a JSONL file under ``tmp``."""
    return write_jsonl(tmp / name, rows)


def mcq_workspace(settings: Settings, tmp: Path, **changes: Any) -> Workspace:
    """An initialised MCQ workspace with annotators ana and ben, reviewer rita, lead lea."""
    init_workspace(settings, mcq_spec(tmp, **changes))
    ws = open_workspace(settings)
    for name, role in {
        "ana": Role.annotator,
        "ben": Role.annotator,
        "rita": Role.reviewer,
        "lea": Role.lead,
    }.items():
        make_user(ws, name, role)
    return ws
