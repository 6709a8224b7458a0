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
]


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
