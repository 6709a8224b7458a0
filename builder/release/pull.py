"""Pull a release: download, verify every byte against the manifest, cache, load.

A pulled release lands in ``<cache>/<registry key>/<name>/<version>/`` only after every
file's sha256 and size and the manifest's own content hash check out, so the cache holds
verified releases only (``builder.release.cache``). A second pull re-verifies the cached
copy locally (no download) and, when the registry answers, checks that its manifest still
has the same content hash: a version is immutable, so a different hash means someone
altered the registry.

Checksums prove integrity, not origin: anyone who can write to the registry can recompute
them. So every pull also checks who signed the manifest (``builder.release.signing``):
with trusted publisher keys (``trust=`` / ``pull --trust FILE`` / ``BENCHSMITH_TRUSTED_KEYS``)
a release not signed by one of them is refused with :class:`TrustError`; with none, the
pull warns in one line (:class:`UnverifiedPublisherWarning`) that the publisher was not
verified. A cached copy is re-checked against the registry's manifest *and* signature
before use, and against the current trust. In the publishing workspace
(``workspace=``), a release whose content hash differs from the one the workspace recorded
when it published it is refused, and the workspace's own key verifies its releases.

``load_release`` is the Python entry point for engineers::

    from builder import load_release
    df = load_release("debian-sections", "1.0.0", split="test")        # pandas
    ds = load_release("debian-sections", "latest", split="test", as_="hf")  # datasets
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from builder.conversation import is_arrow_type
from builder.errors import IntegrityError, ModelMissingError, NotFoundError, ReleaseError
from builder.release.cache import (
    cache_path,
    copy_to_dest,
    default_cache_dir,
    fill_cache,
    local_opener,
    read_cached,
)
from builder.release.manifest import Manifest
from builder.release.refs import check_name, check_version
from builder.release.registry import Registry, YankInfo
from builder.release.signing import (
    SIGNATURE_NAME,
    PublicKey,
    SignatureCheck,
    check_signature,
    load_trusted_keys,
    parse_signature,
    workspace_public_key,
)
from builder.release.verify import VerifyReport, verify_files

if TYPE_CHECKING:
    from builder.workspace import Workspace

__all__ = [
    "PullResult",
    "RegistryUncheckedWarning",
    "TrustArg",
    "UnverifiedPublisherWarning",
    "YankedReleaseWarning",
    "load_release",
    "pull_release",
    "read_rows",
    "read_table",
    "resolve_registry",
]


class YankedReleaseWarning(UserWarning):
    """The pulled version was yanked by a lead (still readable; see the reason)."""


class UnverifiedPublisherWarning(UserWarning):
    """Every file was verified, but not the publisher: no trusted key is configured (or the
    release is unsigned)."""


class RegistryUncheckedWarning(UserWarning):
    """A cached copy was used without re-checking it against the registry (which did not
    answer for that version: offline, moved, or the version was removed)."""


TrustArg = str | Path | PublicKey | Iterable[str | Path | PublicKey] | None
"""Trusted publisher keys: PEM public key files and/or :class:`PublicKey` objects; None
means ``BENCHSMITH_TRUSTED_KEYS`` (or the workspace's settings)."""


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
    signature: SignatureCheck
    """Who signed it: ``trusted`` (a trusted key or the workspace's own), ``unverified`` or
    ``unsigned``."""
    registry_checked: bool = True
    """False when a cached copy was used without the registry answering for the version."""

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
            "publisher": self.signature.to_dict(),
            "registry_checked": self.registry_checked,
        }


def resolve_registry(registry: str | Registry | None) -> Registry:
    """A :class:`Registry` from an object, a URL, or ``BENCHSMITH_REGISTRY`` / the default."""
    if isinstance(registry, Registry):
        return registry
    if registry is None:
        from builder.config import Settings

        registry = Settings.from_env().registry
    return Registry(str(registry))


def _remote(reg: Registry, name: str, version: str) -> tuple[Manifest, bytes | None] | None:
    """The registry's manifest and signature, or None when the registry does not answer."""
    try:
        return reg.read_manifest(name, version), reg.read_signature(name, version)
    except (NotFoundError, OSError):
        return None


@dataclass(frozen=True)
class _Trust:
    keys: tuple[PublicKey, ...]
    known: tuple[PublicKey, ...]

    def check(self, raw: bytes, sig: bytes | None, *, where: str) -> SignatureCheck:
        return check_signature(raw, sig, self.keys, where=where, known=self.known)


