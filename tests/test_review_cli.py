"""`benchsmith review / users / annotations / items`: output, exact errors, exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from builder.cli import app
from builder.config import Settings
from builder.review.auth import login
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.conftest import SAMPLE_SPEC
from tests.review_support import fast_argon2, make_items  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("fast_argon2")
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BENCHSMITH_HOME": str(tmp_path / "ws"),
        "BENCHSMITH_DATABASE_URL": "",
        "BENCHSMITH_BENCHMARK": "",
        "BENCHSMITH_REGISTRY": "",
        "BENCHSMITH_USER": "ops",
    }


@pytest.fixture
def ws(env: dict[str, str], tmp_path: Path) -> Iterator[Workspace]:
    settings = Settings.from_env(env)
    init_workspace(settings, SAMPLE_SPEC)
    w = open_workspace(settings)
    yield w
    w.db.dispose()


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_add_list_disable(ws: Workspace, env: dict[str, str]) -> None:
    code, out, err = run(
        env,
        "users",
        "add",
        "ana",
        "--role",
        "annotator",
        "--password-stdin",
        stdin="ana-password\n",
    )
    assert (code, out, err) == (0, "user 'ana' added as annotator\n", "")
    assert login(ws, "ana", "ana-password").actor.name == "ana"
    code, out, _ = run(env, "users", "add", "bot", "--role", "annotator", "--no-login")
    assert out == "user 'bot' added as annotator (no login)\n"
    code, out, _ = run(env, "users", "list", "--json")
    listed = json.loads(out)
    assert [(u["name"], u["role"], u["can_login"]) for u in listed] == [
        ("ana", "annotator", True),
        ("bot", "annotator", False),
    ]
    assert "password" not in out
    code, out, _ = run(env, "users", "set-role", "ana", "--role", "reviewer")
    assert (code, out) == (0, "user 'ana': reviewer, enabled\n")
    code, out, _ = run(env, "users", "disable", "ana")
    assert (code, out) == (0, "user 'ana': reviewer, disabled\n")
    code, out, _ = run(env, "users", "list")
    assert out.splitlines() == [
        f"{'ana':<24} {'reviewer':<10} disabled",
        f"{'bot':<24} {'annotator':<10} no login",
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
    ws: Workspace, env: dict[str, str], args: list[str], stdin: str | None, message: str
) -> None:
    code, out, err = run(env, *args, stdin=stdin)
    assert (code, out, err.strip()) == (1, "", message)


def test_items_list_and_gold(
    ws: Workspace, env: dict[str, str], sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = make_items(ws, sample_rows, 3, tmp=tmp_path)
    code, out, _ = run(env, "items", "list", "--json")
    rows = json.loads(out)
    assert [(r["item_id"], r["source_id"], r["status"], r["answers"]) for r in rows] == [
        (i, sample_rows[n]["package"], "candidate", 0) for n, i in enumerate(ids)
    ]
    pkg = sample_rows[1]["package"]
    code, out, _ = run(env, "items", "gold", pkg, "--answer", "mail")
    assert (code, out) == (
        0,
        f"item {ids[1]} ({pkg}) is gold with answer 'mail'; status approved\n",
    )
    code, out, _ = run(env, "items", "list", "--status", "approved")
    assert out == f"{ids[1]:>7}  {'approved':<10} 0 answer(s) gold  {pkg}\n"
    code, out, _ = run(env, "items", "gold", pkg, "--unmark")
    assert out == f"item {ids[1]} ({pkg}) is no longer gold; status approved\n"


def test_annotations_import_and_export(
    ws: Workspace, env: dict[str, str], sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    make_items(ws, sample_rows, 2, tmp=tmp_path)
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
    code, out, _ = run(env, "annotations", "import", str(src))
    assert code == 0
    assert out == (
        f"{src}: 3 imported, 0 revised, 0 unchanged, 0 skipped\n"
        "created users without login: p1, p2\n"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"source_id": b, "annotator": "p2", "label": "nope"}) + "\n")
    code, out, err = run(env, "annotations", "import", str(bad))
    assert code == 1 and err.startswith(f"Error: {bad}: nothing imported, 1 problem(s):\n  line 1:")
    code, out, _ = run(env, "annotations", "export")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["type"], x["source_id"]) for x in lines] == [
        ("annotation", a), ("annotation", a), ("annotation", b), ("decision", a)
    ]  # fmt: skip
    dest = tmp_path / "audit.jsonl"
    code, out, err = run(env, "annotations", "export", "--out", str(dest))
    assert (code, err) == (0, f"wrote 4 lines to {dest}\n")
    code, _, err = run(env, "annotations", "export", "--out", str(dest))
    assert err.strip() == (
        f"Error: {dest} already exists; choose another --out or pass --force to replace it"
    )
    assert run(env, "annotations", "export", "--out", str(dest), "--force")[0] == 0


def test_review_refuses_a_busy_port(ws: Workspace, env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, _, err = run(env, "review", "--port", str(port))
    assert (code, err.strip()) == (
        1,
        f"Error: port {port} on 127.0.0.1 is in use; pick another with --port or stop what uses it",
    )


def test_review_needs_a_workspace(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run(env, "review")
    assert code == 1 and err.startswith(f"Error: no workspace at {tmp_path / 'ws'}")


def test_every_review_command_has_help(env: dict[str, str]) -> None:
    for args in (["review"], ["users", "add"], ["users", "list"], ["users", "disable"],
                 ["users", "enable"], ["users", "set-role"], ["users", "set-password"],
                 ["annotations", "import"], ["annotations", "export"], ["items", "list"],
                 ["items", "gold"]):  # fmt: skip
        code, out, _ = run(env, *args, "--help")
        assert code == 0 and "Usage:" in out and len(out.splitlines()) > 4, args
