"""Invisible and reordering characters in CLI output: shown as ``⟨U+XXXX⟩`` codes.

A source id or user name with a right-to-left override (U+202E) would print as a different
string (``evil\u202etxt.exe`` shows as ``evilexe.txt``); an escape sequence would drive the
terminal. ``items list``, ``users list`` and the other tables print them as codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builder.display import BIDI_CONTROLS, visible
from builder.domain import Role
from builder.store.users import add_user as insert_user
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.review import make_items

RLO_ID = "evil\u202etxt.exe"
ESC_ID = "red\x1b[31mtext\x1b[0m"
ZW_ID = "ad\u200bmin\u2066"


def _no_hidden(text: str) -> None:
    assert not BIDI_CONTROLS & set(text) and "\x1b" not in text and "\u200b" not in text


def test_items_list_shows_bidi_controls_as_codes(
    cli: Cli, cli_ws: Workspace, cli_env: dict[str, str], sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:  # fmt: skip
    rows = [{**r, "package": p} for r, p in zip(sample_rows, [RLO_ID, ESC_ID, ZW_ID], strict=False)]
    ids = make_items(cli_ws, rows, 3, tmp=tmp_path)
    r = cli("items", "list", env=cli_env)
    assert r.exit_code == 0, r.output
    _no_hidden(r.stdout)
    assert r.stdout.splitlines() == [
        f"{i:>7}  {'candidate':<10} 0 answer(s)  {shown}"
        for i, shown in zip(ids, [
            "evil⟨U+202E⟩txt.exe", "red⟨U+001B⟩[31mtext⟨U+001B⟩[0m", "ad⟨U+200B⟩min⟨U+2066⟩",
        ], strict=True)
    ]  # fmt: skip
    # --json is for programs: the exact value.
    listed = json.loads(cli("items", "list", "--json", env=cli_env).stdout)
    assert [row["source_id"] for row in listed] == [RLO_ID, ESC_ID, ZW_ID]
    r = cli("items", "gold", RLO_ID, "--answer", "mail", env=cli_env)
    assert (
        r.stdout
        == f"item {ids[0]} (evil⟨U+202E⟩txt.exe) is gold with answer 'mail'; status approved\n"
    )
    # An error quoting it: no raw control reaches the terminal either.
    r = cli("items", "gold", f"no{RLO_ID}", "--answer", "mail", env=cli_env)
    assert r.exit_code != 0
    _no_hidden(r.stderr)


def test_users_list_shows_bidi_controls_as_codes(
    cli: Cli, cli_ws: Workspace, cli_env: dict[str, str]
) -> None:
    with cli_ws.db.session() as s:  # stored before the name check, or by another tool
        insert_user(s, name=f"ana{RLO_ID}", role=Role.annotator, password_hash=None)
    r = cli("users", "list", env=cli_env)
    assert r.exit_code == 0, r.output
    _no_hidden(r.stdout)
    assert r.stdout == f"{'anaevil⟨U+202E⟩txt.exe':<24} {'annotator':<10} no login\n"


def test_visible_is_the_identity_on_ordinary_text() -> None:
    for s in ["", "gzip", "libstdc++6", "naïve — 日本語 العربية", "a b\u00a0c"]:
        assert visible(s) == s