def _resolve_trust(trust: TrustArg, workspace: Workspace | None) -> _Trust:
    if trust is None:
        if workspace is not None:
            trust = workspace.settings.trusted_keys
        else:
            from builder.config import Settings

            trust = Settings.from_env().trusted_keys
    elif isinstance(trust, str | Path | PublicKey):
        trust = [trust]
    own = workspace_public_key(workspace.settings.keys_dir) if workspace is not None else None
    return _Trust(load_trusted_keys(trust), () if own is None else (own,))


def _same_registry(url: str, reg: Registry) -> bool:
    if url == reg.url:
        return True
    try:
        other = Registry(url)
    except ReleaseError:
        return False
    if other.is_local and reg.is_local:
        return Path(other.root).resolve() == Path(reg.root).resolve()
    return type(other.fs) is type(reg.fs) and other.root.rstrip("/") == reg.root.rstrip("/")


def _recorded_hash(ws: Workspace, reg: Registry, name: str, version: str) -> str | None:
    """The content hash ``ws`` recorded when it published ``name@version`` to ``reg``."""
    from builder.store.benchmarks import get_benchmark
    from builder.store.releases import get_release

    with ws.db.session() as s:
        bench = get_benchmark(s, name)
        row = None if bench is None or bench.id is None else get_release(s, bench.id, version)
        if row is None:
            return None
        url, recorded = row.registry_url, row.content_hash
    return recorded if _same_registry(url, reg) else None


def _check_recorded(recorded: str | None, content_hash: str, *, where: str) -> None:
    if recorded is not None and recorded != content_hash:
        raise IntegrityError(
            f"{where}: content hash {content_hash[:16]}… differs from {recorded[:16]}…, the one "
            "this workspace recorded when it published it; the registry copy was replaced — do "
            "not use it (restore the release folder from a backup)"
        )


def _signer(sig: bytes | None) -> str:
    if sig is None:
        return "unsigned"
    try:
        return f"key {parse_signature(sig, where='').key_fingerprint}"
    except ReleaseError:
        return "a damaged signature"


def _download(
    reg: Registry,
    name: str,
    version: str,
    target: Path,
    *,
    trust: _Trust,
    recorded: str | None,
) -> tuple[Manifest, SignatureCheck, VerifyReport]:
    where = f"{name}@{version} in {reg.url}"
    manifest, raw = reg.manifest_with_bytes(name, version)
    sig = reg.read_signature(name, version)
    # Who published it, before a byte of data is fetched.
    check = trust.check(raw, sig, where=where)
    _check_recorded(recorded, manifest.content_hash, where=where)
    report = fill_cache(
        target,
        manifest,
        raw,
        sig,
        registry_url=reg.url,
        fetch=lambda tmp: verify_files(
            manifest, lambda p: reg.open(name, version, p), where=where, copy_to=tmp
        ),
    )
    return manifest, check, report


