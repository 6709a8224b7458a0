"""Pull a release: download, verify every byte against the manifest, cache, load.

A pulled release lands in ``<cache>/<registry key>/<name>/<version>/`` only after every
file's sha256 and size and the manifest's own content hash check out, so the cache holds
verified releases only. A second pull re-verifies the cached copy locally (no download)
and, when the registry answers, checks that its manifest still has the same content
hash: a version is immutable, so a different hash means someone altered the registry.

``load_release`` is the Python entry point for engineers::

    from builder import load_release
    df = load_release("debian-sections", "1.0.0", split="test")        # pandas
    ds = load_release("debian-sections", "latest", split="test", as_="hf")  # datasets
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from builder.errors import IntegrityError, ModelMissingError, NotFoundError, ReleaseError
from builder.release.manifest import MANIFEST_NAME, Manifest, parse_manifest
from builder.release.registry import Registry, VerifyReport, YankInfo, verify_files

__all__ = [
    "PullResult",
    "YankedReleaseWarning",
    "cache_path",
    "default_cache_dir",
    "load_release",
    "pull_release",
    "read_rows",
    "read_table",
    "resolve_registry",
]

_VERIFIED = ".verified.json"


class YankedReleaseWarning(UserWarning):
    """The pulled version was yanked by a lead (still readable; see the reason)."""


@dataclass(frozen=True)
class PullResult:
    """A verified local copy of a release."""

    name: str
    version: str
    path: Path
    """Folder holding manifest.json, README.md, CHANGELOG.md and data/."""
    manifest: Manifest
    registry: str
    from_cache: bool
    """True when no byte was downloaded (the cached copy was re-verified)."""
    yanked: YankInfo | None
    verified: VerifyReport

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``pull --json``)."""
        return {
            "name": self.name,
            "version": self.version,
            "path": str(self.path),
            "registry": self.registry,
            "content_hash": self.manifest.content_hash,
            "from_cache": self.from_cache,
            "files": self.verified.files,
            "bytes": self.verified.bytes,
            "seconds": round(self.verified.seconds, 3),
            "splits": {k: v.count for k, v in self.manifest.splits.items()},
            "yanked": None if self.yanked is None else self.yanked.__dict__,
        }


def default_cache_dir() -> Path:
    """``BENCHSMITH_CACHE`` or ``~/.cache/benchsmith``."""
    return Path(os.environ.get("BENCHSMITH_CACHE") or "~/.cache/benchsmith").expanduser()


def resolve_registry(registry: str | Registry | None) -> Registry:
    """A :class:`Registry` from an object, a URL, or ``BENCHSMITH_REGISTRY`` / the default."""
    if isinstance(registry, Registry):
        return registry
    if registry is None:
        from builder.config import Settings

        registry = Settings.from_env().registry
    return Registry(str(registry))


def cache_path(cache_dir: Path, registry_url: str, name: str, version: str) -> Path:
    """Where a verified copy of ``name@version`` from ``registry_url`` is cached."""
    key = hashlib.sha256(registry_url.encode()).hexdigest()[:16]
    return Path(cache_dir) / key / name / version


def _local_opener(root: Path) -> Callable[[str], IO[bytes]]:
    def opener(rel: str) -> IO[bytes]:
        return open(root / rel, "rb")

    return opener


