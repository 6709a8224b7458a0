"""``benchsmith curate``: parse → :func:`builder.curate.pipeline.curate` → print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from builder.cli._common import (
    BenchmarkOpt,
    JsonOpt,
    WorkspaceOpt,
    errors,
    open_workspace,
    print_json,
    progress_bar,
)

if TYPE_CHECKING:
    from builder.curate.report import CurationReport

__all__ = ["app"]

app = typer.Typer()


def _summary(r: CurationReport) -> list[str]:
    filtered = ", ".join(f"{k} {v}" for k, v in r.filtered.items() if v) or "none"
    kinds = ", ".join(f"{k} {v}" for k, v in r.pii.items()) or "none"
    dropped = f", {r.pii_dropped} dropped" if r.pii_dropped else ""
    held = f" on top of {r.held} existing" if r.held else ""
    return [
        f"pool: {r.pool} records",
        f"filtered: {filtered}; PII: {r.pii_records} record(s) ({kinds}; policy {r.pii_policy}"
        f"{dropped}); contaminated: {len(r.contaminated)}",
        f"duplicates: {r.exact_duplicates} exact, {r.near_duplicates} near "
        f"({r.duplicate_groups} groups); {r.after_dedup} records to sample from",
        f"selected {len(r.selected)} new item(s) from {r.k} clusters{held}; embedder "
        f"{r.embedder} ({r.embedded} embedded, {r.cached} cached)",
        f"curation run {r.run_id} done in {r.seconds:.1f} s",
    ]


@app.command()
def curate(
    size: Annotated[
        int | None,
        typer.Option(
            "--size", min=1, help="New items to pick (default: the spec's curation.size)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: curation.seed).")
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            "--embedder",
            help="minilm | static | tfidf | PATH to a local model (default: curation.embedder).",
        ),
    ] = None,
    against: Annotated[
        list[Path] | None,
        typer.Option(
            "--against",
            help="jsonl/csv/parquet/txt file to check contamination against (repeatable).",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pick representative, de-duplicated, PII-checked candidate items from the pool.

    A second run tops up: it adds new items and never re-picks existing or released ones.
    --json prints the report (without the 2-D map, which the review app shows).
    """
    from builder.curate.pipeline import curate as run_curate

    progress, stop = progress_bar()
    try:
        with errors():
            report = run_curate(
                open_workspace(workspace, benchmark),
                size=size,
                seed=seed,
                embedder=embedder,
                against=against or (),
                progress=progress,
            )
    finally:
        stop()
    if as_json:
        print_json(report.to_dict(with_map=False))
        return
    for line in _summary(report):
        typer.echo(line)