def pull_release(
    name: str,
    version: str = "latest",
    *,
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    dest: str | Path | None = None,
    warn_yanked: bool = True,
    trust: TrustArg = None,
    workspace: Workspace | None = None,
    warn_unverified: bool = True,
) -> PullResult:
    """Download and verify ``name@version`` (or reuse the verified cache); see the module doc.

    ``trust``: trusted publisher keys (PEM files or :class:`PublicKey`); None reads
    ``BENCHSMITH_TRUSTED_KEYS`` (the workspace's settings when ``workspace`` is given).
    ``workspace``: the publishing workspace, if open: its registry and cache are the
    defaults, its own key verifies its releases, and a release it published must still
    have the content hash it recorded.

    Raises :class:`IntegrityError` naming the file on any missing or mismatching file, or
    when the registry changed since the copy was cached or since the workspace published
    it; :class:`TrustError` when trusted keys are configured and the release is unsigned or
    signed by another key (the message names that key's fingerprint); ``ConfigError`` for an
    unreadable trusted key file. Warns with :class:`YankedReleaseWarning` when the version
    was yanked, :class:`UnverifiedPublisherWarning` (one line) when no trusted key verified
    the publisher, and :class:`RegistryUncheckedWarning` when a cached copy was used
    without the registry answering.
    """
    check_name(name, where="pull_release")
    check_version(version, where="pull_release", latest=True)
    if workspace is not None:
        registry = workspace.settings.registry if registry is None else registry
        cache_dir = workspace.settings.cache_dir if cache_dir is None else cache_dir
    reg = resolve_registry(registry)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    trusted = _resolve_trust(trust, workspace)
    version = reg.resolve(name, version) if version == "latest" else version
    target = cache_path(cache, reg.url, name, version)
    where = f"{name}@{version} in {reg.url}"
    recorded = None if workspace is None else _recorded_hash(workspace, reg, name, version)
    result: PullResult | None = None
    verified_at = ""
    hit = read_cached(target)
    if hit is not None:
        cached, raw, sig, stamp = hit
        verified_at = str(stamp.get("verified_at", "?"))
        remote = _remote(reg, name, version)
        if remote is not None and remote[0].content_hash != cached.content_hash:
            raise IntegrityError(
                f"{where}: manifest.json changed since this machine "
                f"verified it (content hash {remote[0].content_hash[:16]}… now, "
                f"{cached.content_hash[:16]}… then); published releases never change, so the "
                "registry was altered — investigate before using either copy"
            )
        if remote is not None and remote[1] != sig:
            raise IntegrityError(
                f"{where}: {SIGNATURE_NAME} changed since this machine verified it "
                f"({_signer(remote[1])} now, {_signer(sig)} then); published releases never "
                "change, so the registry was altered — investigate before using either copy"
            )
        # The trust may differ from the pull that cached it: check the publisher again.
        check = trusted.check(raw, sig, where=where)
        _check_recorded(recorded, cached.content_hash, where=where)
        try:
            report = verify_files(
                cached,
                local_opener(target),
                where=f"cached copy of {name}@{version} at {target}",
            )
            result = PullResult(
                name, version, target, cached, reg.url, True, None, report, check,
                registry_checked=remote is not None,
            )  # fmt: skip
        except IntegrityError:
            result = None  # the cache was damaged: fetch a fresh verified copy below
    if result is None:
        reg.resolve(name, version)
        manifest, check, report = _download(
            reg, name, version, target, trust=trusted, recorded=recorded
        )
        result = PullResult(name, version, target, manifest, reg.url, False, None, report, check)
    if not result.registry_checked:
        warnings.warn(
            f"{name}@{version}: the registry {reg.url} did not answer for it (offline, moved or "
            f"removed), so the copy this machine verified at {verified_at} was used unchecked",
            RegistryUncheckedWarning,
            stacklevel=2,
        )
    unverified = result.signature.warning(f"{name}@{version}")
    if unverified is not None and warn_unverified:
        warnings.warn(unverified, UnverifiedPublisherWarning, stacklevel=2)
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
        copy_to_dest(result.path, Path(dest), result.manifest)
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


def _conversations_as_lists(table: Any, frame: Any) -> Any:
    """``frame`` with each conversation column (``list<struct<role, content>>``) holding
    Python lists of ``{"role", "content"}`` dicts rather than numpy arrays of them."""
    for field in table.schema:
        if is_arrow_type(field.type):
            frame[field.name] = _pd_series(table.column(field.name).to_pylist(), frame.index)
    return frame


def _pd_series(values: list[Any], index: Any) -> Any:
    """A pandas object Series of ``values`` (lists stay lists) on ``index``."""
    import pandas as pd

    return pd.Series(values, index=index, dtype=object)


def load_release(
    name: str,
    version: str = "latest",
    split: str | None = "test",
    *,
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    as_: Literal["pandas", "hf", "arrow"] = "pandas",
    trust: TrustArg = None,
    workspace: Workspace | None = None,
) -> Any:
    """A verified release split as a pandas DataFrame (default), ``datasets.Dataset``
    (``as_="hf"``) or pyarrow Table; ``split=None`` gives every split (a dict, or a
    ``datasets.DatasetDict``). ``registry`` defaults to ``BENCHSMITH_REGISTRY``.

    ``trust`` (publisher public key files; default ``BENCHSMITH_TRUSTED_KEYS``) and
    ``workspace`` are as in :func:`pull_release`: a release not signed by a trusted key is
    refused with ``TrustError``; with no trusted key, a one-line warning says so.
    """
    if as_ not in ("pandas", "hf", "arrow"):
        raise ReleaseError(f"as_={as_!r} is not supported; use 'pandas', 'hf' or 'arrow'")
    check_name(name, where="load_release")
    check_version(version, where="load_release", latest=True)
    pulled = pull_release(
        name, version, registry=registry, cache_dir=cache_dir, trust=trust, workspace=workspace
    )
    splits = list(pulled.manifest.splits) if split is None else [split]
    tables = {s: read_table(pulled.path, pulled.manifest, s) for s in splits}
    if as_ == "arrow":
        out: dict[str, Any] = tables
    elif as_ == "pandas":
        out = {s: _conversations_as_lists(t, t.to_pandas()) for s, t in tables.items()}
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
