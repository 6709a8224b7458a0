"""``benchsmith review``: serve the review app (users, items and answers have their own groups)."""

from __future__ import annotations

from typing import Annotated

import typer

from builder.cli._common import BenchmarkOpt, WorkspaceOpt, errors, settings_for

__all__ = ["app"]

app = typer.Typer()


@app.command()
def review(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8501,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to bind; other than loopback, put a TLS proxy in front."
        ),
    ] = "127.0.0.1",
    workspace: WorkspaceOpt = None,
    benchmark: BenchmarkOpt = None,
) -> None:
    """Start the review app (Streamlit, headless) and print its URL; Ctrl+C stops it."""
    from builder.review.server import serve

    # serve() opens the workspace itself (and in the Streamlit process), so it gets settings.
    with errors():
        code = serve(
            settings_for(workspace, benchmark),
            host=host,
            port=port,
            echo=typer.echo,
            warn=lambda line: typer.echo(f"Warning: {line}", err=True),
        )
    raise typer.Exit(code)
