"""A release that dies midway leaves no version and no database row; a retry succeeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from builder.config import Settings
from builder.release.pull import load_release
from builder.release.registry import Registry
from builder.release.snapshot import STAGES, publish_release
from builder.store.models import Item, Release, ReleaseItem
from builder.workspace import Workspace, open_workspace
from tests.support.releases import LEAD, NAME, approve, ingest, open_ws, seed, source_ids


class Boom(RuntimeError):
    pass


def _fail_at(stage: str) -> Any:
    def hook(now: str) -> None:
        if now == stage:
            raise Boom(stage)

    return hook


def _db_state(ws: Workspace) -> tuple[int, int, dict[str, int]]:
    with ws.db.session() as s:
        releases = s.exec(select(func.count()).select_from(Release)).one()
        items = s.exec(select(func.count()).select_from(ReleaseItem)).one()
        statuses = dict(s.exec(select(Item.status, func.count()).group_by(Item.status)).all())
    return releases, items, statuses


def _holdout_ws(settings: Settings, rows: list[dict[str, Any]], tmp: Path) -> Workspace:
    ws = open_ws(settings, tmp, release={"private_holdout": 0.3})
    seed(ws, rows, tmp)
    return ws


def _process_env(ws: Workspace) -> dict[str, str]:
    """The environment for a separate ``benchsmith`` process on ``ws``."""
    env = {
        **os.environ,
        "BENCHSMITH_HOME": str(ws.settings.home),
        "BENCHSMITH_REGISTRY": ws.settings.registry,
        "BENCHSMITH_PRIVATE_REGISTRY": ws.settings.private_registry,
        "BENCHSMITH_CACHE": str(ws.settings.cache_dir),
    }
    env.pop("BENCHSMITH_DATABASE_URL", None)
    return env


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "published"])
def test_injected_failure_leaves_nothing_and_retry_works(
    stage: str, sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = _holdout_ws(sqlite_settings, sample_rows[:40], tmp_path)
    public, private = Registry(ws.settings.registry), Registry(ws.settings.private_registry)

    with pytest.raises(Boom):
        publish_release(ws, actor=LEAD, on_stage=_fail_at(stage))

    assert public.versions(NAME) == [] and private.versions(NAME) == []
    assert _db_state(ws) == (0, 0, {"approved": 40})
    leftovers = [p.name for p in Path(ws.settings.registry, NAME).iterdir()]
    assert leftovers == []  # the staging folder was removed with the failure

    result = publish_release(ws, actor=LEAD)
    assert result.version == "1.0.0" and result.holdout > 0
    assert public.versions(NAME) == ["1.0.0"] and private.versions(NAME) == ["1.0.0"]
    public.verify(NAME, "1.0.0")
    private.verify(NAME, "1.0.0")
    assert _db_state(ws) == (1, 40, {"released": 40})
    ws.db.dispose()


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from builder.config import Settings
    from builder.release.snapshot import publish_release
    from builder.workspace import open_workspace

    stage = sys.argv[1]
    ws = open_workspace(Settings.from_env())

    def hook(now):
        if now == stage:
            os.kill(os.getpid(), signal.SIGKILL)

    publish_release(ws, actor="lea", on_stage=hook)
    """
)


@pytest.mark.parametrize("stage", ["files", "manifest", "recorded", "private"])
def test_killed_release_process_leaves_no_version(
    stage: str, sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """SIGKILL (no cleanup code runs) at a stage; then a fresh process retries."""
    ws = _holdout_ws(sqlite_settings, sample_rows[:30], tmp_path)
    env = _process_env(ws)
    ws.db.dispose()
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, stage], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()

    ws = open_workspace(ws.settings)
    public, private = Registry(ws.settings.registry), Registry(ws.settings.private_registry)
    assert public.versions(NAME) == []
    assert _db_state(ws) == (0, 0, {"approved": 30})
    staged = [p.name for p in Path(ws.settings.registry, NAME).iterdir()]
    assert len(staged) == 1 and staged[0].startswith(".staging-1.0.0-")  # hidden, not a version

    result = publish_release(ws, actor=LEAD)
    assert result.version == "1.0.0"
    assert [p.name for p in Path(ws.settings.registry, NAME).iterdir()] == ["1.0.0"]
    assert private.versions(NAME) == ["1.0.0"]  # an orphaned private half was replaced
    held = load_release(
        NAME, "1.0.0", split="holdout", registry=private, cache_dir=ws.settings.cache_dir
    )
    assert len(held) == result.holdout
    assert (
        private.read_manifest(NAME, "1.0.0").content_hash
        == public.read_manifest(NAME, "1.0.0").holdout.content_hash
    )  # type: ignore[union-attr]
    ws.db.dispose()


