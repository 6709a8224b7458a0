"""``benchsmith suggestions import|baseline``: a model's suggested answers for the items."""

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
    visible,
)

__all__ = ["app"]

app = typer.Typer(
    help="Model suggestions: shown per the spec's review.suggestions, never counted as an "
    "annotator.",
    no_args_is_help=True,
)


@app.command("import")
def suggestions_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON Lines (or a .json array): source_id, model, label|labels|answer, score?"
        ),
    ],
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a model's suggestions (all or nothing; a model imported again is replaced)."""
    from builder.review.suggestions import import_suggestions

    with errors():
        ws = open_workspace(workspace, benchmark)
        report = import_suggestions(ws, file, actor=acting(ws, "suggestions import"))
    if as_json:
        print_json(asdict(report))
        return
    for model, n in sorted(report.stored.items()):
        gone = report.replaced.get(model, 0)
        typer.echo(
            visible(f"{model}: {n} suggestions stored" + (f", {gone} replaced" if gone else ""))
        )


@app.command("baseline")
def suggestions_baseline(
    label_field: Annotated[
        str | None,
        typer.Option(
            "--label-field",
            help="Field holding each pool record's label (in the records, or in --labels).",
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="csv/jsonl/parquet with the source id field and the label."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="Model name to store the suggestions under.")
    ] = "tfidf-linear-svm",
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Suggest labels with the bundled TF-IDF baseline, trained on labelled pool records
    outside the benchmark (classification)."""
    from builder.review.suggestion_baseline import baseline_suggestions

    with errors():
        ws = open_workspace(workspace, benchmark)
        r = baseline_suggestions(
            ws,
            label_field=label_field,
            labels_file=labels,
            model_name=model,
            actor=acting(ws, "suggestions baseline"),
        )
    if as_json:
        print_json(asdict(r))
        return
    stored = r.stored.stored.get(r.model, 0)
    typer.echo(
        visible(
            f"{r.model}: trained on {r.trained_on} labelled pool records outside the benchmark "
            f"({len(r.labels)} labels); {stored} suggestions stored in {r.seconds:.1f} s"
        )
    )
    if r.dropped_labels:
        typer.echo(
            visible(
                "labels with too few training records, never suggested: "
                + ", ".join(f"{k} ({n})" for k, n in r.dropped_labels.items())
            ),
            err=True,
        )
