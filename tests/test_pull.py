"""Pull: verification names the bad file, the cache makes a second pull local, load_release."""

from __future__ import annotations

import json
import shutil
import uuid
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builder.config import Settings
from builder.errors import IntegrityError, ReleaseError
from builder.release.cache import cache_path
from builder.release.pull import YankedReleaseWarning, load_release, pull_release
from builder.release.registry import Registry
from builder.release.snapshot import publish_release
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.releases import LEAD, NAME, approve, ingest, open_ws, pull_kw, source_ids


def _published(ws: Workspace) -> Path:
    return Path(publish_release(ws, actor=LEAD).url)


def _flip(path: Path, offset: int = 0) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x20
    path.write_bytes(bytes(data))


def _env(ws: Workspace) -> dict[str, str]:
    return {
        "BENCHSMITH_HOME": str(ws.settings.home),
        "BENCHSMITH_REGISTRY": ws.settings.registry,
        "BENCHSMITH_CACHE": str(ws.settings.cache_dir),
    }


@pytest.mark.parametrize(
    "target",
    ["data/test.parquet", "data/test.jsonl", "data/dev.parquet", "README.md", "CHANGELOG.md"],
)
def test_one_flipped_byte_fails_the_pull_naming_the_file(
    cli: Cli, rel_ws: Workspace, target: str
) -> None:
    folder = _published(rel_ws)
    _flip(folder / target, offset=(folder / target).stat().st_size // 2)

    with pytest.raises(IntegrityError) as e:
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws))
    assert f"file {target} fails verification: sha256 " in str(e.value)
    assert not cache_path(
        rel_ws.settings.cache_dir, rel_ws.settings.registry, NAME, "1.0.0"
    ).exists()  # type: ignore[arg-type]

    out = cli("pull", f"{NAME}@1.0.0", env=_env(rel_ws))
    assert out.exit_code == 1
    assert out.stderr.startswith(
        f"Error: {NAME}@1.0.0 in {rel_ws.settings.registry}: file {target} fails verification"
    )
    assert out.stderr.rstrip().endswith("the file was modified or corrupted — do not use it")


def test_missing_file_and_edited_manifest_are_refused(rel_ws: Workspace) -> None:
    folder = _published(rel_ws)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
    }
    (folder / "data/dev.jsonl").unlink()
    with pytest.raises(
        IntegrityError, match=r"file data/dev\.jsonl is missing; the release is incomplete"
    ):
        pull_release(NAME, "1.0.0", **kw)
    raw = json.loads((folder / "manifest.json").read_text())
    raw["notes"] = "quietly edited"
    (folder / "manifest.json").chmod(0o644)
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(IntegrityError, match=r"manifest\.json fails verification"):
        pull_release(NAME, "1.0.0", **kw)


