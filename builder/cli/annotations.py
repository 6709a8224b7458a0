"""``benchsmith annotations import|export``: answers in and out as JSON Lines; answers in
from Label Studio's JSON export or an Argilla ``datasets`` folder too."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from builder.cli._common import (
    BenchmarkOpt,
    JsonOpt,
    WorkspaceOpt,
    acting,
    errors,
    open_workspace,
    print_json,
)

__all__ = ["app"]

app = typer.Typer(help="Answers in and out (JSON Lines).", no_args_is_help=True)


@app.command("import")
def annotations_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON Lines (source_id, annotator, label|labels|answer), a Label Studio JSON "
            "export, or an Argilla datasets folder."
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="jsonl | label-studio (Export → JSON) | argilla (datasets folder)."
        ),
    ] = "jsonl",
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import answers from another tool or a pilot round (all or nothing).

    With --format label-studio or argilla, a pool record answered there becomes an item
    (reason "imported") unless curation set it aside; ingest the same export first.
    """
    from builder.review.annotations_io import import_annotations

    with errors():
        ws = open_workspace(workspace, benchmark)
        report = import_annotations(ws, file, fmt=fmt, actor=acting(ws, "annotations import"))
    if as_json:
        print_json(asdict(report))
        return
    typer.echo(
        f"{file}: {report.imported} imported, {report.revised} revised, "
        f"{report.unchanged} unchanged, {report.skipped} skipped"
    )
    if report.items_created:
        typer.echo(f"pool records made items (reason imported): {len(report.items_created)}")
    if report.users_created:
        typer.echo(f"created users without login: {', '.join(report.users_created)}")


@app.command("export")
def annotations_export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
) -> None:
    """Export every answer and decision as JSON Lines, for audits."""
    from builder.review.annotations_io import export_annotations, export_lines

    with errors():
        ws = open_workspace(workspace, benchmark)
        if out is None:
            for line in export_lines(ws):
                typer.echo(line)
            return
        n = export_annotations(ws, out, overwrite=force)
    typer.echo(f"wrote {n} lines to {out}", err=True)
