"""What ``eval`` and ``run`` share: storing a scored run, and the lines that frame its printout.

Library modules are imported inside functions (see ``builder.cli._common``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from builder.cli._common import acting, open_workspace, visible

if TYPE_CHECKING:
    from builder.evaluate.runner import EvalResult

__all__ = ["NoStoreOpt", "echo_heading", "echo_stored", "store_result"]

NoStoreOpt = Annotated[
    bool, typer.Option("--no-store", help="Do not store the result in the workspace.")
]


def store_result(
    result: EvalResult,
    workspace: Path | None,
    registry: str | None,
    *,
    home: Path,
    command: str,
    hint: str = "",
) -> str | None:
    """Store ``result`` in the workspace the flags name (its evaluation id is set); when there
    is none, the note to print instead: ``not stored: no workspace at HOME`` + ``hint``.
    Storing changes the workspace: the operator must pass the rule for ``command``."""
    from builder.errors import ConfigError
    from builder.evaluate import record_evaluation

    try:
        ws = open_workspace(workspace, registry=registry)
        record_evaluation(ws, result, actor=acting(ws, command).name)
    except ConfigError:
        return f"not stored: no workspace at {home}{hint}"
    return None


def echo_heading(result: EvalResult, split: str, n: int) -> None:
    """The first line of a scored run's printout: release, split, model, item count."""
    typer.echo(
        visible(f"{result.benchmark}@{result.version} {split} — model {result.model}: {n} items")
    )


def echo_stored(result: EvalResult, name: str) -> None:
    """Where a stored run went (nothing when it was not stored)."""
    if result.evaluation_id is not None:
        typer.echo(
            f"stored as evaluation {result.evaluation_id}; see `benchsmith leaderboard {name}`"
        )
