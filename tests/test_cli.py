"""The CLI is a thin shell: exact error text, exit codes, --json shapes, help everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from builder.cli import app
from tests.conftest import SAMPLE_DATA, SAMPLE_SPEC

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {
        "BENCHSMITH_HOME": str(tmp_path / "ws"),
        "BENCHSMITH_DATABASE_URL": "",
        "BENCHSMITH_BENCHMARK": "",
        "BENCHSMITH_REGISTRY": "",
    }


def test_init_ingest_status_round_trip(home: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = run("init", "--spec", str(SAMPLE_SPEC), env=home)
    assert code == 0, out
    assert out.strip() == f"benchmark 'debian-sections' created in workspace {tmp_path / 'ws'}"
    code, out, _ = run("init", "--spec", str(SAMPLE_SPEC), env=home)
    assert "unchanged" in out
    code, out, err = run("ingest", str(SAMPLE_DATA), "--json", env=home)
    assert code == 0, err
    summary = json.loads(out)
    assert set(summary) == {"ingested", "duplicates", "conflicts", "rejected", "seconds"}
    assert summary["ingested"] > 4000 and summary["rejected"] == 0
    code, out, _ = run("status", "--json", env=home)
    st = json.loads(out)
    assert st["pool"] == summary["ingested"] and st["items"] == {} and st["releases"] == []


def test_status_without_workspace(home: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run("status", env=home)
    assert code == 1
    assert err.strip() == (
        f"Error: no workspace at {tmp_path / 'ws'}; run `benchsmith init --spec FILE` "
        "(or set BENCHSMITH_HOME / --workspace to an existing one)"
    )


def test_ingest_refused_file_exit_code_and_message(home: dict[str, str], tmp_path: Path) -> None:
    run("init", "--spec", str(SAMPLE_SPEC), env=home)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"package": "a", "description": "ok"}\n{"package": "b", "description": ""}\n')
    code, out, err = run("ingest", str(bad), env=home)
    assert code == 1
    assert err.startswith(f"Error: {bad}: line 2: field 'description' is empty; give a value.")
    code, out, _ = run("status", "--json", env=home)
    assert json.loads(out)["pool"] == 0
    code, out, err = run("ingest", str(bad), "--skip-invalid", env=home)
    assert code == 0 and "1 ingested" in out and "1 rejected" in out
    assert "rejected rows and reasons:" in err


def test_several_benchmarks_need_a_choice(home: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(
        SAMPLE_SPEC.read_text()
        .replace("name: debian-sections", "name: other")
        .replace("guidelines: guidelines.md", "")
    )
    run("init", "--spec", str(SAMPLE_SPEC), env=home)
    run("init", "--spec", str(other), env=home)
    code, _, err = run("status", env=home)
    assert code == 1
    assert (
        "the workspace holds several benchmarks ['debian-sections', 'other']; pick one with --benchmark NAME"
        in err
    )
    code, out, _ = run("status", "--benchmark", "other", "--json", env=home)
    assert code == 0 and json.loads(out)["benchmark"] == "other"
    code, _, err = run("status", "--benchmark", "nope", env=home)
    assert "benchmark 'nope' is not in this workspace" in err


def test_changed_spec_needs_update_flag(home: dict[str, str], tmp_path: Path) -> None:
    changed = tmp_path / "s.yaml"
    changed.write_text(
        SAMPLE_SPEC.read_text()
        .replace("size: 300", "size: 200")
        .replace("guidelines: guidelines.md", "")
    )
    run("init", "--spec", str(SAMPLE_SPEC), env=home)
    code, _, err = run("init", "--spec", str(changed), env=home)
    assert code == 1 and "already registered with a different spec; pass --update" in err
    code, out, _ = run("init", "--spec", str(changed), "--update", env=home)
    assert code == 0 and "updated" in out


def test_bad_spec_is_reported(home: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\n")
    code, _, err = run("init", "--spec", str(bad), env=home)
    assert code == 1 and "is not a slug" in err and "task: Field required" in err


def _commands(cmd: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            out += _commands(sub, (*path, name))
    return out


@pytest.mark.parametrize("path", _commands(get_command(app)), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    code, out, _ = run(*path, "--help")
    assert code == 0 and "Usage:" in out
    cmd = get_command(app)
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert (cmd.help or "").strip(), f"`benchsmith {' '.join(path)}` has no help text"
