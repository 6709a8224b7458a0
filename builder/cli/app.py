"""The ``benchsmith`` app, assembled from one module per command group.

Every command module defines a module-level ``app = typer.Typer()`` and knows nothing of
this file. They are mounted one way, with ``add_typer``: under a name for a group with
sub-commands (``benchsmith users add``), without one for top-level commands, whose
commands Typer then merges into this app (``benchsmith init``). The mount order is the
order ``--help`` lists the commands in.
"""

# No ``from __future__ import annotations`` here: it would clash with the ``annotations``
# command module imported below.
import typer

from builder.cli import (
    annotations,
    curate,
    evaluate,
    export,
    items,
    keys,
    release,
    releases,
    review,
    suggestions,
    users,
    workspace,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="benchsmith",
    help="Build custom domain benchmarks from your own data, with human review and releases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Top-level commands: init, ingest, status, curate, review, release, pull, diff, eval, leaderboard, export, run.
for module in (workspace, curate, review, release, evaluate, export):
    app.add_typer(module.app)
# Groups: the module's Typer carries the group's help.
app.add_typer(users.app, name="users")
app.add_typer(annotations.app, name="annotations")
app.add_typer(items.app, name="items")
app.add_typer(releases.app, name="releases")
app.add_typer(keys.app, name="keys")
app.add_typer(suggestions.app, name="suggestions")


def main() -> None:
    """Console-script entry point."""
    app()
