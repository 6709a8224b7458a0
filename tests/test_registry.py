"""The registry suite, run on a local folder and on memory://."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from builder.errors import IntegrityError, NotFoundError, ReleaseError
from builder.hashing import HASHING_SCHEME, content_hash
from builder.release.manifest import (
    AgreementSummary,
    FileEntry,
    Manifest,
    SplitSummary,
    parse_manifest,
)
from builder.release.registry import Registry, parse_ref


@pytest.fixture(params=["local", "memory"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Registry:
    if request.param == "local":
        return Registry(str(tmp_path / "registry"))
    return Registry(f"memory://reg-{uuid.uuid4().hex}/releases")


def stage(tmp: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A built release folder: ``files`` plus a manifest listing them."""
    root = tmp / f"stage-{name}-{version}-{uuid.uuid4().hex[:6]}"
    entries = []
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        entries.append(FileEntry(path=rel, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                                 format="jsonl" if rel.endswith(".jsonl") else "markdown",
                                 split="test" if rel.endswith(".jsonl") else None))  # fmt: skip
    m = Manifest.build(
        name=name, version=version, created_at=datetime.now(UTC), created_by="lea",
        task_type="classification", input_fields=["text"], answer_field="label", labels=["a", "b"],
        spec_hash="0" * 64, spec={}, license="CC-BY-4.0", splits={"test": SplitSummary(count=1)},
        counts={"_total": 1}, agreement=AgreementSummary(annotators=0, annotations=0, items_annotated=0,
                                                         items_multiply_annotated=0, ceiling_metric="accuracy"),
        files=entries,
    )  # fmt: skip
    (root / "manifest.json").write_text(m.to_json())
    return root


FILES = {
    "data/test.jsonl": b'{"id": "x", "text": "hello", "label": "a"}\n',
    "README.md": b"# card\n",
}


def test_publish_list_read_verify(registry: Registry, tmp_path: Path) -> None:
    assert registry.names() == [] and registry.versions("demo") == []
    registry.publish(stage(tmp_path, "demo", "1.0.0", FILES), "demo", "1.0.0")
    registry.publish(stage(tmp_path, "demo", "1.10.0", FILES), "demo", "1.10.0")
    registry.publish(stage(tmp_path, "demo", "1.2.0", FILES), "demo", "1.2.0")
    registry.publish(stage(tmp_path, "other", "0.1.0", FILES), "other", "0.1.0")
    assert registry.names() == ["demo", "other"]
    assert registry.versions("demo") == ["1.0.0", "1.2.0", "1.10.0"]  # semver order, not text
    assert registry.latest("demo") == "1.10.0" and registry.resolve("demo", "latest") == "1.10.0"
    assert registry.exists("demo", "1.2.0") and not registry.exists("demo", "9.9.9")
    m = registry.read_manifest("demo", "1.2.0")
    assert (m.name, m.version, [f.path for f in m.files]) == ("demo", "1.2.0", list(FILES))
    assert registry.read_bytes("demo", "1.2.0", "README.md") == b"# card\n"
    report = registry.verify("demo", "1.2.0")
    assert (report.files, report.bytes) == (2, sum(len(v) for v in FILES.values()))
    infos = registry.releases("demo")
    assert [i.version for i in infos] == ["1.0.0", "1.2.0", "1.10.0"]
    assert infos[0].items == 1 and infos[0].created_by == "lea" and infos[0].yanked is None


def test_an_existing_version_is_never_overwritten(registry: Registry, tmp_path: Path) -> None:
    registry.publish(stage(tmp_path, "demo", "1.0.0", FILES), "demo", "1.0.0")
    other = stage(tmp_path, "demo", "1.0.0", {"README.md": b"# other card\n"})
    with pytest.raises(ReleaseError) as e:
        registry.publish(other, "demo", "1.0.0")
    assert str(e.value) == (
        f"release demo@1.0.0 already exists in {registry.url}; releases are immutable — publish "
        "a new version instead"
    )
    assert registry.read_bytes("demo", "1.0.0", "README.md") == b"# card\n"


