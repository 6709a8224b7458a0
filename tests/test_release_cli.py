"""The release commands through the CLI: release, releases list/yank, refusals."""

from __future__ import annotations

import json

from builder.release.registry import Registry
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.releases import LEAD, NAME, add_users


def _env(ws: Workspace, user: str = LEAD) -> dict[str, str]:
    return {"BENCHSMITH_HOME": str(ws.settings.home), "BENCHSMITH_REGISTRY": ws.settings.registry,
            "BENCHSMITH_CACHE": str(ws.settings.cache_dir), "BENCHSMITH_USER": user}  # fmt: skip


def test_release_list_yank(cli: Cli, rel_ws: Workspace) -> None:
    env = _env(rel_ws)
    out = cli("release", "--dry-run", "--json", env=env)
    assert out.exit_code == 0, out.output
    plan = json.loads(out.stdout)
    assert (plan["version"], plan["parent"], sum(plan["splits"].values())) == ("1.0.0", None, 40)
    assert Registry(rel_ws.settings.registry).versions(NAME) == []  # a dry run publishes nothing

    out = cli("release", "--notes", "first", env=env)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == f"published {NAME}@1.0.0 → {rel_ws.settings.registry}/{NAME}/1.0.0"
    assert lines[-1].startswith("content hash ")
    out = cli("release", "--bump", "patch", "--json", env=env)
    assert json.loads(out.stdout)["version"] == "1.0.1"
    out = cli("release", "--bump", "huge", env=env)
    assert (
        out.exit_code == 1
        and out.stderr == "Error: --bump 'huge' is not one of major, minor, patch\n"
    )
    out = cli("release", "--version", "2.0.0", "--bump", "major", env=env)
    assert out.exit_code == 1 and out.stderr == "Error: give --version or --bump, not both\n"

    add_users(rel_ws, ann="annotator")
    out = cli("releases", "yank", f"{NAME}@1.0.1", "--reason", "oops", env=_env(rel_ws, "ann"))
    assert out.exit_code == 1 and out.stderr.startswith(
        "Error: `benchsmith releases yank` needs the lead role, but the acting name 'ann' "
        "(from BENCHSMITH_USER) has the annotator role"
    )
    out = cli("releases", "yank", f"{NAME}@latest", "--reason", "oops", env=env)
    assert (
        out.exit_code == 1 and out.stderr == "Error: name the exact version to yank: NAME@X.Y.Z\n"
    )
    out = cli("releases", "yank", f"{NAME}@1.0.1", "--reason", "duplicate of 1.0.0", env=env)
    assert out.exit_code == 0
    assert (
        out.stdout
        == f"yanked {NAME}@1.0.1 (duplicate of 1.0.0); it stays readable and pulls warn\n"
    )

    out = cli("releases", "list", "--json", env=env)
    infos = json.loads(out.stdout)
    assert [(i["version"], i["items"]) for i in infos] == [("1.0.0", 40), ("1.0.1", 40)]
    assert infos[1]["yanked"]["reason"] == "duplicate of 1.0.0" and infos[0]["yanked"] is None
    text = cli("releases", "list", NAME, env=env).stdout.splitlines()
    assert text[0].startswith(f"{NAME}@1.0.0  ") and "40 items (dev " in text[0]
    assert text[1].endswith("YANKED: duplicate of 1.0.0")
    out = cli("releases", "list", "nothing-here", env=env)
    assert out.stdout == f"no releases of 'nothing-here' in {rel_ws.settings.registry}\n"
    from builder.store.audit import history

    with rel_ws.db.session() as s:
        assert [e.action for e in history(s, entity="release", entity_id=f"{NAME}@1.0.1")] == [
            "release.publish", "release.yank"
        ]  # fmt: skip


def test_pull_of_an_unknown_version_lists_what_exists(cli: Cli, rel_ws: Workspace) -> None:
    env = _env(rel_ws)
    cli("release", env=env)
    out = cli("pull", f"{NAME}@9.9.9", env=env)
    assert out.exit_code == 1
    assert out.stderr == (
        f"Error: release {NAME}@9.9.9 is not in the registry {rel_ws.settings.registry}; available: 1.0.0\n"
    )
    out = cli("pull", "nope@latest", env=env)
    assert out.exit_code == 1
    assert out.stderr == (
        f"Error: no release of 'nope' in the registry {rel_ws.settings.registry}; check the name "
        f"(it has ['{NAME}']) or pass --registry URL\n"
    )
