"""Helpers for the conversation-field tests: a topic spec over the bundled dialog corpus,
rows from it, files in each format, and a workspace with that spec."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from builder.config import Settings
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.common import DATA, spec_copy
from tests.support.common import write_jsonl as write_jsonl  # re-exported for the tests

CONVERSATIONS = DATA / "support-conversations.jsonl.gz"
CONVERSATION_SPEC = DATA / "conversations.yaml"
NAME = "conversation-topics"


def corpus_rows() -> list[dict[str, Any]]:
    """Every record of the bundled corpus (id, dialog, topic, turns), in file order."""
    with gzip.open(CONVERSATIONS, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def spec_file(tmp: Path, **changes: Any) -> Path:
    """``data/conversations.yaml`` with top-level sections updated by ``changes`` (a dict
    updates the section), written into ``tmp``; guidelines point at the shipped file."""
    return spec_copy(CONVERSATION_SPEC, tmp, changes)


def conversation_ws(settings: Settings, tmp: Path, **changes: Any) -> Workspace:
    """A workspace whose benchmark is the conversation spec with ``changes``."""
    init_workspace(settings, spec_file(tmp, **changes))
    return open_workspace(settings)


def turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """``turns(("user", "hi"), ("agent", "hello"))`` → a list of ``{role, content}``."""
    return [{"role": r, "content": c} for r, c in pairs]
