"""An extractive (SQuAD v2 style) workspace from the bundled demo questions
(data/squad_debian.jsonl.gz, made by data/make_squad.py)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from tests.support.common import ROOT, spec_copy, write_jsonl

SQUAD_DATA = ROOT / "data" / "squad_debian.jsonl.gz"
SQUAD_SPEC = ROOT / "data" / "squad-debian.yaml"
_WRITTEN_IN = re.compile(r"\bwritten in ")


def squad_rows(per_type: dict[str, int]) -> list[dict[str, Any]]:
    """The first rows of each question type (``{"provide": 4, "licence": 2}``), in file order."""
    out: list[dict[str, Any]] = []
    left = dict(per_type)
    with gzip.open(SQUAD_DATA, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if left.get(row["question_type"], 0) > 0:
                left[row["question_type"]] -= 1
                out.append(row)
    return out


def expected_start(row: dict[str, Any]) -> int | None:
    """Where ``expected_answer`` starts in the context (None for unanswerable)."""
    if not row["expected_answer"]:
        return None
    if row["question_type"] == "provide":
        return 0
    m = _WRITTEN_IN.search(row["context"])
    assert m is not None
    return m.end()


def squad_spec(tmp: Path, **changes: Any) -> Path:
    """A test spec like data/squad-debian.yaml without guidelines, ``changes`` merged into
    its sections (``curation={"size": 10}``)."""
    return spec_copy(SQUAD_SPEC, tmp, changes, without=["guidelines"])


def write_rows(tmp: Path, rows: list[dict[str, Any]], name: str = "squad.jsonl") -> Path:
    """``rows`` as a JSONL file under ``tmp``."""
    return write_jsonl(tmp / name, rows)
