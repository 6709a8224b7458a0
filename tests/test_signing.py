"""Release signatures: who published a release, not just whether its bytes add up.

Real Ed25519 keys, real releases, real files: the attacks are carried out in full (a
re-hashed tamper, a same-version release from another workspace) and must be refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import stat
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from builder.errors import ConfigError, IntegrityError, TrustError
from builder.release.cache import cache_path
from builder.release.manifest import content_hash_of
from builder.release.pull import (
    RegistryUncheckedWarning,
    UnverifiedPublisherWarning,
    load_release,
    pull_release,
)
from builder.release.signing import (
    SIGNATURE_NAME,
    PublicKey,
    SigningKey,
    check_signature,
    ensure_signing_key,
    init_signing_key,
    load_public_key,
    load_signing_key,
)
from builder.release.snapshot import publish_release
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.releases import LEAD, NAME, approve, ingest, open_ws, pull_kw

REF = f"{NAME}@1.0.0"


def _pub_file(ws: Workspace, tmp: Path, name: str = "publisher.pub") -> Path:
    """The workspace's public key as an engineer receives it."""
    key = load_signing_key(ws.settings.keys_dir)
    path = tmp / name
    path.write_bytes(key.public.pem())
    return path


def _writable(folder: Path) -> None:
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def _relabel(folder: Path) -> tuple[str, str]:
    """The attack: change one gold label in data/test.jsonl and data/test.parquet, then
    recompute every sha256, size and the content hash, and rewrite manifest.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _writable(folder)
    raw = json.loads((folder / "manifest.json").read_bytes())
    jsonl = folder / "data/test.jsonl"
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    old = rows[0]["label"]
    new = next(label for label in raw["labels"] if label != old)
    rows[0]["label"] = new
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    table = pq.read_table(folder / "data/test.parquet")
    labels = table.column("label").to_pylist()
    assert labels[0] == old
    labels[0] = new
    i = table.schema.get_field_index("label")
    table = table.set_column(i, table.schema.field(i), pa.array(labels, table.schema.field(i).type))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    (folder / "data/test.parquet").write_bytes(buf.getvalue())
    for entry in raw["files"]:
        data = (folder / entry["path"]).read_bytes()
        entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
    raw["content_hash"] = content_hash_of(raw)
    (folder / "manifest.json").write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n")
    return old, new


def _resign(folder: Path, key: SigningKey) -> None:
    (folder / SIGNATURE_NAME).write_bytes(
        key.sign_manifest((folder / "manifest.json").read_bytes())
    )


def _foreign_release(ws: Workspace, tmp: Path) -> tuple[Path, Workspace]:
    """NAME@1.0.0 published by another workspace (its own key) to its own registry."""
    other = open_ws(replace(ws.settings, home=tmp / "ws2", database_url=f"sqlite:///{tmp / 'ws2.db'}",
                            registry=str(tmp / "reg2"), private_registry=str(tmp / "priv2")),
                    tmp / "x")  # fmt: skip
    rows = [{"package": "zzz", "description": "a lonely package", "section": "misc", "priority": "optional",
             "version": "1", "installed_size": 1, "homepage": ""}]  # fmt: skip
    (tmp / "x").mkdir(exist_ok=True)
    ingest(other, rows, tmp / "x")
    approve(other, rows, ["zzz"], annotators=())
    return Path(publish_release(other, actor="x").url), other


# ------------------------------------------------------------------------------ keys


def test_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    keys = tmp_path / "ws" / "keys"
    key = init_signing_key(keys)
    private, public = keys / "signing.key", keys / "signing.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert not [p.name for p in keys.iterdir() if p.name.endswith(".tmp")]
    assert load_public_key(public).fingerprint == key.fingerprint
    assert key.fingerprint == hashlib.sha256(key.public.raw).hexdigest()
    before = private.read_bytes()
    with pytest.raises(ConfigError) as e:
        init_signing_key(keys)
    assert str(e.value) == (
        f"a signing key already exists at {private}; it is never overwritten (engineers "
        "pinned its public key) — use it, or move it away yourself to start a new identity"
    )
    assert private.read_bytes() == before
    assert ensure_signing_key(keys).fingerprint == key.fingerprint  # reused, not replaced
    private.chmod(0o644)
    with pytest.raises(
        ConfigError, match=r"is accessible by other users \(mode 0644\); run `chmod 600 "
    ):
        load_signing_key(keys)


def test_sign_verify_round_trip(tmp_path: Path) -> None:
    key = init_signing_key(tmp_path / "a")
    other = init_signing_key(tmp_path / "b")
    manifest = b'{"name": "x"}\n'
    sig = key.sign_manifest(manifest)
    doc = json.loads(sig)
    assert (doc["algorithm"], doc["key_fingerprint"]) == ("ed25519", key.fingerprint)
    assert doc["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    pub = PublicKey.from_pem(key.public.pem(), source="a.pub")
    ok = check_signature(manifest, sig, [pub], where="x@1.0.0")
    assert (ok.status, ok.fingerprint, ok.source) == ("trusted", key.fingerprint, "a.pub")
    with pytest.raises(TrustError, match=r"does not verify against manifest\.json with key "):
        check_signature(manifest + b" ", sig, [pub], where="x@1.0.0")
    with pytest.raises(TrustError, match=f"is signed by key {other.fingerprint}, which is not"):
        check_signature(manifest, other.sign_manifest(manifest), [pub], where="x@1.0.0")
    unverified = check_signature(manifest, sig, [], where="x@1.0.0")
    assert (unverified.status, unverified.fingerprint) == ("unverified", key.fingerprint)
    # Without a trusted key the signature must still be self-consistent.
    with pytest.raises(IntegrityError, match=r"signature\.json does not verify against manifest"):
        check_signature(manifest + b" ", sig, [], where="x@1.0.0")
    assert check_signature(manifest, None, [], where="x@1.0.0").status == "unsigned"
    with pytest.raises(TrustError, match=r"^x@1\.0\.0 is unsigned \(no signature\.json\)"):
        check_signature(manifest, None, [pub], where="x@1.0.0")
    with pytest.raises(IntegrityError, match=r"signature\.json is damaged \(not valid JSON\)"):
        check_signature(manifest, b"{", [pub], where="x@1.0.0")
    with pytest.raises(ConfigError, match=r"is not a PEM public key \(it is a private key"):
        load_public_key(tmp_path / "a" / "signing.key")
    with pytest.raises(ConfigError, match=r"trusted key file .*nope\.pub does not exist"):
        load_public_key(tmp_path / "nope.pub")


# ------------------------------------------------------------------------- publishing


def test_every_release_is_signed_by_the_workspace_key(rel_ws: Workspace) -> None:
    assert not (rel_ws.settings.keys_dir / "signing.key").exists()
    result = publish_release(rel_ws, actor=LEAD)
    key = load_signing_key(rel_ws.settings.keys_dir)  # created by the first release
    assert result.signed_by == key.fingerprint
    folder = Path(result.url)
    manifest, sig = (folder / "manifest.json").read_bytes(), (folder / SIGNATURE_NAME).read_bytes()
    assert check_signature(manifest, sig, [key.public], where=REF).status == "trusted"
    # The holdout half in the private registry is signed too.
    private = Path(rel_ws.settings.private_registry, NAME, "1.0.0")
    if (private / "manifest.json").exists():
        psig = (private / SIGNATURE_NAME).read_bytes()
        pman = (private / "manifest.json").read_bytes()
        assert check_signature(pman, psig, [key.public], where=REF).status == "trusted"
    second = publish_release(rel_ws, actor=LEAD, notes="again")
    assert second.signed_by == key.fingerprint  # one key per workspace


# ---------------------------------------------------------------------------- attacks


def test_rehashed_tamper_is_refused_with_trust(rel_ws: Workspace, tmp_path: Path) -> None:
    folder = Path(publish_release(rel_ws, actor=LEAD).url)
    trust = _pub_file(rel_ws, tmp_path)
    fp = load_public_key(trust).fingerprint
    _relabel(folder)
    where = f"{REF} in {rel_ws.settings.registry}"
    # Every checksum and the content hash add up: only the signature tells.
    with pytest.raises(TrustError) as e:
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    assert str(e.value) == (
        f"{where}: signature.json does not verify against manifest.json with key {fp}; "
        "the manifest was altered after it was signed — do not use it"
    )
    # The attacker re-signs with a key of their own: refused, naming that key.
    attacker = init_signing_key(tmp_path / "attacker")
    _resign(folder, attacker)
    with pytest.raises(TrustError) as e:
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    assert str(e.value) == (
        f"{where} is signed by key {attacker.fingerprint}, which is not a trusted key "
        f"(trusted: {fp[:16]}… from {trust}); refusing it — it was not published by the "
        "publisher you trust; if that key really is the publisher's, pass --trust FILE with "
        "the publisher's public key (from `benchsmith keys public`)"
    )
    # ... or deletes the signature: refused as unsigned.
    (folder / SIGNATURE_NAME).unlink()
    with pytest.raises(TrustError) as e:
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    assert str(e.value) == (
        f"{where} is unsigned (no signature.json), so it was not published by a trusted key "
        f"(trusted: {fp[:16]}… from {trust}); refusing it — if you expected that, get a "
        "signed release from the publisher and pass --trust FILE with the publisher's public "
        "key (from `benchsmith keys public`)"
    )
    assert not cache_path(
        rel_ws.settings.cache_dir, rel_ws.settings.registry, NAME, "1.0.0"
    ).exists()  # type: ignore[arg-type]
    with pytest.raises(TrustError):
        load_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=trust))


def test_same_version_from_another_workspace_is_refused(rel_ws: Workspace, tmp_path: Path) -> None:
    genuine = Path(publish_release(rel_ws, actor=LEAD).url)
    trust = _pub_file(rel_ws, tmp_path)
    forged, other = _foreign_release(rel_ws, tmp_path)
    foreign_fp = load_signing_key(other.settings.keys_dir).fingerprint
    assert foreign_fp != load_public_key(trust).fingerprint
    _writable(genuine)
    shutil.rmtree(genuine)
    shutil.copytree(forged, genuine)
    with pytest.raises(
        TrustError,
        match=f"^{NAME}@1\\.0\\.0 in .* is signed by key {foreign_fp}, which is not a trusted key",
    ):
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    # The publishing workspace refuses it even without trusted keys: not the hash it recorded.
    with pytest.raises(
        IntegrityError,
        match=r"differs from [0-9a-f]{16}…, the one this workspace recorded when it published it",
    ):
        pull_release(NAME, "1.0.0", workspace=rel_ws)
    # A fresh machine with no trusted key is only warned — why engineers pin the key.
    with pytest.warns(UnverifiedPublisherWarning, match=f"signed by key {foreign_fp}"):
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws))
    other.db.dispose()


def test_untrusted_pull_warns_once_and_still_checks_integrity(rel_ws: Workspace) -> None:
    folder = Path(publish_release(rel_ws, actor=LEAD).url)
    fp = load_signing_key(rel_ws.settings.keys_dir).fingerprint
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pull_release(NAME, "1.0.0", **pull_kw(rel_ws))
    msgs = [str(w.message) for w in caught if w.category is UnverifiedPublisherWarning]
    assert msgs == [
        f"{REF}: files verified, but the publisher was not (signed by key {fp}; no trusted key "
        "configured) — pin the publisher's key with --trust FILE or BENCHSMITH_TRUSTED_KEYS"
    ]
    assert "\n" not in msgs[0]
    assert (result.signature.status, result.to_dict()["publisher"]["fingerprint"]) == (
        "unverified",
        fp,
    )
    shutil.rmtree(result.path)
    _writable(folder)
    (folder / "data/dev.jsonl").write_bytes((folder / "data/dev.jsonl").read_bytes() + b"\n")
    with pytest.raises(IntegrityError, match=r"file data/dev\.jsonl fails verification"):
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws))
    # The publishing workspace's own key verifies its releases: no warning there.
    (folder / "data/dev.jsonl").write_bytes((folder / "data/dev.jsonl").read_bytes()[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pull_release(NAME, "1.0.0", workspace=rel_ws).signature.status == "trusted"


def test_unsigned_release_is_refused_with_trust_and_warned_without(
    rel_ws: Workspace, tmp_path: Path
) -> None:
    folder = Path(publish_release(rel_ws, actor=LEAD).url)
    trust = _pub_file(rel_ws, tmp_path)
    _writable(folder)
    (folder / SIGNATURE_NAME).unlink()  # as published before signing existed
    with pytest.raises(TrustError, match=r" is unsigned \(no signature\.json\)"):
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    with pytest.warns(UnverifiedPublisherWarning) as rec:
        result = pull_release(NAME, "1.0.0", **pull_kw(rel_ws))
    assert result.signature.status == "unsigned"
    assert str(rec[0].message) == (
        f"{REF}: files verified, but the publisher was not (an unsigned release; no trusted "
        "key configured) — pin the publisher's key with --trust FILE or BENCHSMITH_TRUSTED_KEYS"
    )


def test_warm_cache_does_not_hide_a_registry_change(rel_ws: Workspace, tmp_path: Path) -> None:
    folder = Path(publish_release(rel_ws, actor=LEAD).url)
    trust = _pub_file(rel_ws, tmp_path)
    fp = load_public_key(trust).fingerprint
    first = pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    assert first.signature.status == "trusted"
    assert pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust])).from_cache
    # Same manifest, signature swapped for another key's: the cache must not hide it.
    attacker = init_signing_key(tmp_path / "attacker")
    original = (folder / SIGNATURE_NAME).read_bytes()
    _writable(folder)
    _resign(folder, attacker)
    with pytest.raises(IntegrityError) as e:
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    assert str(e.value) == (
        f"{REF} in {rel_ws.settings.registry}: signature.json changed since this machine "
        f"verified it (key {attacker.fingerprint} now, key {fp} then); published releases "
        "never change, so the registry was altered — investigate before using either copy"
    )
    # A re-hashed tamper, re-signed: the cached copy's content hash differs.
    (folder / SIGNATURE_NAME).write_bytes(original)
    _relabel(folder)
    _resign(folder, attacker)
    with pytest.raises(
        IntegrityError, match=r"manifest\.json changed since this machine verified it"
    ):
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws))
    # A copy cached without trust is checked against the trust of the pull using it.
    shutil.rmtree(first.path)
    with pytest.warns(UnverifiedPublisherWarning, match=attacker.fingerprint):
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws))
    with pytest.raises(TrustError, match=f"is signed by key {attacker.fingerprint}, which is not"):
        pull_release(NAME, "1.0.0", **pull_kw(rel_ws, trust=[trust]))
    # The registry no longer answers: the cached copy is used, with a one-line warning.
    _writable(folder)
    shutil.rmtree(folder)
    with pytest.warns(
        RegistryUncheckedWarning, match=r"did not answer for it \(offline, moved or removed\)"
    ):
        assert pull_release(NAME, "1.0.0", **pull_kw(rel_ws), warn_unverified=False).from_cache


# -------------------------------------------------------------------------------- CLI


def _lead_env(ws: Workspace) -> dict[str, str]:
    return {"BENCHSMITH_HOME": str(ws.settings.home), "BENCHSMITH_REGISTRY": ws.settings.registry,
            "BENCHSMITH_CACHE": str(ws.settings.cache_dir), "BENCHSMITH_USER": LEAD,
            "BENCHSMITH_DATABASE_URL": "", "BENCHSMITH_TRUSTED_KEYS": ""}  # fmt: skip


def _engineer_env(
    ws: Workspace, tmp: Path, cache: str = "eng-cache", trusted: str = ""
) -> dict[str, str]:
    """A fresh machine: no workspace, its own cache, only the registry in common."""
    return {"BENCHSMITH_HOME": str(tmp / "engineer"), "BENCHSMITH_REGISTRY": ws.settings.registry,
            "BENCHSMITH_CACHE": str(tmp / cache), "BENCHSMITH_DATABASE_URL": "",
            "BENCHSMITH_TRUSTED_KEYS": trusted}  # fmt: skip


def test_keys_commands(cli: Cli, rel_ws: Workspace, tmp_path: Path) -> None:
    env = _lead_env(rel_ws)
    private = rel_ws.settings.keys_dir / "signing.key"
    out = cli("keys", "public", env=env)
    assert (out.exit_code, out.stderr) == (1, (
        f"Error: this workspace has no signing key at {private}; create one with "
        "`benchsmith keys init` (or publish a release, which creates it)\n"
    ))  # fmt: skip
    out = cli("keys", "init", env=env)
    assert out.exit_code == 0, out.output
    key = load_signing_key(rel_ws.settings.keys_dir)
    assert out.stdout.splitlines()[0] == (
        f"created signing key {private} (fingerprint {key.fingerprint})"
    )
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    out = cli("keys", "init", env=env)
    assert (out.exit_code, out.stderr) == (1, (
        f"Error: a signing key already exists at {private}; it is never overwritten (engineers "
        "pinned its public key) — use it, or move it away yourself to start a new identity\n"
    ))  # fmt: skip
    assert load_signing_key(rel_ws.settings.keys_dir).fingerprint == key.fingerprint
    out = cli("keys", "public", env=env)
    assert (out.exit_code, out.stdout) == (0, key.public.pem().decode())
    pem = tmp_path / "out" / "lea.pub"
    out = cli("keys", "public", "--out", pem, env=env)
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[0] == f"wrote public key {key.fingerprint} to {pem}"
    assert load_public_key(pem).fingerprint == key.fingerprint
    assert stat.S_IMODE(pem.stat().st_mode) == 0o644
    # The first release uses that key.
    out = cli("release", env=env)
    assert out.exit_code == 0, out.output
    assert f"signed with key {key.fingerprint} " in out.stdout
    out = cli("keys", "init", env={**env, "BENCHSMITH_HOME": str(tmp_path / "none")})
    assert out.exit_code == 1 and out.stderr.startswith(
        f"Error: no workspace at {tmp_path / 'none'}; "
    )


def test_pull_trust_on_the_command_line(cli: Cli, rel_ws: Workspace, tmp_path: Path) -> None:
    folder = Path(publish_release(rel_ws, actor=LEAD).url)
    fp = load_signing_key(rel_ws.settings.keys_dir).fingerprint
    pub = tmp_path / "lea.pub"
    assert cli("keys", "public", "--out", pub, env=_lead_env(rel_ws)).exit_code == 0
    stranger = init_signing_key(tmp_path / "stranger")
    spub = tmp_path / "stranger.pub"
    spub.write_bytes(stranger.public.pem())
    where = f"{REF} in {rel_ws.settings.registry}"

    out = cli("pull", REF, "--trust", pub, env=_engineer_env(rel_ws, tmp_path))
    assert (out.exit_code, out.stderr) == (0, ""), out.output
    assert f"publisher: verified, signed by key {fp} ({pub})" in out.stdout.splitlines()
    # Repeatable, and the environment variable counts too.
    out = cli("pull", REF, "--trust", spub, "--trust", pub, env=_engineer_env(rel_ws, tmp_path))
    assert (out.exit_code, out.stderr) == (0, ""), out.output
    out = cli("pull", REF, env=_engineer_env(rel_ws, tmp_path, trusted=str(pub)))
    assert (out.exit_code, out.stderr) == (0, ""), out.output

    refused = (
        f"Error: {where} is signed by key {fp}, which is not a trusted key (trusted: "
        f"{stranger.fingerprint[:16]}… from {spub}); refusing it — it was not published by the "
        "publisher you trust; if that key really is the publisher's, pass --trust FILE with "
        "the publisher's public key (from `benchsmith keys public`)\n"
    )
    out = cli("pull", REF, "--trust", spub, env=_engineer_env(rel_ws, tmp_path))
    assert (out.exit_code, out.stdout, out.stderr) == (1, "", refused)
    out = cli("pull", REF, env=_engineer_env(rel_ws, tmp_path, trusted=str(spub)))
    assert (out.exit_code, out.stderr) == (1, refused)
    out = cli("pull", REF, "--trust", tmp_path / "missing.pub", env=_engineer_env(rel_ws, tmp_path))
    assert out.exit_code == 1
    assert out.stderr.startswith(
        f"Error: trusted key file {tmp_path / 'missing.pub'} does not exist; "
    )

    # No trust configured: integrity is verified, and one warning line says the rest.
    out = cli("pull", REF, env=_engineer_env(rel_ws, tmp_path))
    assert out.exit_code == 0, out.output
    assert out.stderr == (
        f"Warning: {REF}: files verified, but the publisher was not (signed by key {fp}; no "
        "trusted key configured) — pin the publisher's key with --trust FILE or "
        "BENCHSMITH_TRUSTED_KEYS\n"
    )
    assert f"publisher: NOT verified (key {fp})" in out.stdout.splitlines()
    # The lead's own workspace verifies with its own key: no warning.
    out = cli("pull", REF, env=_lead_env(rel_ws))
    assert (out.exit_code, out.stderr) == (0, ""), out.output

    # The attack, re-signed by the attacker: refused on a fresh machine that pins the key ...
    _relabel(folder)
    _resign(folder, stranger)
    out = cli("pull", REF, "--trust", pub, env=_engineer_env(rel_ws, tmp_path, cache="fresh"))
    assert out.exit_code == 1
    assert out.stderr.startswith(
        f"Error: {where} is signed by key {stranger.fingerprint}, which is not a trusted key"
    )
    # ... by a machine that cached the genuine copy, even without trust ...
    out = cli("pull", REF, env=_engineer_env(rel_ws, tmp_path))
    assert (
        out.exit_code == 1 and "manifest.json changed since this machine verified it" in out.stderr
    )
    # ... and by the publishing workspace, from the hash it recorded.
    shutil.rmtree(rel_ws.settings.cache_dir)  # type: ignore[arg-type]
    out = cli("pull", REF, env=_lead_env(rel_ws))
    assert out.exit_code == 1
    assert (
        "the one this workspace recorded when it published it; the registry copy was replaced"
        in out.stderr
    )