def test_failure_on_a_memory_registry_leaves_no_version(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    url = f"memory://benchsmith-{uuid.uuid4().hex}/registry"
    ws = open_ws(
        replace(sqlite_settings, registry=url, private_registry=url + "-private"), tmp_path
    )
    rows = sample_rows[:20]
    ingest(ws, rows, tmp_path)
    approve(ws, rows, source_ids(rows), annotators=())
    reg = Registry(url)
    # An earlier upload that died before its manifest: files but no version.
    reg.fs.pipe_file(reg.path(NAME, "1.0.0", "data", "test.parquet"), b"partial")
    assert reg.versions(NAME) == []

    with pytest.raises(Boom):
        publish_release(ws, actor=LEAD, on_stage=_fail_at("recorded"))
    assert reg.versions(NAME) == [] and _db_state(ws)[0] == 0

    result = publish_release(ws, actor=LEAD)
    assert reg.versions(NAME) == ["1.0.0"]
    reg.verify(NAME, "1.0.0")
    df = load_release(NAME, "1.0.0", registry=url, cache_dir=ws.settings.cache_dir)
    assert len(df) == result.splits["test"]
    ws.db.dispose()


# ------------------------------------------- a crash between the move and the commit


def _orphan_message(ws: Workspace) -> str:
    return (
        f"the registry {ws.settings.registry} holds {NAME}@1.0.0, which this workspace has no "
        "record of (a release interrupted after it was published and before it was recorded, "
        "or another workspace's release); no new version is published on top of it — run "
        "`benchsmith releases reindex` to verify it and adopt it if it is this workspace's, or "
        "release to a registry of your own with --registry URL if it is not"
    )


def _cli_env(ws: Workspace) -> dict[str, str]:
    return {
        "BENCHSMITH_HOME": str(ws.settings.home),
        "BENCHSMITH_DATABASE_URL": "",
        "BENCHSMITH_REGISTRY": ws.settings.registry,
        "BENCHSMITH_PRIVATE_REGISTRY": ws.settings.private_registry,
        "BENCHSMITH_CACHE": str(ws.settings.cache_dir),
        "BENCHSMITH_USER": LEAD,
    }


def test_orphan_after_a_crash_past_the_move_is_refused_then_adopted_by_reindex(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    from sqlalchemy import update
    from typer.testing import CliRunner

    from builder.cli import app
    from builder.errors import ReleaseError
    from builder.release.reindex import reindex_releases
    from builder.store.models import AuditEvent

    ws = _holdout_ws(sqlite_settings, sample_rows[:40], tmp_path)
    public, private = Registry(ws.settings.registry), Registry(ws.settings.private_registry)
    with pytest.raises(Boom):
        publish_release(ws, actor=LEAD, on_stage=_fail_at("published"))
    # Moved into both registries, but the database rolled back: an orphan.
    assert public.versions(NAME) == ["1.0.0"] and private.versions(NAME) == ["1.0.0"]
    assert _db_state(ws) == (0, 0, {"approved": 40})

    with pytest.raises(ReleaseError) as e:
        publish_release(ws, actor=LEAD)
    assert str(e.value) == _orphan_message(ws)
    assert public.versions(NAME) == ["1.0.0"]  # nothing published on top
    runner, env = CliRunner(), _cli_env(ws)
    for args in (["release"], ["release", "--dry-run"]):
        out = runner.invoke(app, args, env=env)
        assert out.exit_code == 1 and out.stderr == f"Error: {_orphan_message(ws)}\n"

    # Not this workspace's as recorded here (an answer changed since): refused, nothing recorded.
    with ws.db.session() as s:
        first = s.exec(select(Item).order_by(Item.id)).first()  # type: ignore[arg-type]
        assert first is not None
        old_answer = first.answer
        s.execute(update(Item).where(Item.id == first.id).values(answer="not-a-section"))  # type: ignore[arg-type]
    with pytest.raises(
        ReleaseError, match=r"^debian-sections@1\.0\.0 in .* cannot be adopted: its item"
    ):
        reindex_releases(ws, actor=LEAD)
    assert _db_state(ws)[0] == 0
    with ws.db.session() as s:
        s.execute(update(Item).where(Item.id == first.id).values(answer=old_answer))  # type: ignore[arg-type]

    out = runner.invoke(app, ["releases", "reindex"], env=env)
    assert out.exit_code == 0, out.output
    assert out.stdout == f"adopted {NAME}@1.0.0: verified and recorded in this workspace\n"
    assert _db_state(ws) == (1, 40, {"released": 40})
    with ws.db.session() as s:
        rel = s.exec(select(Release)).one()
        assert rel.content_hash == public.read_manifest(NAME, "1.0.0").content_hash
        actions = [a for (a,) in s.execute(select(AuditEvent.action))]
    assert "release.adopt" in actions
    out = runner.invoke(app, ["releases", "reindex", "--json"], env=env)
    assert out.exit_code == 0 and json.loads(out.stdout)["adopted"] == []

    result = publish_release(ws, actor=LEAD)
    assert (result.version, result.parent) == ("1.0.1", "1.0.0")
    ws.db.dispose()


def test_a_killed_release_past_the_move_is_adopted_by_reindex(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """SIGKILL after the move into the registry, before the commit (no cleanup runs)."""
    from builder.errors import ReleaseError
    from builder.release.reindex import reindex_releases

    ws = _holdout_ws(sqlite_settings, sample_rows[:30], tmp_path)
    env = _process_env(ws)
    ws.db.dispose()
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, "published"], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()

    ws = open_workspace(ws.settings)
    assert Registry(ws.settings.registry).versions(NAME) == ["1.0.0"]
    assert _db_state(ws) == (0, 0, {"approved": 30})
    with pytest.raises(ReleaseError, match="run `benchsmith releases reindex`"):
        publish_release(ws, actor=LEAD)

    # Without this workspace's signing key it cannot be shown to be this workspace's.
    keys = ws.settings.keys_dir
    keys.rename(keys.with_name("keys-away"))
    with pytest.raises(ReleaseError, match="this workspace has no signing key"):
        reindex_releases(ws, actor=LEAD)
    keys.with_name("keys-away").rename(keys)

    report = reindex_releases(ws, actor=LEAD)
    assert report.adopted == ["1.0.0"]
    assert _db_state(ws) == (1, 30, {"released": 30})
    ws.db.dispose()