def test_a_release_hashed_the_old_way_still_pulls_and_verifies(rel_ws: Workspace) -> None:
    """Releases published before builder.hashing (no ``hashing`` field, format_version 1,
    content hash over stdlib json, no signature) stay verifiable."""
    import hashlib

    folder = _published(rel_ws)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
    }
    raw = json.loads((folder / "manifest.json").read_text())
    assert raw.pop("hashing") == "canonical-json/1"
    raw.update(format_version=1, notes="Notes “quoted”", sampling={**raw["sampling"], "x": 1e-05})
    body = {k: v for k, v in raw.items() if k != "content_hash"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    raw["content_hash"] = hashlib.sha256(text.encode()).hexdigest()
    (folder / "manifest.json").chmod(0o644)
    (folder / "manifest.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False))
    (folder / "signature.json").unlink(missing_ok=True)  # old releases were unsigned

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unverified publisher
        pulled = pull_release(NAME, "1.0.0", **kw)
        again = pull_release(NAME, "1.0.0", **kw)
    assert pulled.manifest.hashing is None and pulled.manifest.content_hash == raw["content_hash"]
    assert again.from_cache and again.manifest == pulled.manifest
    raw["notes"] = "quietly edited"
    (folder / "manifest.json").write_text(json.dumps(raw))
    shutil.rmtree(pulled.path)
    with pytest.raises(IntegrityError, match=r"manifest\.json fails verification"):
        pull_release(NAME, "1.0.0", **kw)


def test_second_pull_is_local_and_reverified(rel_ws: Workspace) -> None:
    folder = _published(rel_ws)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
    }
    first = pull_release(NAME, "1.0.0", **kw)
    assert not first.from_cache and first.verified.files == 6
    # The data files vanish from the registry: the verified cache still serves the pull.
    shutil.rmtree(folder / "data")
    second = pull_release(NAME, "1.0.0", **kw)
    assert second.from_cache and second.path == first.path
    # Even with the registry gone entirely.
    shutil.rmtree(rel_ws.settings.registry)
    assert pull_release(NAME, "1.0.0", **kw).from_cache


def test_damaged_cache_is_fetched_again(rel_ws: Workspace) -> None:
    _published(rel_ws)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
    }
    first = pull_release(NAME, "1.0.0", **kw)
    good = (first.path / "data/test.parquet").read_bytes()
    _flip(first.path / "data/test.parquet", 100)
    again = pull_release(NAME, "1.0.0", **kw)
    assert not again.from_cache
    assert (again.path / "data/test.parquet").read_bytes() == good


def test_registry_altered_after_caching_is_refused(rel_ws: Workspace, tmp_path: Path) -> None:
    folder = _published(rel_ws)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
    }
    pull_release(NAME, "1.0.0", **kw)
    # Someone republishes different (self-consistent) content under the same version.
    other = open_ws(replace(rel_ws.settings, home=tmp_path / "ws2", database_url=f"sqlite:///{tmp_path / 'ws2.db'}",
                            registry=str(tmp_path / "reg2")), tmp_path / "x")  # fmt: skip
    rows = [{"package": "zzz", "description": "a lonely package", "section": "misc", "priority": "optional",
             "version": "1", "installed_size": 1, "homepage": ""}]  # fmt: skip
    (tmp_path / "x").mkdir(exist_ok=True)
    ingest(other, rows, tmp_path / "x")
    approve(other, rows, ["zzz"], annotators=())
    forged = Path(publish_release(other, actor="x").url)
    shutil.rmtree(folder)
    shutil.copytree(forged, folder)
    with pytest.raises(
        IntegrityError, match=r"manifest\.json changed since this machine verified it"
    ):
        pull_release(NAME, "1.0.0", **kw)
    other.db.dispose()


def test_pull_dest_copies_the_verified_files(cli: Cli, rel_ws: Workspace, tmp_path: Path) -> None:
    folder = _published(rel_ws)
    dest = tmp_path / "out"
    out = cli("pull", f"{NAME}@latest", "--dest", str(dest), "--json", env=_env(rel_ws))
    assert out.exit_code == 0, out.output
    info = json.loads(out.stdout)
    assert (info["version"], info["files"], info["from_cache"], info["dest"]) == (
        "1.0.0",
        6,
        False,
        str(dest),
    )
    for p in folder.rglob("*"):
        if p.is_file():
            assert (dest / p.relative_to(folder)).read_bytes() == p.read_bytes()
    assert cli("pull", f"{NAME}@1.0.0", "--dest", str(dest), env=_env(rel_ws)).exit_code == 0
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    out = cli("pull", f"{NAME}@1.0.0", "--dest", str(busy), env=_env(rel_ws))
    assert out.exit_code == 1
    assert out.stderr == (
        f"Error: --dest {busy} exists and is not empty; pick an empty or new folder (a pull never overwrites files)\n"
    )


