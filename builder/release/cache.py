"""The pull cache: verified copies of releases on this machine, and copies out of it.

A pulled release lands in ``<cache>/<registry key>/<name>/<version>/`` (:func:`cache_path`)
only after every file's sha256 and size and the manifest's own content hash check out: it
is downloaded into a hidden ``.tmp-…`` folder beside its place, stamped with
``.verified.json`` (content hash, the signature's sha256, when and from where) and renamed
into place (:func:`fill_cache`), so the cache holds verified releases only.
:func:`read_cached` gives back a usable copy or None; :func:`copy_to_dest` copies one out
(``pull --dest``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from builder.errors import ReleaseError
from builder.release.manifest import MANIFEST_NAME, Manifest, parse_manifest
from builder.release.refs import check_name, check_version, contained
from builder.release.signing import SIGNATURE_NAME
from builder.release.verify import VerifyReport

__all__ = [
    "VERIFIED_NAME",
    "cache_path",
    "copy_to_dest",
    "default_cache_dir",
    "fill_cache",
    "local_opener",
    "read_cached",
]

VERIFIED_NAME = ".verified.json"
"""The stamp a verified cached copy carries."""


def default_cache_dir() -> Path:
    """``BENCHSMITH_CACHE`` or ``~/.cache/benchsmith``."""
    return Path(os.environ.get("BENCHSMITH_CACHE") or "~/.cache/benchsmith").expanduser()


def cache_path(cache_dir: Path, registry_url: str, name: str, version: str) -> Path:
    """Where a verified copy of ``name@version`` from ``registry_url`` is cached.

    ``name`` must be a benchmark name and ``version`` X.Y.Z; the path is checked to stay
    inside ``cache_dir`` (resolved).
    """
    check_name(name)
    check_version(version)
    key = hashlib.sha256(registry_url.encode()).hexdigest()[:16]
    path = Path(cache_dir) / key / name / version
    return contained(cache_dir, path, what=f"the pull cache {cache_dir}")


def local_opener(root: Path) -> Callable[[str], IO[bytes]]:
    """Opens a release file under ``root`` by its manifest path."""

    def opener(rel: str) -> IO[bytes]:
        return open(root / rel, "rb")

    return opener


def _sha(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def read_cached(path: Path) -> tuple[Manifest, bytes, bytes | None, dict[str, Any]] | None:
    """A cached copy's manifest, its bytes, its signature bytes and its stamp; None when
    there is no usable copy (missing, damaged, or cached before signatures were kept)."""
    try:
        data = (path / MANIFEST_NAME).read_bytes()
        marker = json.loads((path / VERIFIED_NAME).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    try:
        manifest = parse_manifest(data, where=f"cached copy at {path}")
    except ReleaseError:
        return None
    if marker.get("content_hash") != manifest.content_hash:
        return None
    try:
        sig: bytes | None = (path / SIGNATURE_NAME).read_bytes()
    except FileNotFoundError:
        sig = None
    if "signature_sha256" not in marker or marker["signature_sha256"] != _sha(sig):
        return None  # cached by an older benchsmith, or damaged: fetch it again
    return manifest, data, sig, marker


def fill_cache(
    target: Path,
    manifest: Manifest,
    raw: bytes,
    sig: bytes | None,
    *,
    registry_url: str,
    fetch: Callable[[Path], VerifyReport],
) -> VerifyReport:
    """Put a verified copy of a release at ``target`` (its :func:`cache_path`).

    ``fetch(folder)`` copies and verifies every data file into ``folder`` (raising on any
    mismatch); then the manifest bytes ``raw``, the signature ``sig`` and the stamp are
    written and the folder is renamed into place. A damaged copy at ``target`` is replaced;
    one a concurrent pull put there first is kept.
    """
    tmp = target.parent / f".tmp-{manifest.version}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir(parents=True)
    try:
        report = fetch(tmp)
        (tmp / MANIFEST_NAME).write_bytes(raw)
        if sig is not None:
            (tmp / SIGNATURE_NAME).write_bytes(sig)
        stamp = {
            "content_hash": manifest.content_hash,
            "signature_sha256": _sha(sig),
            "verified_at": datetime.now(UTC).isoformat(),
            "registry": registry_url,
        }
        (tmp / VERIFIED_NAME).write_text(json.dumps(stamp, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)  # a damaged cached copy, found by the caller
        try:
            os.rename(tmp, target)
        except OSError:
            # A concurrent pull put a copy in place first; it was verified the same way.
            if read_cached(target) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _manifest_only(path: Path) -> Manifest | None:
    try:
        return parse_manifest((path / MANIFEST_NAME).read_bytes(), where=str(path))
    except (FileNotFoundError, ReleaseError):
        return None


def copy_to_dest(src: Path, dest: Path, manifest: Manifest) -> None:
    """Copy the verified release at ``src`` into ``dest`` (new or empty; never overwrites)."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        prior = _manifest_only(dest)
        if prior is not None and prior.content_hash == manifest.content_hash:
            return
        raise ReleaseError(
            f"--dest {dest} exists and is not empty; pick an empty or new folder "
            "(a pull never overwrites files)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    for entry in [*manifest.files]:
        out = dest / entry.path
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / entry.path, out)
    if (src / SIGNATURE_NAME).is_file():
        shutil.copyfile(src / SIGNATURE_NAME, dest / SIGNATURE_NAME)
    shutil.copyfile(src / MANIFEST_NAME, dest / MANIFEST_NAME)
