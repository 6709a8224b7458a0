"""Release signatures: every release is signed with its publishing workspace's Ed25519 key.

Checksums alone cannot tell who published a release: anyone who can write to the registry
can change a file and recompute every sha256 and the content hash. A signature can: only
the holder of the workspace's private key can produce one, and engineers pin the
publisher's public key (``pull --trust FILE`` / ``BENCHSMITH_TRUSTED_KEYS``).

Keys (Ed25519, from the ``cryptography`` library) live in ``<workspace>/keys/``:
``signing.key`` (PKCS#8 PEM, mode 0600, never leaves the workspace) and ``signing.pub``
(SubjectPublicKeyInfo PEM, the file to hand to engineers). A key is identified by its
*fingerprint*: the lowercase hex sha256 of the 32 raw public key bytes.

``signature.json`` sits beside ``manifest.json`` in the release folder::

    {"format_version": 1, "algorithm": "ed25519", "key_fingerprint": "<hex>",
     "public_key": "<base64 raw public key>", "signed_file": "manifest.json",
     "manifest_sha256": "<hex>", "signature": "<base64>"}

The signature covers :data:`SIGNED_CONTEXT` followed by the exact bytes of
``manifest.json``, which list every file's sha256 and the content hash, so one signature
pins the whole release. The signature is written before the manifest (the manifest stays
the commit point). Releases published before signing existed have no signature file and
are *unsigned*.

Policy (:func:`check_signature`): with trusted keys configured, a release must be signed
by one of them (else :class:`TrustError`, naming the key that did sign it, or "unsigned");
with none configured, integrity is still checked and the result says the publisher was
not verified (pulls warn in one line).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from builder.errors import ConfigError, IntegrityError, TrustError
from builder.fsutil import write_bytes_atomic

__all__ = [
    "ALGORITHM",
    "PRIVATE_KEY_NAME",
    "PUBLIC_KEY_NAME",
    "SIGNATURE_NAME",
    "SIGNED_CONTEXT",
    "PublicKey",
    "Signature",
    "SignatureCheck",
    "SigningKey",
    "check_signature",
    "ensure_signing_key",
    "init_signing_key",
    "load_public_key",
    "load_signing_key",
    "load_trusted_keys",
    "parse_signature",
    "workspace_public_key",
]

ALGORITHM = "ed25519"
SIGNATURE_NAME = "signature.json"
PRIVATE_KEY_NAME = "signing.key"
PUBLIC_KEY_NAME = "signing.pub"
SIGNED_CONTEXT = b"benchsmith release signature v1\n"
"""Prefix of the signed message (so a release signature cannot be reused for anything else)."""
_FORMAT_VERSION = 1
_KEYS_FIX = "create one with `benchsmith keys init` (or publish a release, which creates it)"


# ------------------------------------------------------------------------------ keys


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key and where it came from."""

    raw: bytes
    """The 32 raw key bytes."""
    source: str = ""
    """Where it was read from (a file path), for messages."""

    @property
    def fingerprint(self) -> str:
        """Lowercase hex sha256 of the raw key bytes."""
        return hashlib.sha256(self.raw).hexdigest()

    def pem(self) -> bytes:
        """The key as a SubjectPublicKeyInfo PEM block (what ``--trust FILE`` reads)."""
        return self._key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            self._key().verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def _key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.raw)

    @classmethod
    def from_pem(cls, data: bytes, *, source: str) -> PublicKey:
        """Parse a PEM public key; raises :class:`ConfigError` naming ``source`` if it is not
        an Ed25519 public key."""
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            hint = (
                " (it is a private key: pass the public one, from `benchsmith keys public`)"
                if b"PRIVATE KEY" in data
                else ""
            )
            raise ConfigError(
                f"{source} is not a PEM public key{hint}; pass the file written by "
                "`benchsmith keys public --out FILE` in the publisher's workspace"
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(
                f"{source} holds a {type(key).__name__.removeprefix('_')} key, not an Ed25519 "
                "one; pass the file written by `benchsmith keys public --out FILE`"
            )
        return cls(_raw_public(key), source)


@dataclass(frozen=True)
class SigningKey:
    """A workspace's private signing key."""

    path: Path
    """The private key file."""
    key: Ed25519PrivateKey = field(repr=False)
    public: PublicKey

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the public half."""
        return self.public.fingerprint

    def sign_manifest(self, manifest_bytes: bytes) -> bytes:
        """The ``signature.json`` bytes signing these exact manifest bytes."""
        sig = self.key.sign(SIGNED_CONTEXT + manifest_bytes)
        doc = {
            "format_version": _FORMAT_VERSION,
            "algorithm": ALGORITHM,
            "key_fingerprint": self.fingerprint,
            "public_key": base64.b64encode(self.public.raw).decode("ascii"),
            "signed_file": "manifest.json",
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "signature": base64.b64encode(sig).decode("ascii"),
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _paths(keys_dir: Path) -> tuple[Path, Path]:
    keys_dir = Path(keys_dir)
    return keys_dir / PRIVATE_KEY_NAME, keys_dir / PUBLIC_KEY_NAME


def _create_exclusive(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file ``path`` (mode 0600) atomically; False if it exists.

    The bytes go to a private temp file first and are linked into place: the name never
    shows a half-written key, and an existing key is never replaced (two first releases
    racing end up sharing one key).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:
            # No hard links on this filesystem: create-exclusive, then write in place.
            try:
                fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            with os.fdopen(fd2, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def init_signing_key(keys_dir: Path) -> SigningKey:
    """Create the workspace's signing key in ``keys_dir`` (``Settings.keys_dir``).

    Writes ``signing.key`` (mode 0600) and ``signing.pub``, each atomically. Raises
    :class:`ConfigError` when a key already exists (it is never overwritten: releases
    signed with it would no longer verify for the engineers who pinned it).
    """
    private, _ = _paths(keys_dir)
    if private.exists():
        raise ConfigError(
            f"a signing key already exists at {private}; it is never overwritten (engineers "
            "pinned its public key) — use it, or move it away yourself to start a new identity"
        )
    created = _create(keys_dir)
    if created is None:
        raise ConfigError(
            f"a signing key was just created at {private} by another process; use that one"
        )
    return created


def _create(keys_dir: Path) -> SigningKey | None:
    private, public = _paths(keys_dir)
    private.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        private.parent.chmod(0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if not _create_exclusive(private, pem):
        return None
    pub = PublicKey(_raw_public(key.public_key()), str(public))
    _write_public(public, pub)
    return SigningKey(private, key, pub)


def _write_public(path: Path, pub: PublicKey) -> None:
    write_bytes_atomic(path, pub.pem(), mode=0o644)


def load_signing_key(keys_dir: Path) -> SigningKey:
    """The workspace's signing key.

    Raises :class:`ConfigError` when there is none, when the file is readable by other
    users (it must be mode 0600, like an SSH key) or is not an Ed25519 private key.
    Restores a missing ``signing.pub`` from the private key.
    """
    private, public = _paths(keys_dir)
    try:
        mode = private.stat().st_mode
        data = private.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"this workspace has no signing key at {private}; {_KEYS_FIX}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"signing key {private} is accessible by other users (mode "
            f"{stat.S_IMODE(mode):04o}); run `chmod 600 {private}` and check nobody copied it"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"signing key {private} is not an unencrypted PEM private key; restore it from a "
            "backup (releases signed with it need the same key)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"signing key {private} is not an Ed25519 key; restore the workspace's key from a backup"
        )
    pub = PublicKey(_raw_public(key.public_key()), str(public))
    if not public.exists():
        _write_public(public, pub)
    return SigningKey(private, key, pub)


def ensure_signing_key(keys_dir: Path) -> SigningKey:
    """The workspace's signing key, created on first use (the first release)."""
    private, _ = _paths(keys_dir)
    if not private.exists():
        created = _create(keys_dir)
        if created is not None:
            return created
    return load_signing_key(keys_dir)


def workspace_public_key(keys_dir: Path) -> PublicKey | None:
    """The workspace's public key, or None when it has no signing key yet."""
    private, public = _paths(keys_dir)
    if public.is_file():
        return load_public_key(public)
    if private.is_file():
        return load_signing_key(keys_dir).public
    return None


def load_public_key(path: str | Path) -> PublicKey:
    """An Ed25519 public key from a PEM file.

    Raises :class:`ConfigError` naming the file when it is missing or not such a key.
    """
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ConfigError(
            f"trusted key file {p} does not exist; ask the publisher for their public key "
            "(`benchsmith keys public --out FILE`) and pass that file"
        ) from None
    return PublicKey.from_pem(data, source=str(p))


def load_trusted_keys(keys: Iterable[str | Path | PublicKey]) -> tuple[PublicKey, ...]:
    """Trusted keys from files (see :func:`load_public_key`) and/or :class:`PublicKey` objects."""
    out: dict[str, PublicKey] = {}
    for k in keys:
        pk = k if isinstance(k, PublicKey) else load_public_key(k)
        out.setdefault(pk.fingerprint, pk)
    return tuple(out.values())


# -------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class Signature:
    """A parsed ``signature.json``."""

    algorithm: str
    key_fingerprint: str
    public_key: bytes
    manifest_sha256: str
    signature: bytes


def parse_signature(data: bytes, *, where: str) -> Signature:
    """Parse ``signature.json``; raises :class:`IntegrityError` naming ``where`` if damaged."""

    def bad(why: str) -> IntegrityError:
        return IntegrityError(
            f"{where}: {SIGNATURE_NAME} is damaged ({why}); the release cannot be attributed "
            "to its publisher — do not use this copy"
        )

    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("not valid JSON") from None
    if not isinstance(raw, dict):
        raise bad("not a JSON object")
    fv = raw.get("format_version")
    if fv != _FORMAT_VERSION:
        raise bad(f"format_version {fv!r}; this benchsmith reads {_FORMAT_VERSION}")
    algorithm = raw.get("algorithm")
    if algorithm != ALGORITHM:
        raise bad(f"algorithm {algorithm!r}; only {ALGORITHM!r} is accepted")
    try:
        public = base64.b64decode(str(raw["public_key"]), validate=True)
        sig = base64.b64decode(str(raw["signature"]), validate=True)
        fingerprint, msha = str(raw["key_fingerprint"]), str(raw["manifest_sha256"])
    except KeyError as e:
        raise bad(f"no {e.args[0]!r} field") from None
    except (binascii.Error, ValueError):
        raise bad("public_key or signature is not base64") from None
    if len(public) != 32 or len(sig) != 64:
        raise bad("public_key or signature has the wrong length for ed25519")
    if hashlib.sha256(public).hexdigest() != fingerprint:
        raise bad(f"key_fingerprint {fingerprint[:16]}… is not the fingerprint of its public_key")
    return Signature(algorithm, fingerprint, public, msha, sig)


@dataclass(frozen=True)
class SignatureCheck:
    """Who a release was verified to come from."""

    status: Literal["trusted", "unverified", "unsigned"]
    """trusted: signed by a trusted key (or this workspace's own); unverified: signed, but
    no trusted key is configured; unsigned: no signature file (published before signing)."""
    fingerprint: str | None = None
    """Fingerprint of the signing key (None when unsigned)."""
    source: str = ""
    """Where the trusted key came from (a file), when trusted."""

    @property
    def signer(self) -> str:
        """``key <fingerprint>`` or ``unsigned``."""
        return "unsigned" if self.fingerprint is None else f"key {self.fingerprint}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"status": self.status, "fingerprint": self.fingerprint}

    def warning(self, ref: str) -> str | None:
        """The one-line warning a pull of ``ref`` gives (None when the publisher is trusted)."""
        if self.status == "trusted":
            return None
        what = "an unsigned release" if self.fingerprint is None else f"signed by {self.signer}"
        return (
            f"{ref}: files verified, but the publisher was not ({what}; no trusted key "
            "configured) — pin the publisher's key with --trust FILE or BENCHSMITH_TRUSTED_KEYS"
        )


def check_signature(
    manifest_bytes: bytes,
    signature_bytes: bytes | None,
    trusted: Sequence[PublicKey],
    *,
    where: str,
    known: Sequence[PublicKey] = (),
) -> SignatureCheck:
    """Check who signed ``manifest_bytes`` (see the module doc for the policy).

    ``trusted``: the pinned publisher keys; when non-empty, anything not signed by one of
    them is refused. ``known``: keys that verify a release without refusing others (the
    workspace's own key). ``where`` names the release in messages.

    Raises :class:`TrustError` for an unsigned or foreign-signed release while keys are
    trusted, and for a signature that does not verify; :class:`IntegrityError` for a
    damaged ``signature.json``.
    """
    fix = "pass --trust FILE with the publisher's public key (from `benchsmith keys public`)"
    if signature_bytes is None:
        if trusted:
            raise TrustError(
                f"{where} is unsigned (no {SIGNATURE_NAME}), so it was not published by a "
                f"trusted key ({_names(trusted)}); refusing it — if you expected that, get a "
                f"signed release from the publisher and {fix}"
            )
        return SignatureCheck("unsigned")
    sig = parse_signature(signature_bytes, where=where)
    message = SIGNED_CONTEXT + manifest_bytes
    by_fp = {k.fingerprint: k for k in [*known, *trusted]}
    key = by_fp.get(sig.key_fingerprint)
    if key is not None:
        if not key.verifies(sig.signature, message):
            raise TrustError(
                f"{where}: {SIGNATURE_NAME} does not verify against manifest.json with key "
                f"{key.fingerprint}; the manifest was altered after it was signed — do not use it"
            )
        return SignatureCheck("trusted", key.fingerprint, key.source)
    if trusted:
        raise TrustError(
            f"{where} is signed by key {sig.key_fingerprint}, which is not a trusted key "
            f"({_names(trusted)}); refusing it — it was not published by the publisher you "
            f"trust; if that key really is the publisher's, {fix}"
        )
    # Nobody to check against: the signature must at least be self-consistent.
    if not PublicKey(sig.public_key).verifies(sig.signature, message):
        raise IntegrityError(
            f"{where}: {SIGNATURE_NAME} does not verify against manifest.json; the manifest "
            "was altered after it was signed — do not use this copy"
        )
    return SignatureCheck("unverified", sig.key_fingerprint)


def _names(keys: Sequence[PublicKey]) -> str:
    return "trusted: " + ", ".join(
        f"{k.fingerprint[:16]}… from {k.source}" if k.source else k.fingerprint for k in keys
    )