def test_partial_upload_is_invisible_and_replaced(registry: Registry, tmp_path: Path) -> None:
    registry.fs.makedirs(registry.path("demo", "1.0.0", "data"), exist_ok=True)
    registry.fs.pipe_file(registry.path("demo", "1.0.0", "data", "test.jsonl"), b"half")
    assert registry.versions("demo") == [] and not registry.exists("demo", "1.0.0")
    with pytest.raises(
        NotFoundError, match=r"release demo@1\.0\.0 is not in the registry .*; available: none"
    ):
        registry.resolve("demo", "1.0.0")
    registry.publish(stage(tmp_path, "demo", "1.0.0", FILES), "demo", "1.0.0")
    registry.verify("demo", "1.0.0")


def test_yank_keeps_the_version_readable(registry: Registry, tmp_path: Path) -> None:
    for v in ("1.0.0", "1.1.0"):
        registry.publish(stage(tmp_path, "demo", v, FILES), "demo", v)
    with pytest.raises(ReleaseError, match="give a reason for the yank with --reason TEXT"):
        registry.yank("demo", "1.1.0", reason="  ", by="lea")
    info = registry.yank("demo", "1.1.0", reason="label leak", by="lea")
    assert (info.reason, info.by) == ("label leak", "lea")
    assert (
        registry.yank_info("demo", "1.1.0") == info and registry.yank_info("demo", "1.0.0") is None
    )
    assert registry.versions("demo") == ["1.0.0", "1.1.0"]  # still listed
    assert registry.latest("demo") == "1.0.0"  # latest skips it
    registry.verify("demo", "1.1.0")  # still readable and intact
    with pytest.raises(
        ReleaseError, match=r"^demo@1\.1\.0 is already yanked \('label leak' by lea at "
    ):
        registry.yank("demo", "1.1.0", reason="again", by="lea")
    with pytest.raises(NotFoundError):
        registry.yank("demo", "7.0.0", reason="nope", by="lea")
    registry.yank("demo", "1.0.0", reason="also bad", by="lea")
    with pytest.raises(
        NotFoundError, match=r"every release of 'demo' in .* is yanked \(1\.0\.0, 1\.1\.0\)"
    ):
        registry.latest("demo")


@pytest.mark.parametrize("target", ["data/test.jsonl", "README.md"])
def test_verify_names_the_tampered_file(registry: Registry, tmp_path: Path, target: str) -> None:
    registry.publish(stage(tmp_path, "demo", "1.0.0", FILES), "demo", "1.0.0")
    path = registry.path("demo", "1.0.0", target)
    data = bytearray(registry.fs.cat_file(path))
    data[0] ^= 0x01
    if registry.is_local:
        Path(path).chmod(0o644)
    registry.fs.pipe_file(path, bytes(data))
    with pytest.raises(
        IntegrityError, match=rf"^demo@1\.0\.0 in .*: file {target} fails verification: "
    ):
        registry.verify("demo", "1.0.0")
    registry.fs.rm(path)
    with pytest.raises(
        IntegrityError, match=rf"file {target} is missing; the release is incomplete"
    ):
        registry.verify("demo", "1.0.0")


def test_edited_manifest_is_detected(registry: Registry, tmp_path: Path) -> None:
    registry.publish(stage(tmp_path, "demo", "1.0.0", FILES), "demo", "1.0.0")
    path = registry.path("demo", "1.0.0", "manifest.json")
    raw = json.loads(registry.fs.cat_file(path))
    raw["splits"]["test"]["count"] = 1000
    if registry.is_local:
        Path(path).chmod(0o644)
    registry.fs.pipe_file(path, json.dumps(raw).encode())
    with pytest.raises(
        IntegrityError, match=r"manifest\.json fails verification: its content hash is "
    ):
        registry.read_manifest("demo", "1.0.0")
    registry.fs.pipe_file(path, b"{not json")
    with pytest.raises(IntegrityError, match=r"manifest\.json is not valid JSON"):
        registry.read_manifest("demo", "1.0.0")


