"""One error hierarchy: every message names the bad value, where it was, and the fix."""

from __future__ import annotations

__all__ = [
    "BenchsmithError",
    "ConfigError",
    "IngestError",
    "IntegrityError",
    "ModelMissingError",
    "NotFoundError",
    "PermissionDenied",
    "ReleaseError",
    "ReviewError",
    "SpecError",
    "StoreError",
    "TrustError",
    "shown",
]

SHOWN_MAX = 80
"""Characters of a value an error message echoes; longer values are cut (see :func:`shown`)."""


class BenchsmithError(Exception):
    """Base class; the CLI prints ``Error: <message>`` and exits with code 1."""

    exit_code = 1


class ConfigError(BenchsmithError):
    """Settings, workspace or benchmark selection are wrong."""


class SpecError(BenchsmithError):
    """The benchmark spec file is invalid."""


class IngestError(BenchsmithError):
    """A source file or one of its rows cannot be ingested."""


class StoreError(BenchsmithError):
    """The database cannot be opened, migrated or written."""


class NotFoundError(BenchsmithError):
    """A named thing (benchmark, item, user, release) does not exist."""


class ModelMissingError(BenchsmithError):
    """An embedding model or optional package is not installed."""


class PermissionDenied(BenchsmithError):
    """The acting user's role does not allow the action."""


class ReviewError(BenchsmithError):
    """An annotation or decision is invalid (unknown label, item not assigned, …)."""


class ReleaseError(BenchsmithError):
    """A release cannot be built, published, or read."""


class IntegrityError(ReleaseError):
    """A release's files do not match its manifest (tampered or incomplete)."""


class TrustError(ReleaseError):
    """A release is not signed by a trusted key, or its signature does not match it."""


def shown(value: object, limit: int = SHOWN_MAX) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters.

    A longer value shows its first ``limit`` characters, ``…`` and its full size, e.g.
    ``'aaaa… (120000 chars)'``: an error never echoes a huge input back at the user, and
    a huge (or self-nested) list or mapping is never rendered in full to find out.
    """
    import reprlib

    if isinstance(value, str | bytes):
        text = repr(value[: limit + 1])
        if len(value) <= limit and len(text) <= limit + 3:
            return text
        unit = "chars" if isinstance(value, str) else "bytes"
        return f"{text[:limit]}… ({len(value)} {unit})"
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 3, 8, 8, 8, 8
    r.maxstring = r.maxother = limit
    text = r.repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} items" if isinstance(value, list | tuple | dict | set) else "cut"
    return f"{text[:limit]}… ({size})"
