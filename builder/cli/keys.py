"""``benchsmith keys init|public``: the workspace's release signing key.

Every release is signed with the workspace's Ed25519 key (``<workspace>/keys/``, created
by ``keys init`` or the first release). Engineers pin its public key with
``benchsmith pull NAME@VERSION --trust FILE``; see ``builder.release.signing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from builder.cli._common import (
    JsonOpt,
    WorkspaceOpt,
    acting,
    errors,
    open_workspace,
    print_json,
    settings_for,
)

__all__ = ["app"]

app = typer.Typer(
    help="The workspace's release signing key (engineers pin its public key with pull --trust).",
    no_args_is_help=True,
)


def _keys_dir(workspace: Path | None) -> Path:
    from builder.errors import ConfigError

    st = settings_for(workspace)
    if not st.home.is_dir():
        raise ConfigError(
            f"no workspace at {st.home}; run `benchsmith init --spec FILE` "
            "(or set BENCHSMITH_HOME / --workspace to an existing one)"
        )
    return st.keys_dir


@app.command("init")
def keys_init(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Create the workspace's signing key (refuses to replace an existing one)."""
    from builder.release.signing import init_signing_key

    with errors():
        keys_dir = _keys_dir(workspace)
        ws = open_workspace(workspace)
        try:
            acting(ws, "keys init")
        finally:
            ws.db.dispose()
        key = init_signing_key(keys_dir)
    if as_json:
        print_json(
            {"private_key": str(key.path), "public_key": key.public.source,
             "fingerprint": key.fingerprint}
        )  # fmt: skip
        return
    typer.echo(f"created signing key {key.path} (fingerprint {key.fingerprint})")
    typer.echo("hand engineers its public key: benchsmith keys public --out FILE")


@app.command("public")
def keys_public(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the public key (PEM) to this file instead of stdout."),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print the workspace's public key (PEM), the file engineers pass to pull --trust."""
    from builder.errors import ConfigError
    from builder.fsutil import write_bytes_atomic
    from builder.release.signing import load_signing_key

    with errors():
        key = load_signing_key(_keys_dir(workspace))
        if out is not None:
            try:
                write_bytes_atomic(out, key.public.pem(), mode=0o644)
            except OSError as e:
                raise ConfigError(
                    f"--out {out}: cannot write the public key ({e.strerror}); pick a writable path"
                ) from None
    if out is None:
        typer.echo(key.public.pem().decode("ascii"), nl=False)
        return
    typer.echo(f"wrote public key {key.fingerprint} to {out}")
    typer.echo(f"engineers verify releases with: benchsmith pull NAME@VERSION --trust {out.name}")
