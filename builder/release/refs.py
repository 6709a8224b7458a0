"""Benchmark names, versions and ``NAME@VERSION`` references: the only way into a path.

A benchmark name is a slug (:data:`builder.spec.SLUG`: lowercase ASCII letters, digits and
single dashes, at most 64 characters) and a version is ``X.Y.Z``
(:func:`builder.release.manifest.parse_version`, the one semver parser). Every entry
point checks them here before a path is built from them: the CLI's references
(:func:`parse_release_ref`), ``pull_release``/``load_release``, every
:class:`~builder.release.registry.Registry` method and the pull cache. As defence in
depth, :func:`contained` checks the final path again, resolved (``..`` and symlinks
followed), against the registry or cache folder it must stay inside.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from builder.errors import ReleaseError, shown
from builder.release.manifest import parse_version
from builder.spec import SLUG

__all__ = [
    "LATEST",
    "NAME_MAX",
    "check_name",
    "check_version",
    "contained",
    "contained_posix",
    "is_name",
    "parse_release_ref",
]

NAME_MAX = 64
"""Longest benchmark name (as in the spec)."""
LATEST = "latest"
_SLUG = re.compile(SLUG)
_EXAMPLE = "debian-sections@1.0.0"


def is_name(text: object) -> bool:
    """True when ``text`` is a valid benchmark name."""
    return isinstance(text, str) and len(text) <= NAME_MAX and _SLUG.fullmatch(text) is not None


def check_name(name: object, *, where: str = "") -> str:
    """``name`` when it is a slug, else a :class:`ReleaseError` naming it and ``where``."""
    if is_name(name):
        return name  # type: ignore[return-value]
    prefix = f"{where}: " if where else ""
    raise ReleaseError(
        f"{prefix}benchmark name {shown(name)} is not a slug; use lowercase letters, digits "
        f"and single dashes (at most {NAME_MAX} characters), e.g. {_EXAMPLE.split('@')[0]}"
    )


def check_version(version: object, *, where: str = "", latest: bool = False) -> str:
    """``version`` when it is ``X.Y.Z`` (or ``latest`` when ``latest``), else a ReleaseError."""
    if latest and version == LATEST:
        return LATEST
    try:
        parse_version(version)  # type: ignore[arg-type]
    except ReleaseError as e:
        if not where:
            raise
        raise ReleaseError(f"{where}: {e}") from None
    return version  # type: ignore[return-value]


def parse_release_ref(ref: str) -> tuple[str, str]:
    """``NAME@VERSION``, ``NAME@latest`` or a bare ``NAME`` (latest) → ``(name, version)``.

    The one parser of release references: the name must be a slug and the version
    ``X.Y.Z`` or ``latest``; anything else (``..``, slashes, backslashes, NUL, look-alike
    characters, percent-escapes, leading or trailing junk) is refused with a message
    naming the reference.
    """
    if not isinstance(ref, str):
        raise ReleaseError(f"release reference {shown(ref)} is not text; use NAME@VERSION")
    where = f"release reference {shown(ref)}"
    name, _, version = ref.partition("@")
    name, version = name.strip(), (version.strip() or LATEST)
    if not name:
        raise ReleaseError(f"{where} has no name; use NAME@VERSION, e.g. {_EXAMPLE}")
    check_name(name, where=where)
    check_version(version, where=where, latest=True)
    return name, version


def contained(root: str | Path, path: str | Path, *, what: str) -> Path:
    """``path`` when, resolved, it lies inside ``root`` (resolved); else a ReleaseError.

    ``what`` names the folder in the message (``the registry /srv/reg``).
    """
    base = Path(root).resolve()
    full = Path(path).resolve()
    if full != base and not full.is_relative_to(base):
        raise ReleaseError(
            f"path {shown(str(path))} resolves to {shown(str(full))}, outside {what}; "
            "a release is only ever read or written inside it — check for a symlink or a "
            "moved folder there"
        )
    return Path(path)


def contained_posix(root: str, path: str, *, what: str) -> str:
    """:func:`contained` for a remote (fsspec) path: normalized, it must stay under ``root``."""
    base = posixpath.normpath(root) if root not in ("", "/") else "/"
    norm = posixpath.normpath(path)
    inside = norm == base or norm.startswith(base.rstrip("/") + "/")
    if not inside or "\x00" in path:
        raise ReleaseError(
            f"path {shown(path)} leaves {what}; a release is only ever read or written inside it"
        )
    return path