def test_yanked_release_warns_and_latest_skips_it(cli: Cli, rel_ws: Workspace) -> None:
    from builder.release.snapshot import yank_release

    _published(rel_ws)
    publish_release(rel_ws, actor=LEAD, notes="card only")
    yank_release(rel_ws, NAME, "1.0.1", reason="wrong card", actor=LEAD)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
    }
    assert pull_release(NAME, "latest", **kw).version == "1.0.0"
    with pytest.warns(
        YankedReleaseWarning, match=r"debian-sections@1\.0\.1 was yanked by lea at .*: wrong card"
    ):
        result = pull_release(NAME, "1.0.1", **kw)
    assert result.yanked is not None and result.yanked.reason == "wrong card"
    out = cli("pull", f"{NAME}@1.0.1", env=_env(rel_ws))
    assert out.exit_code == 0
    assert out.stderr.startswith(f"Warning: {NAME}@1.0.1 was yanked by lea at ")
    assert out.stderr.rstrip().endswith(": wrong card")


def test_load_release_shapes(rel_ws: Workspace) -> None:
    from builder.release.signing import load_signing_key

    _published(rel_ws)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
        "trust": load_signing_key(rel_ws.settings.keys_dir).public,  # the publisher's key
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a live release from a trusted publisher: no warnings
        df = load_release(NAME, "1.0.0", **kw)
    both = load_release(NAME, "latest", split=None, **kw)
    assert set(both) == {"test", "dev"} and both["test"].equals(df)
    table = load_release(NAME, "1.0.0", split="dev", as_="arrow", **kw)
    assert table.num_rows == len(both["dev"])
    hf = load_release(NAME, "1.0.0", split=None, as_="hf", **kw)
    assert {k: v.num_rows for k, v in hf.items()} == {k: len(v) for k, v in both.items()}
    with pytest.raises(
        ReleaseError, match=r"^debian-sections@1\.0\.0 has no split 'train'; it has dev, test$"
    ):
        load_release(NAME, "1.0.0", split="train", **kw)
    from builder import load_release as exported

    assert exported is load_release


def test_pull_from_memory_registry(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    url = f"memory://pull-{uuid.uuid4().hex}/r"
    ws = open_ws(replace(sqlite_settings, registry=url), tmp_path)
    ingest(ws, sample_rows[:15], tmp_path)
    approve(ws, sample_rows, source_ids(sample_rows[:15]), annotators=())
    publish_release(ws, actor=LEAD)
    reg = Registry(url)
    first = pull_release(NAME, "latest", registry=url, cache_dir=ws.settings.cache_dir)
    assert not first.from_cache and first.path.is_dir()
    path = reg.path(NAME, "1.0.0", "data", "test.jsonl")
    reg.fs.pipe_file(path, reg.fs.cat_file(path) + b"\n")
    shutil.rmtree(first.path)
    with pytest.raises(IntegrityError, match=r"file data/test\.jsonl fails verification"):
        pull_release(NAME, "1.0.0", registry=url, cache_dir=ws.settings.cache_dir)
    ws.db.dispose()


def test_cache_keeps_the_signature_and_old_caches_are_fetched_again(rel_ws: Workspace) -> None:
    from builder.release.signing import SIGNATURE_NAME

    folder = _published(rel_ws)
    kw: dict[str, Any] = {
        "registry": rel_ws.settings.registry,
        "cache_dir": rel_ws.settings.cache_dir,
        "warn_unverified": False,
    }
    first = pull_release(NAME, "1.0.0", **kw)
    assert (first.path / SIGNATURE_NAME).read_bytes() == (folder / SIGNATURE_NAME).read_bytes()
    stamp = json.loads((first.path / ".verified.json").read_text())
    assert set(stamp) >= {"content_hash", "signature_sha256", "verified_at"}
    # A copy cached by a benchsmith that did not keep signatures: verified afresh.
    del stamp["signature_sha256"]
    (first.path / ".verified.json").write_text(json.dumps(stamp))
    again = pull_release(NAME, "1.0.0", **kw)
    assert not again.from_cache and (again.path / SIGNATURE_NAME).is_file()
    assert pull_release(NAME, "1.0.0", **kw).from_cache
