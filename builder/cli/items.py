"""``benchsmith items list|gold``: benchmark items and their gold answers."""

from __future__ import annotations

from typing import Annotated

import typer

from builder.cli._common import (
    BenchmarkOpt,
    JsonOpt,
    WorkspaceOpt,
    acting,
    errors,
    fail,
    open_workspace,
    print_json,
    visible,
)

__all__ = ["app"]

app = typer.Typer(help="Benchmark items: list, gold answers.", no_args_is_help=True)


@app.command("list")
def items_list(
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only this status.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List items with their source ids and status."""
    from builder.review.items import list_items

    with errors():
        rows = list_items(open_workspace(workspace, benchmark), status=status, limit=limit)
    if as_json:
        print_json([r._asdict() for r in rows])
        return
    for r in rows:
        gold = " gold" if r.is_gold else ""
        sid = visible(r.source_id)
        typer.echo(f"{r.item_id:>7}  {r.status:<10} {r.answers} answer(s){gold}  {sid}")


@app.command("gold")
def items_gold(
    source_id: Annotated[str, typer.Argument(help="Source id of the item.")],
    answer: Annotated[
        str | None,
        typer.Option("--answer", "-a", help="The known answer (labels comma-separated)."),
    ] = None,
    unmark: Annotated[bool, typer.Option("--unmark", help="Stop using it as gold.")] = False,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
) -> None:
    """Mark an item as gold with its known answer (mixed unannounced into queues)."""
    from builder.review.items import set_gold

    if (answer is None) == (not unmark):
        fail("give either --answer VALUE or --unmark")
    with errors():
        ws = open_workspace(workspace, benchmark)
        result = set_gold(ws, source_id, answer, actor=acting(ws, "items gold"))
    what = f"gold with answer {result.answer!r}" if answer is not None else "no longer gold"
    shown = f"item {result.item_id} ({source_id}) is {what}; status {result.status}"
    typer.echo(visible(shown))
