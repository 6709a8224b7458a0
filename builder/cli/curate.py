"""``benchsmith curate``: parse → :func:`builder.curate.pipeline.curate` → print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from builder.curate.report import stage_counts, stage_line, threshold_lines

if TYPE_CHECKING:
    from builder.curate.report import CurationReport

__all__ = ["app"]

app = typer.Typer()


def _summary(r: CurationReport) -> list[str]:
    filtered = ", ".join(f"{k} {v}" for k, v in r.filtered.items() if v) or "none"
    kinds = ", ".join(f"{k} {v}" for k, v in r.pii.items()) or "none"
    dropped = f", {r.pii_dropped} dropped" if r.pii_dropped else ""
    held = f" on top of {r.held} existing" if r.held else ""
    stored = r.to_dict(with_map=False)
    return [
        f"pool: {r.pool} records",
        f"filtered: {filtered}; PII: {r.pii_records} record(s) ({kinds}; policy {r.pii_policy}"
        f"{dropped}); contaminated: {len(r.contaminated)}",
        f"duplicates: {r.exact_duplicates} exact, {r.near_duplicates} near "
        f"({r.duplicate_groups} groups); {r.after_dedup} records to sample from",
        f"selected {len(r.selected)} new item(s) from {r.k} clusters{held}; embedder "
        f"{r.embedder} ({r.embedded} embedded, {r.cached} cached)",
        f"curation run {r.run_id} done in {r.seconds:.1f} s",
        stage_line(stage_counts(stored)),
        *threshold_lines(stored),
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
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local | ray: where scanning, embedding and the pair search run "
            "(default: curation.engine).",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster HOST:PORT for --engine ray [default: RAY_ADDRESS, as ray.init].",
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
    from builder.progress import terminal_progress

    # Plain lines when stderr is not a terminal (logs, CI): curation can take minutes.
    progress, stop = terminal_progress(plain=True)
    try:
        with errors():
            ws = open_workspace(workspace, benchmark)
            acting(ws, "curate")
            report = run_curate(
                ws,
                size=size,
                seed=seed,
                embedder=embedder,
                against=against or (),
                progress=progress,
                engine=engine,
                ray_address=ray_address,
            )
    finally:
        stop()
    if as_json:
        print_json(report.to_dict(with_map=False))
        return
    for line in _summary(report):
        typer.echo(line)
