"""Registry URLs and filesystem failures: which URLs a registry may have, and how an fsspec
backend's failure becomes one :class:`RegistryAccessError` naming the URL and the fix.

Registry URLs are a folder, ``file://``, ``memory://`` or an object store whose fsspec
package is installed (:func:`registry_schemes`); anything else is refused up front
(:func:`check_scheme`). :func:`guarded` wraps a :class:`~builder.release.registry.Registry`
method and :class:`GuardedReader` a remote file, so that a permission, network or
credentials failure reads the same wherever it happens.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import fsspec

from builder.errors import BenchsmithError, ReleaseError, shown

__all__ = [
    "GuardedReader",
    "RegistryAccessError",
    "access_error",
    "check_scheme",
    "guarded",
    "registry_schemes",
]

_LOCAL_SCHEMES = ("file", "local")
_OBJECT_STORES = {
    # scheme → the package that provides it (fsspec knows the schemes, not the packages)
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
}


def registry_schemes() -> list[str]:
    """The registry URL forms that work here: folders, ``file://``, ``memory://`` and each
    object store whose fsspec package is installed."""
    stores = [f"{k}://" for k, pkg in _OBJECT_STORES.items() if importlib.util.find_spec(pkg)]
    return ["a folder path", "file://", "memory://", *stores]


def check_scheme(url: str) -> None:
    """Refuse a registry URL whose scheme benchsmith cannot publish to or pull from."""
    protocol, _ = fsspec.core.split_protocol(url)
    scheme = (protocol or "").lower()
    if not scheme or scheme in _LOCAL_SCHEMES or scheme == "memory":
        return
    working = ", ".join(registry_schemes())
    package = _OBJECT_STORES.get(scheme)
    if package is not None:
        if importlib.util.find_spec(package) is not None:
            return
        raise ReleaseError(
            f"registry {shown(url)}: {scheme}:// needs the {package} package, which is not "
            f"installed; install it (pip install {package}) or use one of: {working}"
        )
    raise ReleaseError(
        f"registry {shown(url)}: scheme {shown(scheme + '://')} is not supported for a "
        f"registry; use one of: {working} (object stores need their fsspec package, e.g. "
        "s3fs for s3://)"
    )


class RegistryAccessError(ReleaseError, OSError):
    """The registry's filesystem failed (permission, network, credentials, missing package).

    Also an :class:`OSError`, so code that tolerates an unreachable registry (a pull that
    re-verifies its cached copy) still does; the CLI prints its message on one line.
    """


_P = ParamSpec("_P")
_R = TypeVar("_R")
_PASS = (BenchsmithError, FileNotFoundError, NotADirectoryError, FileExistsError)
"""Exceptions a registry method lets through: its own errors, and the "not there" ones
its callers test for."""


def _foreign(e: BaseException) -> bool:
    """An exception from a filesystem backend (botocore, aiohttp, gcsfs …), not a bug here."""
    module = type(e).__module__.split(".")[0]
    return module not in ("builtins", "builder", "pydantic", "pydantic_core", "json")


def access_error(url: str, what: str, e: BaseException) -> RegistryAccessError:
    """The one-line error for a filesystem failure while trying to ``what`` the registry."""
    detail = shown(f"{type(e).__name__}: {e}", 160)
    if isinstance(e, PermissionError):
        fix = (
            "check that the folder is readable (and, to publish or yank, writable) by you, "
            "or the credentials for that store"
        )
    elif isinstance(e, ImportError):
        fix = "install the fsspec package for that scheme (e.g. pip install s3fs for s3://)"
    else:
        fix = "check the URL, the network and the store's credentials, then try again"
    return RegistryAccessError(f"registry {shown(url)}: cannot {what} ({detail}); {fix}")


class GuardedReader:
    """A remote file whose read failures become :class:`RegistryAccessError`."""

    def __init__(self, f: Any, url: str) -> None:
        self._f, self._url = f, url

    def read(self, *args: Any) -> bytes:
        try:
            data: bytes = self._f.read(*args)
        except _PASS:
            raise
        except Exception as e:
            if not isinstance(e, OSError | ImportError) and not _foreign(e):
                raise
            raise access_error(self._url, "read a release file from it", e) from e
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> GuardedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


def guarded(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Turn a filesystem failure inside a Registry method into a :class:`RegistryAccessError`."""

    def wrap(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def inner(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return fn(*args, **kwargs)
            except _PASS:
                raise
            except (OSError, ImportError) as e:
                raise access_error(getattr(args[0], "url", "?"), what, e) from e
            except Exception as e:
                if not _foreign(e):
                    raise
                raise access_error(getattr(args[0], "url", "?"), what, e) from e

        return inner

    return wrap