def _as_legacy(root: Path) -> dict[str, Any]:
    """Rewrite a staged manifest as benchsmith wrote them before builder.hashing: no
    ``hashing`` field, format_version 1, content hash over stdlib ``json.dumps``."""
    raw = json.loads((root / "manifest.json").read_text())
    del raw["hashing"]
    # Values whose text differs between the two encoders: 1e-05 (stdlib) vs 0.00001.
    raw.update(format_version=1, title="Catégorie “Debian”", sampling={"coverage": 1e-05})
    body = {k: v for k, v in raw.items() if k != "content_hash"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    raw["content_hash"] = hashlib.sha256(text.encode()).hexdigest()
    (root / "manifest.json").write_text(json.dumps(raw, indent=2))
    return raw


def test_a_manifest_hashed_the_old_way_still_verifies(registry: Registry, tmp_path: Path) -> None:
    root = stage(tmp_path, "demo", "1.0.0", FILES)
    raw = _as_legacy(root)
    body = {k: v for k, v in raw.items() if k != "content_hash"}
    assert content_hash(body) != raw["content_hash"]  # the two schemes differ on this one
    registry.publish(root, "demo", "1.0.0")
    m = registry.read_manifest("demo", "1.0.0")
    assert (m.hashing, m.format_version, m.content_hash) == (None, 1, raw["content_hash"])
    assert m.title == "Catégorie “Debian”" and m.sampling == {"coverage": 1e-05}
    registry.verify("demo", "1.0.0")
    # Written back out it stays a legacy manifest with the same hash.
    assert json.loads(m.to_json()) == raw
    # ...and an edit is still caught.
    path = registry.path("demo", "1.0.0", "manifest.json")
    if registry.is_local:
        Path(path).chmod(0o644)
    registry.fs.pipe_file(path, json.dumps(raw | {"title": "Catégorie"}).encode())
    with pytest.raises(IntegrityError, match=r"manifest\.json fails verification"):
        registry.read_manifest("demo", "1.0.0")


def test_new_manifests_record_their_hashing_scheme(registry: Registry, tmp_path: Path) -> None:
    root = stage(tmp_path, "demo", "1.0.0", FILES)
    raw = json.loads((root / "manifest.json").read_text())
    assert (raw["hashing"], raw["format_version"]) == (HASHING_SCHEME, 2)
    body = {k: v for k, v in raw.items() if k != "content_hash"}
    assert raw["content_hash"] == content_hash(body)
    raw["hashing"] = "canonical-json/9"
    with pytest.raises(ReleaseError, match=r"hashed with scheme 'canonical-json/9', which this"):
        parse_manifest(json.dumps(raw).encode(), where="x")


def test_a_manifest_may_not_point_outside_its_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be relative inside the release folder"):
        FileEntry(path="../../etc/passwd", sha256="0" * 64, size=1, format="markdown")


def test_moved_folder_is_detected(registry: Registry, tmp_path: Path) -> None:
    registry.publish(stage(tmp_path, "demo", "1.0.0", FILES), "demo", "2.0.0")
    with pytest.raises(
        IntegrityError, match=r"manifest\.json describes demo@1\.0\.0; the folder was moved"
    ):
        registry.read_manifest("demo", "2.0.0")


def test_parse_ref() -> None:
    assert parse_ref("demo@1.2.3") == ("demo", "1.2.3")
    assert parse_ref("demo@latest") == ("demo", "latest") == parse_ref("demo")
    with pytest.raises(ReleaseError, match=r"version '1\.2' is not a semantic version"):
        parse_ref("demo@1.2")
    with pytest.raises(ReleaseError, match="has no name"):
        parse_ref("@1.0.0")


@pytest.mark.parametrize("name", ["predictions", "release-manifest"])
def test_format_schemas_are_generated_and_fresh(name: str) -> None:
    from builder.schemas import SCHEMA_DIR, render

    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.read_text() == render(name), f"{path} is stale; run python -m builder.schemas"
    schema = json.loads(path.read_text())
    required = {"predictions": ["id", "prediction"], "release-manifest": ["name", "version"]}[name]
    assert set(required) <= set(schema["required"])
