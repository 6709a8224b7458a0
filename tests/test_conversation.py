"""Conversation fields: validation at ingest (jsonl, csv, parquet), role-tagged text,
de-duplication on it, and PII scans that see every turn."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from builder.config import Settings
from builder.conversation import MAX_TURNS, ConversationError, check_turns, to_text
from builder.curate.pipeline import curate
from builder.errors import IngestError, SpecError
from builder.ingest import ingest_files
from builder.store.models import Item, Record
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.conversation import conversation_ws, spec_file, turns, write_jsonl

FIX = 'write the field as a list of turns like [{"role": "customer", "content": "Hi"}]'
TAIL = (
    ". Nothing from this file was ingested; fix the row or rerun with --skip-invalid to set "
    "invalid rows aside"
)
GOOD = turns(("customer", "My printer is offline."), ("agent", "Is it plugged in?"))


@pytest.fixture
def ws(sqlite_settings: Settings, tmp_path: Path) -> Any:
    w = conversation_ws(sqlite_settings, tmp_path)
    yield w
    w.db.dispose()


def _records(ws: Workspace) -> list[Record]:
    with ws.db.session() as s:
        return list(s.exec(select(Record).order_by(Record.id)))  # type: ignore[arg-type]


# --- check_turns: every rule, the exact message -------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("hello", f"field 'dialog' is a conversation and must be a list of turns, got str 'hello'; {FIX}"),
        ({"role": "user"}, "field 'dialog' is a conversation and must be a list of turns, got dict {'role': 'user'}; " + FIX),
        ([], "field 'dialog' is an empty conversation; give at least one turn"),
        (["hi"], f"field 'dialog' turn 1 of 1 (index 0) must be an object with role and content, got str 'hi'; {FIX}"),
        ([GOOD[0], {"content": "x"}], "field 'dialog' turn 2 of 2 (index 1) has no 'role'; give every turn a role and a content"),
        ([GOOD[0], GOOD[1], {"role": "agent"}], "field 'dialog' turn 3 of 3 (index 2) has no 'content'; give every turn a role and a content"),
        ([{"role": "user", "content": "x", "ts": 1}], "field 'dialog' turn 1 of 1 (index 0) has key(s) ['ts'] besides role and content; drop them or keep them in a metadata field"),
        ([{"role": 7, "content": "x"}], "field 'dialog' turn 1 of 1 (index 0): 'role' must be a string, got int 7"),
        ([{"role": " ", "content": "x"}], "field 'dialog' turn 1 of 1 (index 0): 'role' is empty; name who speaks (e.g. 'customer')"),
        ([{"role": "a\nb", "content": "x"}], "field 'dialog' turn 1 of 1 (index 0): 'role' 'a\\nb' must be one line of at most 100 characters; the text goes in 'content'"),
        ([GOOD[0], {"role": "agent", "content": ["x"]}], "field 'dialog' turn 2 of 2 (index 1): 'content' must be a string, got list ['x']"),
        ([{"role": "agent", "content": "a\x00b"}], "field 'dialog' turn 1 of 1 (index 0) contains a NUL byte (\\x00); remove it"),
        ([GOOD[0]] * (MAX_TURNS + 1), "field 'dialog' has 1,001 turns, over the limit of 1,000; split the conversation"),
        ([GOOD[0], {"role": "agent", "content": "x" * 200}], "field 'dialog' is over the limit of 100 bytes of role-tagged text by turn 2 of 2 (index 1); shorten the conversation or raise BENCHSMITH_MAX_FIELD_BYTES"),
    ],
    ids=["str", "dict", "empty", "turn-str", "no-role", "no-content", "extra-key", "role-int",
         "role-empty", "role-newline", "content-list", "nul", "too-many", "too-long"],
)  # fmt: skip
def test_check_turns_refuses_with_exact_message(value: Any, message: str) -> None:
    with pytest.raises(ConversationError) as e:
        check_turns(value, "dialog", max_bytes=100)
    assert str(e.value) == message


def test_valid_turns_and_role_tagged_text() -> None:
    value = [*GOOD, {"role": ":red[agent]", "content": ""}]
    assert check_turns(value, "dialog", max_bytes=1000) == value
    assert to_text(value) == (
        "customer: My printer is offline.\nagent: Is it plugged in?\n:red[agent]: "
    )


# --- ingest: every reader, line-precise ---------------------------------------------------


def test_jsonl_conversation_errors_name_file_line_and_turn(ws: Workspace, tmp_path: Path) -> None:
    bad = [{"role": "customer", "content": "hi"}, {"role": "agent", "content": 5}]
    src = write_jsonl(
        tmp_path / "c.jsonl", [{"id": "a", "dialog": GOOD}, {"id": "b", "dialog": bad}]
    )
    with pytest.raises(IngestError) as e:
        ingest_files(ws, [src])
    assert str(e.value) == (
        f"{src}: line 2: field 'dialog' turn 2 of 2 (index 1): 'content' must be a string, "
        f"got int 5{TAIL}"
    )
    assert _records(ws) == []  # all or nothing
    src.write_text(json.dumps({"id": "a", "dialog": json.dumps(GOOD)}) + "\n")
    with pytest.raises(IngestError, match=r"c\.jsonl: line 1: field 'dialog' is a conversation "
                       r"and must be a list of turns, got str '\[\{"):  # fmt: skip
        ingest_files(ws, [src])
    src.write_text(json.dumps({"id": "a", "topic": "x"}) + "\n")
    with pytest.raises(IngestError) as e:
        ingest_files(ws, [src])
    assert str(e.value) == (
        f"{src}: line 1: field 'dialog' is missing; every row needs the spec's id, text and "
        f"input fields{TAIL}"
    ) or str(e.value) == (
        f"{src}: line 1: conversation field 'dialog' is missing; give a list of turns{TAIL}"
    )


def test_jsonl_valid_conversations_are_stored_as_lists(ws: Workspace, tmp_path: Path) -> None:
    rows = [{"id": "a", "dialog": GOOD, "topic": "tech support", "turns": 2}]
    src = write_jsonl(tmp_path / "c.jsonl", rows)
    assert ingest_files(ws, [src]).summary()["ingested"] == 1
    (rec,) = _records(ws)
    assert rec.text == "customer: My printer is offline.\nagent: Is it plugged in?"
    assert rec.data["dialog"] == GOOD


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "dialog", "topic"], *rows])
    return path


def test_csv_cell_holds_json_encoded_turns(ws: Workspace, tmp_path: Path) -> None:
    src = _csv(tmp_path / "c.csv", [["a", json.dumps(GOOD), "tech support"]])
    assert ingest_files(ws, [src]).summary()["ingested"] == 1
    assert _records(ws)[0].data["dialog"] == GOOD
    bad = _csv(tmp_path / "bad.csv", [["b", json.dumps(GOOD), "x"], ["c", "[{role: user}]", "x"]])
    with pytest.raises(IngestError) as e:
        ingest_files(ws, [bad])
    assert str(e.value) == (
        f"{bad}: line 3: field 'dialog' is a conversation but its cell is not valid JSON "
        f"(unexpected character, expected a string key at column 3); {FIX}, JSON-encoded in the cell{TAIL}"
    )
    third = _csv(tmp_path / "third.csv", [["d", json.dumps([*GOOD, {"role": "agent"}]), "x"]])
    with pytest.raises(IngestError) as e:
        ingest_files(ws, [third])
    assert str(e.value) == (
        f"{third}: line 2: field 'dialog' turn 3 of 3 (index 2) has no 'content'; give every "
        f"turn a role and a content{TAIL}"
    )


def test_parquet_list_of_structs(ws: Workspace, tmp_path: Path) -> None:
    ok = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "dialog": [GOOD, GOOD[:1]]}), ok)
    assert ingest_files(ws, [ok]).summary()["ingested"] == 2
    assert [r.data["dialog"] for r in _records(ws)] == [GOOD, GOOD[:1]]

    nulls = tmp_path / "nulls.parquet"
    pq.write_table(
        pa.table(
            {"id": ["c", "d"], "dialog": [GOOD, [GOOD[0], {"role": "agent", "content": None}]]}
        ),
        nulls,
    )
    with pytest.raises(IngestError) as e:
        ingest_files(ws, [nulls])
    assert str(e.value) == (
        f"{nulls}: row 2: field 'dialog' turn 2 of 2 (index 1) has no 'content'; give every "
        f"turn a role and a content{TAIL}"
    )

    strings = tmp_path / "strings.parquet"
    pq.write_table(pa.table({"id": ["e"], "dialog": [json.dumps(GOOD)]}), strings)
    with pytest.raises(IngestError) as e:
        ingest_files(ws, [strings])
    assert str(e.value) == (
        f"{strings}: column 'dialog' has Parquet type string; a conversation column must be "
        "list<struct<role: string, content: string>>. Write each value as a list of "
        '{"role": ..., "content": ...} dicts and rewrite the file'
    )


def test_field_kinds_must_name_spec_fields(sqlite_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"source\.field_kinds names \['chat'\], which are not "
                       r"fields of the spec"):  # fmt: skip
        conversation_ws(sqlite_settings, tmp_path, source={"field_kinds": {"chat": "conversation"}})
    with pytest.raises(SpecError, match="field_kinds"):
        conversation_ws(sqlite_settings, tmp_path, source={"field_kinds": {"dialog": "chat"}})


# --- curation on the role-tagged text -----------------------------------------------------


def test_dedup_uses_role_tagged_text(ws: Workspace, tmp_path: Path) -> None:
    swapped = turns(("agent", "My printer is offline."), ("customer", "Is it plugged in?"))
    other = turns(("user", "How do I reset my password?"), ("agent", "Use the login page link."))
    rows = [
        {"id": "a", "dialog": GOOD},
        {"id": "b", "dialog": [dict(t) for t in GOOD]},  # same turns: exact duplicate of a
        {"id": "c", "dialog": swapped},  # same contents, other roles: not exact
        {"id": "d", "dialog": other},
    ]
    ingest_files(ws, [write_jsonl(tmp_path / "c.jsonl", rows)])
    report = curate(ws, embedder="tfidf", size=4)
    assert report.exact_duplicates == 1
    exact = [r for r in report.removed if r["kind"] == "exact"]
    assert [(r["source_id"], r["duplicate_of"]) for r in exact] == [("b", "a")]
    assert "c" not in {r["source_id"] for r in exact}


def test_pii_in_the_third_turn_is_found(ws: Workspace, tmp_path: Path) -> None:
    leak = turns(
        ("customer", "I cannot log in."),
        ("agent", "Which address did you sign up with?"),
        ("customer", "It is jane.doe@example.org, thanks"),
    )
    rows = [{"id": "leak", "dialog": leak}, {"id": "clean", "dialog": GOOD}]
    ingest_files(ws, [write_jsonl(tmp_path / "c.jsonl", rows)])
    report = curate(ws, embedder="tfidf", size=2)
    assert report.pii_records == 1 and report.pii == {"email": 1}
    with ws.db.session() as s:
        flags = {
            r.source_id: i.flags.get("pii")
            for i, r in s.exec(select(Item, Record).where(Item.record_id == Record.id))
        }
    leaked = flags["leak"]
    assert flags["clean"] is None and leaked is not None and leaked["kinds"] == {"email": 1}
    ((span),) = leaked["spans"]
    text = to_text(leak)
    assert text[span["start"] : span["end"]] == "jane.doe@example.org"
    assert span["start"] > text.index("customer: It is")  # in the third turn


def test_pii_redaction_is_turn_by_turn(sqlite_settings: Settings, tmp_path: Path) -> None:
    from builder.review.items import item_fields
    from builder.store.items import item_view

    ws = conversation_ws(sqlite_settings, tmp_path, curation={"pii": "redact"})
    leak = [*GOOD, {"role": "customer", "content": "mail jane.doe@example.org"}]
    ingest_files(ws, [write_jsonl(tmp_path / "c.jsonl", [{"id": "leak", "dialog": leak}])])
    curate(ws, embedder="tfidf", size=1)
    _, spec = ws.benchmark()
    with ws.db.session() as s:
        view = item_view(s, 1)
    assert view is not None
    shown = item_fields(spec, view)["dialog"]
    assert [t["role"] for t in shown] == ["customer", "agent", "customer"]
    assert shown[:2] == GOOD and "jane.doe" not in shown[2]["content"]
    ws.db.dispose()


def test_cli_init_ingest_curate_the_demo(cli: Cli, cli_env: dict[str, str]) -> None:
    from tests.support.conversation import CONVERSATION_SPEC, CONVERSATIONS

    result = cli("init", "--spec", CONVERSATION_SPEC, env=cli_env)
    assert result.exit_code == 0, result.output
    assert "benchmark 'conversation-topics' created" in result.output
    result = cli("ingest", CONVERSATIONS, env=cli_env)
    assert result.exit_code == 0, result.output
    assert "2025 ingested, 0 already in the pool, 0 conflicts, 0 rejected" in result.output
    result = cli("curate", "--size", "50", env=cli_env)
    assert result.exit_code == 0, result.output
    assert "duplicates: 1129 exact" in result.output, result.output


def test_demo_spec_inits(sqlite_settings: Settings, tmp_path: Path) -> None:
    from tests.support.conversation import CONVERSATION_SPEC

    assert spec_file(tmp_path).exists()
    from builder.workspace import init_workspace, open_workspace

    init_workspace(sqlite_settings, CONVERSATION_SPEC)
    ws = open_workspace(sqlite_settings)
    _, spec = ws.benchmark()
    assert spec.source.kind("dialog") == "conversation"
    ws.db.dispose()
