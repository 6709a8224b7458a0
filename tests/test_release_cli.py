"""The release commands through the CLI: help, release, releases list/yank, refusals."""

# ruff: noqa: F811  (pytest fixtures imported from tests/test_release_support.py)
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from builder.cli import app
from builder.release.registry import Registry
from builder.workspace import Workspace
from tests.test_release_support import LEAD, NAME, add_users, rel_ws  # noqa: F401

COMMANDS = [["release"], ["releases"], ["releases", "list"], ["releases", "yank"], ["pull"], ["diff"],
            ["eval"], ["leaderboard"]]  # fmt: skip


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_has_help(cmd: list[str]) -> None:
    out = CliRunner().invoke(app, [*cmd, "--help"])
    assert out.exit_code == 0 and "Usage:" in out.stdout
    assert len(out.stdout.split("Usage:")[1].strip()) > 40


def _env(ws: Workspace, user: str = LEAD) -> dict[str, str]:
    return {"BENCHSMITH_HOME": str(ws.settings.home), "BENCHSMITH_REGISTRY": ws.settings.registry,
            "BENCHSMITH_CACHE": str(ws.settings.cache_dir), "BENCHSMITH_USER": user}  # fmt: skip


def test_release_list_yank(rel_ws: Workspace) -> None:
    run, env = CliRunner().invoke, _env(rel_ws)
    out = run(app, ["release", "--dry-run", "--json"], env=env)
    assert out.exit_code == 0, out.output
    plan = json.loads(out.stdout)
    assert (plan["version"], plan["parent"], sum(plan["splits"].values())) == ("1.0.0", None, 40)
    assert Registry(rel_ws.settings.registry).versions(NAME) == []  # a dry run publishes nothing

    out = run(app, ["release", "--notes", "first"], env=env)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == f"published {NAME}@1.0.0 → {rel_ws.settings.registry}/{NAME}/1.0.0"
    assert lines[-1].startswith("content hash ")
    out = run(app, ["release", "--bump", "patch", "--json"], env=env)
    assert json.loads(out.stdout)["version"] == "1.0.1"
    out = run(app, ["release", "--bump", "huge"], env=env)
    assert (
        out.exit_code == 1
        and out.stderr == "Error: --bump 'huge' is not one of major, minor, patch\n"
    )
    out = run(app, ["release", "--version", "2.0.0", "--bump", "major"], env=env)
    assert out.exit_code == 1 and out.stderr == "Error: give --version or --bump, not both\n"

    add_users(rel_ws, ann="annotator")
    out = run(
        app, ["releases", "yank", f"{NAME}@1.0.1", "--reason", "oops"], env=_env(rel_ws, "ann")
    )
    assert out.exit_code == 1 and out.stderr.startswith(
        "Error: user 'ann' has role 'annotator'; only a lead"
    )
    out = run(app, ["releases", "yank", f"{NAME}@latest", "--reason", "oops"], env=env)
    assert (
        out.exit_code == 1 and out.stderr == "Error: name the exact version to yank: NAME@X.Y.Z\n"
    )
    out = run(app, ["releases", "yank", f"{NAME}@1.0.1", "--reason", "duplicate of 1.0.0"], env=env)
    assert out.exit_code == 0
    assert (
        out.stdout
        == f"yanked {NAME}@1.0.1 (duplicate of 1.0.0); it stays readable and pulls warn\n"
    )

    out = run(app, ["releases", "list", "--json"], env=env)
    infos = json.loads(out.stdout)
    assert [(i["version"], i["items"]) for i in infos] == [("1.0.0", 40), ("1.0.1", 40)]
    assert infos[1]["yanked"]["reason"] == "duplicate of 1.0.0" and infos[0]["yanked"] is None
    text = run(app, ["releases", "list", NAME], env=env).stdout.splitlines()
    assert text[0].startswith(f"{NAME}@1.0.0  ") and "40 items (dev " in text[0]
    assert text[1].endswith("YANKED: duplicate of 1.0.0")
    out = run(app, ["releases", "list", "nothing-here"], env=env)
    assert out.stdout == f"no releases of 'nothing-here' in {rel_ws.settings.registry}\n"
    from builder.store.audit import history

    with rel_ws.db.session() as s:
        assert [e.action for e in history(s, entity="release", entity_id=f"{NAME}@1.0.1")] == [
            "release.publish", "release.yank"
        ]  # fmt: skip


def test_pull_of_an_unknown_version_lists_what_exists(rel_ws: Workspace) -> None:
    run, env = CliRunner().invoke, _env(rel_ws)
    run(app, ["release"], env=env)
    out = run(app, ["pull", f"{NAME}@9.9.9"], env=env)
    assert out.exit_code == 1
    assert out.stderr == (
        f"Error: release {NAME}@9.9.9 is not in the registry {rel_ws.settings.registry}; available: 1.0.0\n"
    )
    out = run(app, ["pull", "nope@latest"], env=env)
    assert out.exit_code == 1
    assert out.stderr == (
        f"Error: no release of 'nope' in the registry {rel_ws.settings.registry}; check the name "
        f"(it has ['{NAME}']) or pass --registry URL\n"
    )
