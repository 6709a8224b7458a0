"""benchsmith: build custom domain benchmarks with human review."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.release.pull import load_release

__all__ = ["load_release"]


def __getattr__(name: str) -> Any:
    # Lazy: `import builder` stays light; pandas/pyarrow/fsspec load on first use.
    if name == "load_release":
        from builder.release.pull import load_release

        return load_release
    raise AttributeError(f"module 'builder' has no attribute {name!r}")
