"""``benchsmith run``: export a release to Inspect AI, run a model on it, score the log.

A convenience over ``benchsmith export --format inspect`` + ``inspect eval`` +
``benchsmith eval``: the task is exported to a temporary folder, run in-process with
``inspect_ai.eval`` (the log goes to ``log_dir``, default Inspect's own: ``INSPECT_LOG_DIR``
or ``./logs``), and the log is scored like any other predictions file, so the result is
the same as running the three steps by hand.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from builder.errors import ModelMissingError, ReleaseError
from builder.evaluate.runner import EvalResult, evaluate_release
from builder.release.pull import TrustArg
from builder.release.registry import Registry
from builder.workspace import Workspace

__all__ = ["run_release"]


def run_release(
    name: str,
    version: str,
    model: Any,
    *,
    split: str = "test",
    limit: int | None = None,
    registry: str | Registry | None = None,
    cache_dir: str | Path | None = None,
    trust: TrustArg = None,
    log_dir: str | Path | None = None,
    model_args: dict[str, Any] | None = None,
    n_resamples: int = 1000,
    workspace: Workspace | None = None,
) -> tuple[EvalResult, str]:
    """Run ``model`` (``PROVIDER/MODEL`` or an ``inspect_ai.model.Model``) on ``split``.

    ``limit``: run only the first N items (the rest count as missing). Returns the scored
    result and the Inspect log's location. Raises ``ModelMissingError`` without inspect-ai,
    ``ReleaseError`` when the run produced no log or failed (naming Inspect's error).
    """
    try:
        from inspect_ai import eval as inspect_eval
    except ModuleNotFoundError:
        raise ModelMissingError(
            "benchsmith run needs inspect-ai: pip install 'benchsmith[eval]'"
        ) from None
    from builder.export import export_release, open_release
    from builder.export.inspect import task_name

    release = open_release(
        name, version, registry=registry, cache_dir=cache_dir, trust=trust, workspace=workspace
    )
    with tempfile.TemporaryDirectory(prefix="benchsmith-run-") as tmp:
        out = Path(tmp) / "task"
        export_release(name, release.manifest.version, "inspect", out, split=split, release=release)
        logs = inspect_eval(
            f"{out / task_name(release)}.py@{task_name(release)}",
            model=model,
            model_args=model_args or {},
            limit=limit,
            log_dir=None if log_dir is None else str(log_dir),
            display="none",
        )
    if not logs:
        raise ReleaseError(f"Inspect AI wrote no log for {release.ref}; see its output above")
    log = logs[0]
    if log.status != "success":
        message = log.error.message if log.error else log.status
        raise ReleaseError(
            f"the Inspect AI run of {release.ref} with {log.eval.model} did not finish: {message}; "
            f"its log is {log.location}"
        )
    result = evaluate_release(
        release.manifest.name,
        release.manifest.version,
        log.location,
        split=split,
        registry=registry,
        cache_dir=cache_dir,
        n_resamples=n_resamples,
        workspace=workspace,
    )
    return result, log.location
