"""What every command module shares: option types, settings, errors, output, progress.

Command modules import only this (never ``builder.cli.app``), so each imports on its own.
Library modules are imported inside functions: ``benchsmith --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from builder.config import Settings
from builder.display import visible
from builder.errors import BenchsmithError

if TYPE_CHECKING:
    from builder.workspace import Workspace

__all__ = [
    "BenchmarkOpt",
    "JsonOpt",
    "PrivateRegistryOpt",
    "RegistryOpt",
    "TrustOpt",
    "WorkspaceOpt",
    "errors",
    "fail",
    "open_workspace",
    "own_workspace",
    "print_json",
    "progress_bar",
    "settings_for",
    "trusted_keys",
    "visible",
    "warnings_to_stderr",
]

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", help="Workspace folder [env: BENCHSMITH_HOME; default ./.benchsmith]."
    ),
]
BenchmarkOpt = Annotated[
    str | None,
    typer.Option("--benchmark", "-b", help="Benchmark name when the workspace holds several."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Registry folder or fsspec URL [env: BENCHSMITH_REGISTRY; default <workspace>/registry].",
    ),
]

PrivateRegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--private-registry",
        help="Where the private holdout goes [env: BENCHSMITH_PRIVATE_REGISTRY].",
    ),
]


def settings_for(
    workspace: Path | None = None, benchmark: str | None = None, **kw: Any
) -> Settings:
    """Settings from flags over ``BENCHSMITH_*`` variables."""
    return Settings.from_env(home=workspace, benchmark=benchmark, **kw)


def open_workspace(
    workspace: Path | None = None, benchmark: str | None = None, **kw: Any
) -> Workspace:
    """Open the workspace the flags (over ``BENCHSMITH_*``) name; ``kw`` are more settings."""
    from builder.workspace import open_workspace as open_ws

    return open_ws(settings_for(workspace, benchmark, **kw))


def _existing_workspace(st: Settings) -> Workspace | None:
    """The workspace the settings name, when one exists there (never created by a pull)."""
    from sqlalchemy.engine import make_url

    from builder.workspace import open_workspace as open_ws

    url = make_url(st.database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or not Path(url.database).is_file():
            return None
    elif not st.home.is_dir():
        return None
    return open_ws(st)


TrustOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--trust",
        metavar="FILE",
        help="Public key file (PEM) of a trusted publisher, from `benchsmith keys public`; "
        "repeatable. A release not signed by one is refused. Adds to BENCHSMITH_TRUSTED_KEYS "
        "(key files separated by the OS path separator).",
    ),
]


def trusted_keys(st: Settings, extra: list[Path] | None) -> list[Path]:
    """The publisher keys to trust: ``BENCHSMITH_TRUSTED_KEYS`` plus the ``--trust`` files."""
    return [*st.trusted_keys, *(extra or [])]


@contextmanager
def own_workspace(st: Settings) -> Iterator[Workspace | None]:
    """The publishing workspace the settings name, open for the block, or None when there
    is none there (a pull or eval never creates one); its database is closed afterwards."""
    ws = _existing_workspace(st)
    try:
        yield ws
    finally:
        if ws is not None:
            ws.db.dispose()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``Error: message`` to stderr and exit (invisible characters shown as codes)."""
    typer.echo(f"Error: {visible(message, multiline=True)}", err=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn library errors into ``Error: …`` and exit code 1 (no traceback)."""
    try:
        yield
    except BenchsmithError as e:
        fail(str(e), e.exit_code)


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Print benchsmith's warnings raised inside as ``Warning: <message>`` lines on stderr
    (once each, in order) instead of Python's two-line format; others pass through."""
    import warnings

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        seen: set[str] = set()
        for w in caught:
            text = str(w.message)
            if not w.category.__module__.startswith("builder."):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
            elif text not in seen:
                seen.add(text)
                typer.echo(f"Warning: {visible(text, multiline=True)}", err=True)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def progress_bar() -> tuple[Callable[[str, Any], None] | None, Callable[[], None]]:
    """A rich progress callback and its stop function when stderr is a terminal; else none."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "[progress.percentage]{task.percentage:>3.0f}%",
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}
    bar.start()

    def update(name: str, p: Any) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(Path(name).name, total=p.total)
        bar.update(tasks[name], completed=p.done, total=p.total)

    return update, bar.stop
