"""The release registry over fsspec: a local folder by default, any fsspec URL otherwise.

Layout: ``<registry>/<name>/<version>/{manifest.json, signature.json, README.md,
CHANGELOG.md, data/…}`` (``signature.json``: the publisher's signature of the manifest, see
``builder.release.signing``; absent in releases made before signing existed) and, for a
yanked version, ``<registry>/<name>/<version>.yanked.json`` beside it (outside the
immutable folder). A version exists exactly when its ``manifest.json`` does.

Publishing is all-or-nothing. On a local folder the release is staged in a hidden
``.staging-…`` folder next to its final place and renamed into place in one step; on
other filesystems (object stores, ``memory://``) every file is uploaded before the
manifest, which commits it. Leftovers of an interrupted publish are invisible (no
manifest, or a hidden name) and are cleared by the next attempt.

Names and versions are checked (``builder.release.refs``) by every method before a path is
built, and :meth:`Registry.path` refuses ``..``, empty parts, backslashes and NUL and
checks that the final path (resolved, for a folder) stays inside the registry. Registry
URLs are a folder, ``file://``, ``memory://`` or an object store whose fsspec package is
installed (:func:`~builder.release.registry_fs.registry_schemes`); anything else is
refused up front, and a filesystem failure (permission, network, credentials) is a
:class:`~builder.release.registry_fs.RegistryAccessError` naming the URL and the fix
(``builder.release.registry_fs``). Every file written into a local registry is
:data:`~builder.release.staging.PUBLISHED_MODE` (``builder.release.staging``); files are
checked against the manifest by ``builder.release.verify``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from builder.errors import BenchsmithError, IntegrityError, NotFoundError, ReleaseError, shown
from builder.release.manifest import (
    MANIFEST_NAME,
    Manifest,
    parse_manifest,
    version_key,
)
from builder.release.refs import (
    check_name,
    check_version,
    contained,
    contained_posix,
    is_name,
    parse_release_ref,
)
from builder.release.registry_fs import (
    GuardedReader,
    access_error,
    check_scheme,
    guarded,
    registry_schemes,
)
from builder.release.staging import (
    PUBLISHED_MODE,
    clear_stale_staging,
    publish_local,
    staging_name,
)
from builder.release.verify import VerifyReport, verify_files

__all__ = [
    "Registry",
    "ReleaseInfo",
    "YankInfo",
    "parse_ref",
    "parse_release_ref",
]


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


parse_ref = parse_release_ref
"""Old name of :func:`builder.release.refs.parse_release_ref` (the one ref parser)."""


class Registry:
    """A release registry at ``url`` (a folder path or any fsspec URL)."""

    def __init__(self, url: str) -> None:
        self.url = str(url)
        if not self.url.strip() or "\x00" in self.url or "::" in self.url:
            raise ReleaseError(
                f"registry {shown(self.url)} is not a folder or URL; use one of: "
                f"{', '.join(registry_schemes())}"
            )
        check_scheme(self.url)
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url)
        except Exception as e:  # any backend failure: bad URL, missing package, no network
            if isinstance(e, BenchsmithError):
                raise
            raise ReleaseError(
                f"registry {shown(self.url)} cannot be opened "
                f"({shown(f'{type(e).__name__}: {e}', 160)}); use a folder or one of: "
                f"{', '.join(registry_schemes())}"
            ) from None
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    # ------------------------------------------------------------------ paths and reads

    def path(self, *parts: str) -> str:
        """Filesystem path of ``parts`` under the registry root.

        Each part is one or more ``/``-separated names; an empty, ``.`` or ``..`` name, a
        backslash or a NUL is refused, and the joined path must stay inside the registry
        (resolved, for a local folder): nothing is ever read or written outside it.
        """
        for part in parts:
            names = part.split("/") if isinstance(part, str) else [""]
            if any(n in ("", ".", "..") or "\\" in n or "\x00" in n for n in names):
                raise ReleaseError(
                    f"path part {shown(part)} is not a plain name inside the registry "
                    f"{self.url}; a release path is NAME/VERSION/FILE with no '..', empty "
                    "part, backslash or NUL"
                )
        full = (
            "/".join([self.root.rstrip("/"), *parts]) if self.root != "/" else "/" + "/".join(parts)
        )
        what = f"the registry {self.url}"
        if self.is_local:
            contained(self.root, full, what=what)
        else:
            contained_posix(self.root, full, what=what)
        return full

    @guarded("list it")
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
            if e["type"] == "directory" and is_name(name) and self.versions(name):
                out.append(name)
        return sorted(out)

    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, oldest first (folders with a manifest)."""
        check_name(name)
        found = []
        for e in self._ls(self.path(name)):
            version = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if e["type"] != "directory" or version_key(version)[0] < 0:
                continue
            if self._exists(self.path(name, version, MANIFEST_NAME)):
                found.append(version)
        return sorted(found, key=version_key)

    @guarded("read it")
    def _exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def exists(self, name: str, version: str) -> bool:
        """True when ``name@version`` is published."""
        check_name(name)
        check_version(version)
        return self._exists(self.path(name, version, MANIFEST_NAME))

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
        check_name(name)
        if check_version(version, latest=True) == "latest":
            return self.latest(name)
        if not self.exists(name, version):
            have = self.versions(name)
            raise NotFoundError(
                f"release {name}@{version} is not in the registry {self.url}; "
                f"available: {', '.join(have) if have else 'none'}"
            )
        return version

    def _release_path(self, name: str, version: str, *rest: str) -> str:
        return self.path(check_name(name), check_version(version), *rest)

    @guarded("read a release file from it")
    def read_bytes(self, name: str, version: str, path: str) -> bytes:
        """One file of a release."""
        data: bytes = self.fs.cat_file(self._release_path(name, version, path))
        return data

    @guarded("open a release file in it")
    def open(self, name: str, version: str, path: str) -> IO[bytes]:
        """A binary reader for one file of a release."""
        full = self._release_path(name, version, path)
        if self.is_local:
            return open(full, "rb")
        # Remote reads fail mid-file too (a dropped connection): those become one error.
        return cast("IO[bytes]", GuardedReader(self.fs.open(full, "rb"), self.url))

    def read_manifest(self, name: str, version: str) -> Manifest:
        """The verified manifest of ``name@version`` (its own hash is checked)."""
        return self.manifest_with_bytes(name, version)[0]

    def manifest_with_bytes(self, name: str, version: str) -> tuple[Manifest, bytes]:
        """The verified manifest and the exact bytes it was parsed from."""
        check_name(name)
        check_version(version)
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

    def read_signature(self, name: str, version: str) -> bytes | None:
        """The bytes of ``name@version``'s ``signature.json``, or None when it is unsigned."""
        from builder.release.signing import SIGNATURE_NAME

        try:
            return self.read_bytes(name, version, SIGNATURE_NAME)
        except FileNotFoundError:
            return None

    @guarded("verify a release in it")
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
        return self.path(check_name(name), f"{check_version(version)}.yanked.json")

    @guarded("read a yank marker from it")
    def yank_info(self, name: str, version: str) -> YankInfo | None:
        """Why ``name@version`` was yanked, or None.

        A marker that exists but cannot be read or parsed is an error (never "not yanked"):
        a :class:`ReleaseError` naming the file and the fix.
        """
        path = self._yank_path(name, version)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except PermissionError:
            # Not a RegistryAccessError (an OSError): a pull must not take this for an
            # unreachable registry and carry on as if the version were not yanked.
            raise ReleaseError(
                f"{name}@{version} in {self.url}: the yank marker {path} exists but cannot be "
                "read (permission denied); ask whoever yanked it to make it readable "
                f"(chmod 0444 {path}) — until then treat the version as yanked"
            ) from None
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            raise IntegrityError(
                f"{name}@{version} in {self.url}: the yank marker {path} is damaged ({e}); "
                "treat the version as yanked and ask a lead to yank it again"
            ) from None
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
        self.write_file(self._yank_path(name, version), data)
        return info

    @guarded("write to it")
    def write_file(self, path: str, data: bytes) -> None:
        """Write one small file (a yank marker, a signature …) at ``path`` in the registry.

        ``path`` comes from :meth:`path`. Locally the write is atomic and the file gets
        :data:`PUBLISHED_MODE`, like every release file, so that every user of a shared
        registry can read it.
        """
        what = f"the registry {self.url}"
        if self.is_local:
            from builder.fsutil import write_bytes_atomic

            contained(self.root, path, what=what)
            write_bytes_atomic(path, data, mode=PUBLISHED_MODE)
        else:
            contained_posix(self.root, path, what=what)
            self.fs.pipe_file(path, data)

    # ---------------------------------------------------------------------- publishing

    @contextlib.contextmanager
    def staging(self, name: str, version: str) -> Iterator[Path]:
        """A local folder to build ``name@version`` in; removed unless published."""
        check_name(name)
        check_version(version)
        if self.is_local:
            parent = Path(self.path(name))
            try:
                clear_stale_staging(parent, version)
                parent.mkdir(parents=True, exist_ok=True)
                path = parent / staging_name(version)
                path.mkdir()
            except OSError as e:
                raise access_error(self.url, f"create a folder in {parent}", e) from e
        else:
            path = Path(tempfile.mkdtemp(prefix=f"benchsmith-{name}-{version}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    @guarded("publish to it")
    def publish(self, staging: Path, name: str, version: str, *, replace: bool = False) -> None:
        """Move a fully built release (manifest included) into place.

        Refuses an existing version unless ``replace`` (only for a private half whose
        public release never appeared). Local: one rename; elsewhere: files, then manifest.
        """
        check_name(name)
        check_version(version)
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
            publish_local(staging, Path(target))
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
        target = self._release_path(name, version)
        try:
            if self.is_local:
                shutil.rmtree(target)
            else:
                self.fs.rm(target, recursive=True)
        except (FileNotFoundError, OSError):
            pass
