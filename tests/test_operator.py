"""One operator rule for the CLI: ``init`` records the first lead, every changing command
checks the acting name the same way, and a workspace without a lead adopts its operator."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlmodel import select

from builder.cli import app
from builder.cli._common import MUTATING, READ_ONLY
from builder.config import Settings
from builder.domain import Role
from builder.review.auth import login
from builder.store.models import AuditEvent, Benchmark, User
from builder.workspace import Workspace, open_workspace
from tests.support.common import SAMPLE_SPEC, Cli, spec_variant, write_jsonl
from tests.support.releases import add_users

pytestmark = pytest.mark.usefixtures("fast_argon2")


def _commands(group: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (Typer's own click types)
            out += _commands(cmd, f"{prefix}{name} ")
        else:
            out.append(f"{prefix}{name}")
    return out


def test_every_command_is_classified_as_changing_or_read_only() -> None:
    commands = _commands(typer.main.get_command(app))
    assert sorted(commands) == sorted([*MUTATING, *READ_ONLY])
    assert not set(MUTATING) & READ_ONLY
    assert set(MUTATING.values()) <= {r.value for r in Role}


def _users(ws: Workspace) -> list[tuple[str, str, bool, bool]]:
    with ws.db.session() as s:
        rows = s.exec(select(User).order_by(User.name)).all()  # type: ignore[arg-type]
        return [(u.name, u.role.value, u.password_hash is not None, u.disabled) for u in rows]


def _events(ws: Workspace) -> list[tuple[str, str, str, object]]:
    with ws.db.session() as s:
        rows = s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
        return [(e.actor, e.action, e.entity_id, e.after) for e in rows]


def _args(tmp: Path) -> dict[str, tuple[list[str], str | None]]:
    """Arguments that would make each changing command act (or fail later, on its input)."""
    pool = write_jsonl(tmp / "pool.jsonl", [{"package": "x", "description": "y", "section": "z"}])
    answers = write_jsonl(
        tmp / "answers.jsonl", [{"source_id": "x", "annotator": "a", "label": "admin"}]
    )
    return {
        "init": (["--spec", str(spec_variant(tmp, title="Changed"))], None),
        "ingest": ([str(pool)], None),
        "curate": (["--embedder", "tfidf"], None),
        "release": ([], None),
        "eval": (["debian-sections@1.0.0", "--predictions", str(pool)], None),
        "run": (["debian-sections@1.0.0", "--model", "mockllm/model"], None),
        "users add": (["x", "--role", "annotator", "--no-login"], None),
        "users disable": (["ana"], None),
        "users enable": (["ana"], None),
        "users set-role": (["ana", "--role", "lead"], None),
        "users set-password": (["ana", "--password-stdin"], "a-new-password\n"),
        "users unlock": (["ana"], None),
        "users set-email": (["ana", "ana@example.org"], None),
        "annotations import": ([str(answers)], None),
        "items gold": (["x", "--answer", "admin"], None),
        "releases yank": (["debian-sections@1.0.0", "--reason", "oops"], None),
        "releases reindex": ([], None),
        "keys init": ([], None),
        "suggestions import": ([str(answers)], None),
        "suggestions baseline": ([], None),
    }


@pytest.fixture
def led(cli: Cli, cli_env: dict[str, str]) -> Workspace:
    """A workspace made by ``init`` as ``lea`` (its lead), with annotator ``ana`` and reviewer
    ``rita``."""
    r = cli("init", "--spec", SAMPLE_SPEC, env={**cli_env, "BENCHSMITH_USER": "lea"})
    assert r.exit_code == 0, r.output
    ws = open_workspace(Settings.from_env(cli_env))
    add_users(ws, ana="annotator", rita="reviewer")
    return ws


@pytest.mark.parametrize("command", sorted(MUTATING))
@pytest.mark.parametrize(
    ("who", "why", "fix"),
    [
        ("mallory", "is not a user of this workspace", "users add mallory --role {role}"),
        ("rita", "has the reviewer role", "users set-role rita --role {role}"),
    ],
)
def test_every_changing_command_refuses_an_operator_without_the_role(
    cli: Cli,
    cli_env: dict[str, str],
    led: Workspace,
    tmp_path: Path,
    command: str,
    who: str,
    why: str,
    fix: str,
) -> None:
    role = MUTATING[command]
    if who == "rita" and role != "lead":
        who, why, fix = (
            "mallory",
            "is not a user of this workspace",
            "users add mallory --role {role}",
        )
    args, stdin = _args(tmp_path)[command]
    before = (_users(led), _events(led))
    r = cli(*command.split(), *args, env={**cli_env, "BENCHSMITH_USER": who}, input=stdin)
    article = "an" if role == "annotator" else "a"
    assert (r.exit_code, r.stdout, r.stderr) == (
        1,
        "",
        f"Error: `benchsmith {command}` needs the {role} role, but the acting name {who!r} "
        f"(from BENCHSMITH_USER) {why}; ask a lead to run `benchsmith {fix.format(role=role)}`, "
        f"or set BENCHSMITH_USER to the name of {article} {role}\n",
    )
    assert (_users(led), _events(led)) == before
    assert not (led.settings.keys_dir).exists()


def test_init_records_the_os_user_as_first_lead(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "BENCHSMITH_USER"}
    r = cli("init", "--spec", SAMPLE_SPEC, env={**env, "BENCHSMITH_USER": ""})
    assert r.exit_code == 0, r.output
    me = getpass.getuser()
    assert r.stderr == f"acting as lead {me!r}\n"
    ws = open_workspace(Settings.from_env(cli_env))
    assert _users(ws) == [(me, "lead", False, False)]
    event = _events(ws)[-1]
    assert event[:3] == (me, "user.create", me)
    assert event[3] == {
        "role": "lead",
        "can_login": False,
        "via": "first operator",
        "source": "OS user",
    }
    # The OS user, now a lead, adds people; nobody else may.
    r = cli("users", "add", "ana", "--role", "annotator", "--no-login", env=env)
    assert r.exit_code == 0, r.output
    # init again as someone else: refused before the spec changes.
    changed = spec_variant(tmp_path, title="Changed")
    r = cli("init", "--spec", changed, "--update", env={**env, "BENCHSMITH_USER": "ana"})
    assert r.exit_code == 1 and "`benchsmith init` needs the lead role" in r.stderr
    with ws.db.session() as s:
        assert s.exec(select(Benchmark)).one().spec["title"] != "Changed"
    r = cli("init", "--spec", changed, "--update", env={**env, "BENCHSMITH_USER": ""})
    assert (r.exit_code, r.stdout.split()[-4:-3]) == (0, ["updated"])


def test_init_gives_the_first_lead_a_password(cli: Cli, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "BENCHSMITH_USER": "boss"}
    r = cli("init", "--spec", SAMPLE_SPEC, "--password-stdin", env=env, input="short\n")
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: the password is 5 characters long; use at least 8\n",
    )
    r = cli("init", "--spec", SAMPLE_SPEC, "--password-stdin", env=env, input="boss-password\n")
    assert r.exit_code == 0, r.output
    ws = open_workspace(Settings.from_env(cli_env))
    assert login(ws, "boss", "boss-password").actor.role == Role.lead


def test_a_workspace_without_a_lead_adopts_its_first_operator(
    cli: Cli,
    cli_env: dict[str, str],
    cli_ws: Workspace,
    tmp_path: Path,
    sample_rows: list[dict[str, object]],
) -> None:
    # Made before the rule (library init, no users), then annotations imported: accounts
    # exist, none a lead. `release` used to refuse the operator from then on.
    add_users(cli_ws, **{"ls-user-1": "annotator", "ls-user-2": "annotator"})
    env = {**cli_env, "BENCHSMITH_USER": "root"}
    r = cli("ingest", write_jsonl(tmp_path / "p.jsonl", sample_rows[:5]), env=env)
    assert r.exit_code == 0, r.output
    assert ("root", "lead", False, False) in _users(cli_ws)
    adopted = [e for e in _events(cli_ws) if e[1] == "user.create"]
    assert adopted == [
        (
            "root",
            "user.create",
            "root",
            {
                "role": "lead",
                "can_login": False,
                "via": "first operator",
                "source": "BENCHSMITH_USER",
            },
        )
    ]
    # Once there is a lead, the rule holds: another name is refused.
    r = cli("ingest", tmp_path / "p.jsonl", env={**cli_env, "BENCHSMITH_USER": "ls-user-1"})
    assert r.exit_code == 1 and "has the annotator role" in r.stderr


def test_adoption_promotes_an_existing_user_and_skips_a_disabled_one(
    cli: Cli, cli_env: dict[str, str], cli_ws: Workspace
) -> None:
    add_users(cli_ws, ops="annotator", gone="annotator")
    with cli_ws.db.session() as s:
        gone = s.exec(select(User).where(User.name == "gone")).one()
        gone.disabled = True
        s.add(gone)
    r = cli(
        "users",
        "add",
        "x",
        "--role",
        "annotator",
        "--no-login",
        env={**cli_env, "BENCHSMITH_USER": "gone"},
    )
    assert (
        r.exit_code == 1
        and "the acting name 'gone' (from BENCHSMITH_USER) is disabled; ask a lead to run `benchsmith users enable gone`"
        in r.stderr
    )
    r = cli(
        "users",
        "add",
        "x",
        "--role",
        "annotator",
        "--no-login",
        env={**cli_env, "BENCHSMITH_USER": "ops"},
    )
    assert r.exit_code == 0, r.output
    assert ("ops", "lead", False, False) in _users(cli_ws)
    assert [e for e in _events(cli_ws) if e[1] == "user.role"] == [
        (
            "ops",
            "user.role",
            "ops",
            {
                "role": "lead",
                "can_login": False,
                "via": "first operator",
                "source": "BENCHSMITH_USER",
            },
        )
    ]


def test_a_name_that_is_no_user_name_is_refused(cli: Cli, cli_env: dict[str, str]) -> None:
    r = cli("init", "--spec", SAMPLE_SPEC, env={**cli_env, "BENCHSMITH_USER": "two words"})
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: user name 'two words' is not allowed")
    assert "(the acting name, from BENCHSMITH_USER); set BENCHSMITH_USER" in r.stderr
