"""The CLI is a thin shell: exact error text, exit codes, --json shapes, help everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from builder.cli import app
from tests.support.common import SAMPLE_DATA, SAMPLE_SPEC, Cli


def test_init_ingest_status_round_trip(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    r = cli("init", "--spec", SAMPLE_SPEC, env=cli_env)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"benchmark 'debian-sections' created in workspace {tmp_path / 'ws'}"
    r = cli("init", "--spec", SAMPLE_SPEC, env=cli_env)
    assert "unchanged" in r.stdout
    r = cli("ingest", SAMPLE_DATA, "--json", env=cli_env)
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert set(summary) == {"ingested", "duplicates", "conflicts", "rejected", "seconds"}
    assert summary["ingested"] > 4000 and summary["rejected"] == 0
    st = json.loads(cli("status", "--json", env=cli_env).stdout)
    assert st["pool"] == summary["ingested"] and st["items"] == {} and st["releases"] == []


def test_status_without_workspace(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    r = cli("status", env=cli_env)
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"Error: no workspace at {tmp_path / 'ws'}; run `benchsmith init --spec FILE` "
        "(or set BENCHSMITH_HOME / --workspace to an existing one)"
    )


def test_ingest_refused_file_exit_code_and_message(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli("init", "--spec", SAMPLE_SPEC, env=cli_env)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"package": "a", "description": "ok"}\n{"package": "b", "description": ""}\n')
    r = cli("ingest", bad, env=cli_env)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: {bad}: line 2: field 'description' is empty; give a value.")
    assert json.loads(cli("status", "--json", env=cli_env).stdout)["pool"] == 0
    r = cli("ingest", bad, "--skip-invalid", env=cli_env)
    assert r.exit_code == 0 and "1 ingested" in r.stdout and "1 rejected" in r.stdout
    assert "rejected rows and reasons:" in r.stderr


def test_several_benchmarks_need_a_choice(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(
        SAMPLE_SPEC.read_text()
        .replace("name: debian-sections", "name: other")
        .replace("guidelines: guidelines.md", "")
    )
    cli("init", "--spec", SAMPLE_SPEC, env=cli_env)
    cli("init", "--spec", other, env=cli_env)
    r = cli("status", env=cli_env)
    assert r.exit_code == 1
    assert (
        "the workspace holds several benchmarks ['debian-sections', 'other']; pick one with --benchmark NAME"
        in r.stderr
    )
    r = cli("status", "--benchmark", "other", "--json", env=cli_env)
    assert r.exit_code == 0 and json.loads(r.stdout)["benchmark"] == "other"
    r = cli("status", "--benchmark", "nope", env=cli_env)
    assert "benchmark 'nope' is not in this workspace" in r.stderr


def test_changed_spec_needs_update_flag(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    changed = tmp_path / "s.yaml"
    changed.write_text(
        SAMPLE_SPEC.read_text()
        .replace("size: 300", "size: 200")
        .replace("guidelines: guidelines.md", "")
    )
    cli("init", "--spec", SAMPLE_SPEC, env=cli_env)
    r = cli("init", "--spec", changed, env=cli_env)
    assert (
        r.exit_code == 1 and "already registered with a different spec; pass --update" in r.stderr
    )
    r = cli("init", "--spec", changed, "--update", env=cli_env)
    assert r.exit_code == 0 and "updated" in r.stdout


def test_bad_spec_is_reported(cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\n")
    r = cli("init", "--spec", bad, env=cli_env)
    assert r.exit_code == 1 and "is not a slug" in r.stderr and "task: Field required" in r.stderr


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    # Typer's groups are its own (vendored click) class, so walk by duck type: a group has
    # ``commands``.
    out = [(" ".join(path), cmd)]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += _commands(sub, (*path, name))
    return out


COMMANDS = _commands(get_command(app))


def test_the_command_tree_is_walked() -> None:
    # Guards the walk itself: a silent miss would leave the help test checking only the root.
    names = {path for path, _ in COMMANDS}
    assert {"init", "curate", "review", "users add", "items gold", "releases yank"} <= names
    assert len(names) > 20


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[p or "root" for p, _ in COMMANDS])
def test_every_command_has_help(cli: Cli, path: str, cmd: Any) -> None:
    r = cli(*path.split(), "--help")
    assert r.exit_code == 0 and "Usage:" in r.stdout, r.output
    assert (cmd.help or "").strip(), f"`benchsmith {path}` has no help text"
    assert len(r.stdout.split("Usage:")[1].strip()) > 40
