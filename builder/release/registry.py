"""The release registry over fsspec: a local folder by default, any fsspec URL otherwise.

Layout: ``<registry>/<name>/<version>/{manifest.json, README.md, CHANGELOG.md, data/…}``
and, for a yanked version, ``<registry>/<name>/<version>.yanked.json`` beside it (outside
the immutable folder). A version exists exactly when its ``manifest.json`` does.

Publishing is all-or-nothing. On a local folder the release is staged in a hidden
``.staging-…`` folder next to its final place and renamed into place in one step; on
other filesystems (object stores, ``memory://``) every file is uploaded before the
manifest, which commits it. Leftovers of an interrupted publish are invisible (no
manifest, or a hidden name) and are cleared by the next attempt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from builder.errors import IntegrityError, NotFoundError, ReleaseError
from builder.release.manifest import (
    MANIFEST_NAME,
    Manifest,
    parse_manifest,
    parse_version,
    version_key,
)

__all__ = [
    "CHUNK",
    "Registry",
    "ReleaseInfo",
    "VerifyReport",
    "YankInfo",
    "hash_stream",
    "parse_ref",
    "verify_files",
]

CHUNK = 1 << 20
"""Read size for hashing and copying (1 MiB: large enough to run at hashlib's speed)."""
_STALE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class YankInfo:
    """Why and when a version was yanked (it stays readable; pulls warn)."""

    reason: str
    by: str
    at: str


@dataclass(frozen=True)
class ReleaseInfo:
    """One version as ``releases list`` shows it."""

    name: str
    version: str
    created_at: str
    created_by: str
    items: int
    splits: dict[str, int]
    content_hash: str
    parent: str | None
    yanked: YankInfo | None


@dataclass(frozen=True)
class VerifyReport:
    """What a verification read."""

    files: int
    bytes: int
    seconds: float


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME@VERSION`` or ``NAME@latest`` (or bare ``NAME``, meaning latest) → (name, version)."""
    name, _, version = ref.partition("@")
    name, version = name.strip(), (version.strip() or "latest")
    if not name:
        raise ReleaseError(
            f"release reference {ref!r} has no name; use NAME@VERSION, e.g. debian-sections@1.0.0"
        )
    if version != "latest":
        parse_version(version)
    return name, version


def hash_stream(f: IO[bytes], out: IO[bytes] | None = None) -> tuple[str, int]:
    """sha256 and size of a binary stream, copying it to ``out`` on the way."""
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    return h.hexdigest(), size


def verify_files(
    manifest: Manifest,
    opener: Callable[[str], IO[bytes]],
    *,
    where: str,
    copy_to: Path | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Check every file of ``manifest`` (sha256 and size), optionally copying it to ``copy_to``.

    Raises :class:`IntegrityError` naming the first missing or mismatching file. Files are
    hashed in parallel threads (hashlib releases the GIL on large buffers).
    """
    started = time.perf_counter()

    def one(entry: Any) -> int:
        try:
            src = opener(entry.path)
        except FileNotFoundError:
            raise IntegrityError(
                f"{where}: file {entry.path} is missing; the release is incomplete — "
                "do not use it (re-publish it or pull another version)"
            ) from None
        with contextlib.ExitStack() as stack:
            stack.enter_context(src)
            out = None
            if copy_to is not None:
                target = copy_to / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                out = stack.enter_context(open(target, "wb"))
            digest, size = hash_stream(src, out)
        if size != entry.size or digest != entry.sha256:
            raise IntegrityError(
                f"{where}: file {entry.path} fails verification: sha256 {digest[:16]}… and "
                f"{size:,} bytes, but the manifest says {entry.sha256[:16]}… and "
                f"{entry.size:,} bytes; the file was modified or corrupted — do not use it"
            )
        return size

    n = workers or min(4, os.cpu_count() or 1, max(1, len(manifest.files)))
    with ThreadPoolExecutor(max_workers=n) as pool:
        sizes = list(pool.map(one, manifest.files))
    return VerifyReport(len(sizes), sum(sizes), time.perf_counter() - started)


def _host() -> str:
    # Dashes separate the parts of a staging folder's name.
    return socket.gethostname().replace("-", "_") or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Registry:
    """A release registry at ``url`` (a folder path or any fsspec URL)."""

    def __init__(self, url: str) -> None:
        self.url = str(url)
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as e:
            raise ReleaseError(
                f"registry {self.url!r} cannot be opened ({e}); use a folder or an fsspec URL "
                "whose filesystem package is installed (e.g. s3fs for s3://)"
            ) from None
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    # ------------------------------------------------------------------ paths and reads

    def path(self, *parts: str) -> str:
        """Filesystem path of ``parts`` under the registry root."""
        return (
            "/".join([self.root.rstrip("/"), *parts]) if self.root != "/" else "/" + "/".join(parts)
        )

    def _ls(self, path: str) -> list[dict[str, Any]]:
        try:
            return list(self.fs.ls(path, detail=True))
        except FileNotFoundError:
            return []

    def names(self) -> list[str]:
        """Benchmark names that have at least one version."""
        out = []
        for e in self._ls(self.root):
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if e["type"] == "directory" and not name.startswith(".") and self.versions(name):
                out.append(name)
        return sorted(out)

    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, oldest first (folders with a manifest)."""
        found = []
        for e in self._ls(self.path(name)):
            version = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if e["type"] != "directory" or version_key(version)[0] < 0:
                continue
            if self.fs.exists(self.path(name, version, MANIFEST_NAME)):
                found.append(version)
        return sorted(found, key=version_key)

    def exists(self, name: str, version: str) -> bool:
        """True when ``name@version`` is published."""
        return bool(self.fs.exists(self.path(name, version, MANIFEST_NAME)))

    def latest(self, name: str) -> str:
        """The newest version that is not yanked."""
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(
                f"no release of {name!r} in the registry {self.url}; check the name "
                f"(it has {self.names() or 'none'}) or pass --registry URL"
            )
        live = [v for v in versions if self.yank_info(name, v) is None]
        if not live:
            raise NotFoundError(
                f"every release of {name!r} in {self.url} is yanked ({', '.join(versions)}); "
                "pull one explicitly with NAME@VERSION if you must"
            )
        return live[-1]

    def resolve(self, name: str, version: str) -> str:
        """``latest`` → the newest live version; a concrete version must exist."""
        if version == "latest":
            return self.latest(name)
        parse_version(version)
        if not self.exists(name, version):
            have = self.versions(name)
            raise NotFoundError(
                f"release {name}@{version} is not in the registry {self.url}; "
                f"available: {', '.join(have) if have else 'none'}"
            )
        return version

    def read_bytes(self, name: str, version: str, path: str) -> bytes:
        """One file of a release."""
        data: bytes = self.fs.cat_file(self.path(name, version, path))
        return data

    def open(self, name: str, version: str, path: str) -> IO[bytes]:
        """A binary reader for one file of a release."""
        full = self.path(name, version, path)
        if self.is_local:
            return open(full, "rb")
        f: IO[bytes] = self.fs.open(full, "rb")
        return f

    def read_manifest(self, name: str, version: str) -> Manifest:
        """The verified manifest of ``name@version`` (its own hash is checked)."""
        return self.manifest_with_bytes(name, version)[0]

    def manifest_with_bytes(self, name: str, version: str) -> tuple[Manifest, bytes]:
        """The verified manifest and the exact bytes it was parsed from."""
        try:
            data = self.read_bytes(name, version, MANIFEST_NAME)
        except FileNotFoundError:
            raise NotFoundError(
                f"release {name}@{version} is not in the registry {self.url}; "
                f"available: {', '.join(self.versions(name)) or 'none'}"
            ) from None
        manifest = parse_manifest(data, where=f"{name}@{version} in {self.url}")
        if (manifest.name, manifest.version) != (name, version):
            raise IntegrityError(
                f"{name}@{version} in {self.url}: manifest.json describes "
                f"{manifest.name}@{manifest.version}; the folder was moved or replaced"
            )
        return manifest, data

    def verify(self, name: str, version: str, *, workers: int | None = None) -> VerifyReport:
        """Check every file's sha256 and size and the manifest's content hash, in place."""
        manifest = self.read_manifest(name, version)
        return verify_files(
            manifest,
            lambda p: self.open(name, version, p),
            where=f"{name}@{version} in {self.url}",
            workers=workers,
        )

    def releases(self, name: str) -> list[ReleaseInfo]:
        """Every version of ``name`` with its summary, oldest first."""
        out = []
        for v in self.versions(name):
            m = self.read_manifest(name, v)
            out.append(
                ReleaseInfo(
                    name=name,
                    version=v,
                    created_at=m.created_at.isoformat(),
                    created_by=m.created_by,
                    items=sum(s.count for s in m.splits.values()),
                    splits={k: s.count for k, s in m.splits.items()},
                    content_hash=m.content_hash,
                    parent=m.parent,
                    yanked=self.yank_info(name, v),
                )
            )
        return out

    # ------------------------------------------------------------------------- yanking

    def _yank_path(self, name: str, version: str) -> str:
        return self.path(name, f"{version}.yanked.json")

    def yank_info(self, name: str, version: str) -> YankInfo | None:
        """Why ``name@version`` was yanked, or None."""
        try:
            raw = json.loads(self.fs.cat_file(self._yank_path(name, version)))
        except FileNotFoundError:
            return None
        return YankInfo(
            reason=str(raw.get("reason", "")), by=str(raw.get("by", "")), at=str(raw.get("at", ""))
        )

    def yank(self, name: str, version: str, *, reason: str, by: str) -> YankInfo:
        """Mark ``name@version`` yanked: it stays readable, pulls warn, ``latest`` skips it."""
        if not reason.strip():
            raise ReleaseError(
                "give a reason for the yank with --reason TEXT; users see it on pull"
            )
        self.resolve(name, version)
        prior = self.yank_info(name, version)
        if prior is not None:
            raise ReleaseError(
                f"{name}@{version} is already yanked ({prior.reason!r} by {prior.by} at {prior.at})"
            )
        info = YankInfo(
            reason=reason.strip(), by=by, at=datetime.now(UTC).isoformat(timespec="seconds")
        )
        data = (json.dumps(info.__dict__, indent=2, sort_keys=True) + "\n").encode()
        if self.is_local:
            from builder.fsutil import write_bytes_atomic

            write_bytes_atomic(self._yank_path(name, version), data)
        else:
            self.fs.pipe_file(self._yank_path(name, version), data)
        return info

    # ---------------------------------------------------------------------- publishing

    def _clear_stale_staging(self, name: str, version: str) -> None:
        parent = Path(self.path(name))
        if not parent.is_dir():
            return
        host = _host()
        for d in parent.glob(f".staging-{version}-*"):
            parts = d.name.split("-")
            try:
                same_host, pid = parts[2] == host, int(parts[3])
            except (IndexError, ValueError):
                same_host, pid = False, -1
            stale = time.time() - d.stat().st_mtime > _STALE_SECONDS
            if stale or (same_host and not _pid_alive(pid)):
                shutil.rmtree(d, ignore_errors=True)

    @contextlib.contextmanager
    def staging(self, name: str, version: str) -> Iterator[Path]:
        """A local folder to build ``name@version`` in; removed unless published."""
        if self.is_local:
            self._clear_stale_staging(name, version)
            parent = Path(self.path(name))
            parent.mkdir(parents=True, exist_ok=True)
            path = parent / f".staging-{version}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            path.mkdir()
        else:
            path = Path(tempfile.mkdtemp(prefix=f"benchsmith-{name}-{version}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish(self, staging: Path, name: str, version: str, *, replace: bool = False) -> None:
        """Move a fully built release (manifest included) into place.

        Refuses an existing version unless ``replace`` (only for a private half whose
        public release never appeared). Local: one rename; elsewhere: files, then manifest.
        """
        if not (staging / MANIFEST_NAME).is_file():
            raise ReleaseError(
                f"staging folder {staging} has no {MANIFEST_NAME}; nothing to publish"
            )
        if self.exists(name, version) and not replace:
            raise ReleaseError(
                f"release {name}@{version} already exists in {self.url}; releases are "
                "immutable — publish a new version instead"
            )
        target = self.path(name, version)
        if self.is_local:
            _publish_local(staging, Path(target))
        else:
            if self.fs.exists(target):
                self.fs.rm(target, recursive=True)  # an earlier attempt's partial upload
            files = sorted(p for p in staging.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
            for p in files:
                rel = p.relative_to(staging).as_posix()
                with contextlib.suppress(NotImplementedError, FileExistsError):
                    self.fs.makedirs(self.path(name, version, *rel.split("/")[:-1]), exist_ok=True)
                self.fs.put_file(str(p), self.path(name, version, rel))
            self.fs.put_file(str(staging / MANIFEST_NAME), self.path(name, version, MANIFEST_NAME))

    def remove(self, name: str, version: str) -> None:
        """Delete ``name@version`` (only for a private half whose public release failed)."""
        target = self.path(name, version)
        try:
            if self.is_local:
                shutil.rmtree(target)
            else:
                self.fs.rm(target, recursive=True)
        except (FileNotFoundError, OSError):
            pass


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
            p.chmod(0o444)  # published files are immutable; make accidents loud
    for d in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish_local(staging: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if staging.parent.resolve() != target.parent.resolve():
        # Built elsewhere (maybe another filesystem): copy beside the target first, so the
        # step that makes the version visible is still one rename.
        sibling = (
            target.parent / f".staging-{target.name}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        shutil.copytree(staging, sibling)
        try:
            _publish_local(sibling, target)
        finally:
            shutil.rmtree(sibling, ignore_errors=True)
        return
    _fsync_tree(staging)
    if target.exists():
        # No manifest (checked by the caller) or an orphaned private half: not a release.
        shutil.rmtree(target)
    try:
        os.rename(staging, target)
    except OSError as e:
        raise ReleaseError(
            f"cannot move the release into {target} ({e.strerror}); another release of the "
            "same version may have won the race — list the registry and pick a new version"
        ) from None
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
