"""`benchsmith review / users / annotations / items`: output, exact errors, exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from builder.review.auth import login
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.review import make_items

pytestmark = pytest.mark.usefixtures("fast_argon2")


def test_users_add_list_disable(cli: Cli, cli_ws: Workspace, ops_env: dict[str, str]) -> None:
    r = cli(
        "users", "add", "ana", "--role", "annotator", "--password-stdin",
        env=ops_env, input="ana-password\n",
    )  # fmt: skip
    assert (r.exit_code, r.stdout, r.stderr) == (0, "user 'ana' added as annotator\n", "")
    assert login(cli_ws, "ana", "ana-password").actor.name == "ana"
    r = cli("users", "add", "bot", "--role", "annotator", "--no-login", env=ops_env)
    assert r.stdout == "user 'bot' added as annotator (no login)\n"
    r = cli("users", "list", "--json", env=ops_env)
    listed = json.loads(r.stdout)
    # The workspace had no lead: its first changing command recorded the operator as one.
    assert [(u["name"], u["role"], u["can_login"]) for u in listed] == [
        ("ana", "annotator", True),
        ("bot", "annotator", False),
        ("ops", "lead", False),
    ]
    assert "password" not in r.stdout
    r = cli("users", "set-role", "ana", "--role", "reviewer", env=ops_env)
    assert (r.exit_code, r.stdout) == (0, "user 'ana': reviewer, enabled\n")
    r = cli("users", "disable", "ana", env=ops_env)
    assert (r.exit_code, r.stdout) == (0, "user 'ana': reviewer, disabled\n")
    r = cli("users", "list", env=ops_env)
    assert r.stdout.splitlines() == [
        f"{'ana':<24} {'reviewer':<10} disabled",
        f"{'bot':<24} {'annotator':<10} no login",
        f"{'ops':<24} {'lead':<10} no login",
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "add", "x", "--role", "boss", "--no-login"], None,
         "Error: unknown role 'boss'; use one of annotator, reviewer, lead"),
        (["users", "add", "x", "--role", "lead", "--password-stdin"], "short\n",
         "Error: the password is 5 characters long; use at least 8"),
        (["users", "add", "x", "--role", "lead", "--password-stdin"], "",
         "Error: --password-stdin got no password on stdin; pipe one line, e.g. `echo PW |`"),
        (["users", "disable", "ghost"], None,
         "Error: no user called 'ghost'; see `benchsmith users list`"),
        (["items", "list", "--status", "done"], None,
         "Error: unknown status 'done'; use one of candidate, in_review, consensus, conflict, "
         "approved, rejected, released"),
        (["items", "gold", "nope"], None, "Error: give either --answer VALUE or --unmark"),
        (["items", "gold", "nope", "--answer", "devel"], None,
         "Error: no item with source id 'nope' in benchmark 'debian-sections'; "
         "see `benchsmith items list`"),
    ],
)  # fmt: skip
def test_exact_errors(
    cli: Cli,
    cli_ws: Workspace,
    ops_env: dict[str, str],
    args: list[str],
    stdin: str | None,
    message: str,
) -> None:
    r = cli(*args, env=ops_env, input=stdin)
    assert (r.exit_code, r.stdout, r.stderr.strip()) == (1, "", message)


def test_items_list_and_gold(
    cli: Cli,
    cli_ws: Workspace,
    ops_env: dict[str, str],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ids = make_items(cli_ws, sample_rows, 3, tmp=tmp_path)
    rows = json.loads(cli("items", "list", "--json", env=ops_env).stdout)
    assert [(r["item_id"], r["source_id"], r["status"], r["answers"]) for r in rows] == [
        (i, sample_rows[n]["package"], "candidate", 0) for n, i in enumerate(ids)
    ]
    pkg = sample_rows[1]["package"]
    r = cli("items", "gold", pkg, "--answer", "mail", env=ops_env)
    assert (r.exit_code, r.stdout) == (
        0,
        f"item {ids[1]} ({pkg}) is gold with answer 'mail'; status approved\n",
    )
    r = cli("items", "list", "--status", "approved", env=ops_env)
    assert r.stdout == f"{ids[1]:>7}  {'approved':<10} 0 answer(s) gold  {pkg}\n"
    r = cli("items", "gold", pkg, "--unmark", env=ops_env)
    assert r.stdout == f"item {ids[1]} ({pkg}) is no longer gold; status approved\n"


def test_annotations_import_and_export(
    cli: Cli,
    cli_ws: Workspace,
    ops_env: dict[str, str],
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    make_items(cli_ws, sample_rows, 2, tmp=tmp_path)
    a, b = (sample_rows[i]["package"] for i in range(2))
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"source_id": a, "annotator": "p1", "label": "devel"},
                {"source_id": a, "annotator": "p2", "label": "devel"},
                {"source_id": b, "annotator": "p1", "label": "mail"},
            ]
        ),
        encoding="utf-8",
    )
    r = cli("annotations", "import", src, env=ops_env)
    assert r.exit_code == 0
    assert r.stdout == (
        f"{src}: 3 imported, 0 revised, 0 unchanged, 0 skipped\n"
        "created users without login: p1, p2\n"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"source_id": b, "annotator": "p2", "label": "nope"}) + "\n")
    r = cli("annotations", "import", bad, env=ops_env)
    assert r.exit_code == 1 and r.stderr.startswith(
        f"Error: {bad}: nothing imported, 1 problem(s):\n  line 1:"
    )
    r = cli("annotations", "export", env=ops_env)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["type"], x["source_id"]) for x in lines] == [
        ("annotation", a), ("annotation", a), ("annotation", b), ("decision", a)
    ]  # fmt: skip
    dest = tmp_path / "audit.jsonl"
    r = cli("annotations", "export", "--out", dest, env=ops_env)
    assert (r.exit_code, r.stderr) == (0, f"wrote 4 lines to {dest}\n")
    r = cli("annotations", "export", "--out", dest, env=ops_env)
    assert r.stderr.strip() == (
        f"Error: {dest} already exists; choose another --out or pass --force to replace it"
    )
    assert cli("annotations", "export", "--out", dest, "--force", env=ops_env).exit_code == 0


def test_review_refuses_a_busy_port(cli: Cli, cli_ws: Workspace, ops_env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("review", "--port", str(port), env=ops_env)
    assert (r.exit_code, r.stderr.strip()) == (
        1,
        f"Error: port {port} on 127.0.0.1 is in use; pick another with --port or stop what uses it",
    )


def test_review_needs_a_workspace(cli: Cli, ops_env: dict[str, str], tmp_path: Path) -> None:
    r = cli("review", env=ops_env)
    assert r.exit_code == 1 and r.stderr.startswith(f"Error: no workspace at {tmp_path / 'ws'}")