def _cached(path: Path) -> tuple[Manifest, bytes] | None:
    try:
        data = (path / MANIFEST_NAME).read_bytes()
        marker = json.loads((path / _VERIFIED).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    try:
        manifest = parse_manifest(data, where=f"cached copy at {path}")
    except ReleaseError:
        return None
    if marker.get("content_hash") != manifest.content_hash:
        return None
    return manifest, data


def _remote_manifest(reg: Registry, name: str, version: str) -> Manifest | None:
    """The registry's manifest, or None when the registry cannot be reached."""
    try:
        return reg.read_manifest(name, version)
    except NotFoundError:
        return None
    except OSError:
        return None


def _download(
    reg: Registry, name: str, version: str, target: Path
) -> tuple[Manifest, VerifyReport]:
    manifest, raw = reg.manifest_with_bytes(name, version)
    tmp = target.parent / f".tmp-{version}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir(parents=True)
    try:
        report = verify_files(
            manifest,
            lambda p: reg.open(name, version, p),
            where=f"{name}@{version} in {reg.url}",
            copy_to=tmp,
        )
        (tmp / MANIFEST_NAME).write_bytes(raw)
        stamp = {
            "content_hash": manifest.content_hash,
            "verified_at": datetime.now(UTC).isoformat(),
            "registry": reg.url,
        }
        (tmp / _VERIFIED).write_text(json.dumps(stamp, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)  # a damaged cached copy, found by the caller
        try:
            os.rename(tmp, target)
        except OSError:
            # A concurrent pull put a copy in place first; it was verified the same way.
            if _cached(target) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest, report


def _copy_to_dest(src: Path, dest: Path, manifest: Manifest) -> None:
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        prior = _cached_manifest_only(dest)
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
    shutil.copyfile(src / MANIFEST_NAME, dest / MANIFEST_NAME)


def _cached_manifest_only(path: Path) -> Manifest | None:
    try:
        return parse_manifest((path / MANIFEST_NAME).read_bytes(), where=str(path))
    except (FileNotFoundError, ReleaseError):
        return None


def pull_release(
    name: str,
    version: str = "latest",
    *,
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    dest: str | Path | None = None,
    warn_yanked: bool = True,
) -> PullResult:
    """Download and verify ``name@version`` (or reuse the verified cache); see the module doc.

    Raises :class:`IntegrityError` naming the file on any missing or mismatching file.
    Warns with :class:`YankedReleaseWarning` when the version was yanked.
    """
    reg = resolve_registry(registry)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    version = reg.resolve(name, version) if version == "latest" else version
    target = cache_path(cache, reg.url, name, version)
    result: PullResult | None = None
    hit = _cached(target)
    if hit is not None:
        cached, _ = hit
        remote = _remote_manifest(reg, name, version)
        if remote is not None and remote.content_hash != cached.content_hash:
            raise IntegrityError(
                f"{name}@{version} in {reg.url}: manifest.json changed since this machine "
                f"verified it (content hash {remote.content_hash[:16]}… now, "
                f"{cached.content_hash[:16]}… then); published releases never change, so the "
                "registry was altered — investigate before using either copy"
            )
        try:
            report = verify_files(
                cached,
                _local_opener(target),
                where=f"cached copy of {name}@{version} at {target}",
            )
            result = PullResult(name, version, target, cached, reg.url, True, None, report)
        except IntegrityError:
            result = None  # the cache was damaged: fetch a fresh verified copy below
    if result is None:
        reg.resolve(name, version)
        manifest, report = _download(reg, name, version, target)
        result = PullResult(name, version, target, manifest, reg.url, False, None, report)
    try:
        yanked = reg.yank_info(name, version)
    except OSError:
        yanked = None
    result = replace(result, yanked=yanked)
    if yanked is not None and warn_yanked:
        warnings.warn(
            f"{name}@{version} was yanked by {yanked.by} at {yanked.at}: {yanked.reason}",
            YankedReleaseWarning,
            stacklevel=2,
        )
    if dest is not None:
        _copy_to_dest(result.path, Path(dest), result.manifest)
    return result


def read_table(path: Path, manifest: Manifest, split: str) -> Any:
    """The pyarrow table of ``split`` from a verified release folder."""
    import pyarrow.parquet as pq

    if split not in manifest.splits:
        raise ReleaseError(
            f"{manifest.name}@{manifest.version} has no split {split!r}; "
            f"it has {', '.join(manifest.splits) or 'none'}"
        )
    return pq.read_table(path / manifest.data_file(split).path)


def read_rows(path: Path, manifest: Manifest) -> list[dict[str, Any]]:
    """Every row of every split (with a ``split`` key), as plain Python values."""
    rows: list[dict[str, Any]] = []
    for split in manifest.splits:
        for row in read_table(path, manifest, split).to_pylist():
            row["split"] = split
            rows.append(row)
    return rows


def load_release(
    name: str,
    version: str = "latest",
    split: str | None = "test",
    *,
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    as_: Literal["pandas", "hf", "arrow"] = "pandas",
) -> Any:
    """A verified release split as a pandas DataFrame (default), ``datasets.Dataset``
    (``as_="hf"``) or pyarrow Table; ``split=None`` gives every split (a dict, or a
    ``datasets.DatasetDict``). ``registry`` defaults to ``BENCHSMITH_REGISTRY``.
    """
    if as_ not in ("pandas", "hf", "arrow"):
        raise ReleaseError(f"as_={as_!r} is not supported; use 'pandas', 'hf' or 'arrow'")
    pulled = pull_release(name, version, registry=registry, cache_dir=cache_dir)
    splits = list(pulled.manifest.splits) if split is None else [split]
    tables = {s: read_table(pulled.path, pulled.manifest, s) for s in splits}
    if as_ == "arrow":
        out: dict[str, Any] = tables
    elif as_ == "pandas":
        out = {s: t.to_pandas() for s, t in tables.items()}
    else:
        try:
            import datasets
        except ModuleNotFoundError:
            raise ModelMissingError(
                "as_='hf' needs the Hugging Face datasets package; install it with "
                "pip install datasets (or use as_='pandas')"
            ) from None
        hf = {s: datasets.Dataset(t, split=datasets.NamedSplit(s)) for s, t in tables.items()}
        if split is None:
            return datasets.DatasetDict(hf)
        out = hf
    return out if split is None else out[split]
