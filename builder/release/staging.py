"""Publishing into a local-folder registry: staging folders and the one rename into place.

A release is built in a hidden ``.staging-<version>-<host>-<pid>-<random>`` folder next to
its final place (:func:`staging_name`), its files are fsynced and made
:data:`PUBLISHED_MODE`, and one rename makes it visible (:func:`publish_local`). Staging
folders left by a dead process on this host, or older than a day, are removed by the next
attempt (:func:`clear_stale_staging`).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from builder.errors import ReleaseError

__all__ = ["PUBLISHED_MODE", "clear_stale_staging", "publish_local", "staging_name"]

PUBLISHED_MODE = 0o444
"""Mode of every file benchsmith writes into a local registry: readable by all who may
enter its folders (the folders' modes are the operator's access control), and read-only
so that accidents are loud."""

_STALE_SECONDS = 24 * 3600


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


def staging_name(version: str) -> str:
    """A fresh hidden folder name to build ``version`` in, beside its final place."""
    return f".staging-{version}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def clear_stale_staging(parent: Path, version: str) -> None:
    """Remove ``version``'s staging folders in ``parent`` whose process is gone (this host)
    or that are older than a day."""
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


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
            p.chmod(PUBLISHED_MODE)  # published files are immutable; make accidents loud
    for d in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish_local(staging: Path, target: Path) -> None:
    """Move a built release folder to ``target`` in one rename (after fsyncing it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if staging.parent.resolve() != target.parent.resolve():
        # Built elsewhere (maybe another filesystem): copy beside the target first, so the
        # step that makes the version visible is still one rename.
        sibling = target.parent / staging_name(target.name)
        shutil.copytree(staging, sibling)
        try:
            publish_local(sibling, target)
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
