"""Start the review app: ``streamlit run review_ui/asgi.py``, headless, with the workspace in env.

Used by ``benchsmith review`` and the demo. ``review_ui/asgi.py`` is an ``st.App`` (Streamlit
serves it with uvicorn): the ``review_ui/app.py`` script plus the routes that set and clear
the login cookie, and single sign-on settings as in-memory secrets. The app reads its
:class:`Settings` from the ``BENCHSMITH_*`` variables set here, so it opens exactly the
workspace it was started for.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from builder.config import Settings
from builder.errors import ConfigError, ReviewError
from builder.review.sso import oidc_settings
from builder.workspace import open_workspace

__all__ = [
    "AppServer",
    "app_command",
    "app_env",
    "app_script",
    "is_loopback",
    "plain_http_warning",
    "serve",
    "start_app",
]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(host: str) -> str | None:
    """The one line ``serve`` prints on stderr when other machines can reach the app."""
    if is_loopback(host):
        return None
    return (
        f"serving on {host} over plain HTTP: passwords and sessions cross the network "
        "unencrypted unless a TLS proxy is in front (see the README, Serving to a team)"
    )


def app_script() -> Path:
    """Path of ``review_ui/asgi.py``, the served app (located, not imported: builder never
    imports the UI)."""
    spec = importlib.util.find_spec("review_ui")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the review_ui package is not installed; reinstall benchsmith (pip install -e .)"
        )
    return Path(spec.origin).parent / "asgi.py"


def app_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that points the app at ``settings``' workspace."""
    env = dict(os.environ if base is None else base)
    env.update(
        BENCHSMITH_HOME=str(settings.home),
        BENCHSMITH_DATABASE_URL=settings.database_url,
        BENCHSMITH_REGISTRY=settings.registry,
        BENCHSMITH_PRIVATE_REGISTRY=settings.private_registry,
    )
    if settings.benchmark:
        env["BENCHSMITH_BENCHMARK"] = settings.benchmark
    else:
        env.pop("BENCHSMITH_BENCHMARK", None)
    return env


def app_command(host: str, port: int) -> list[str]:
    """``streamlit run`` with the flags a server needs: headless, no usage stats, no reloads."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app_script()),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.address", host,
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


@dataclass
class AppServer:
    """A running app process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the app (kill it if it does not exit in ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_app(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    ready_timeout: float = 90.0,
    log: Path | None = None,
) -> AppServer:
    """Start the app in the background and wait until it answers; the caller stops it."""
    open_workspace(settings).db.dispose()  # a missing workspace fails here, not in a browser
    oidc_settings(app_env(settings))  # so does a half-set single sign-on
    if not _port_free(host, port):
        raise ReviewError(
            f"port {port} on {host} is in use; pick another with --port or stop what uses it"
        )
    log = log or settings.home / "review-app.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    out: IO[bytes] = log.open("ab")
    proc = subprocess.Popen(
        app_command(host, port),
        env=app_env(settings),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    server = AppServer(process=proc, url=f"http://{shown}:{port}", log=log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise ReviewError(f"the review app exited with code {proc.returncode}:\n{tail}")
        if _healthy(server.url):
            return server
        time.sleep(0.2)
    server.stop()
    raise ReviewError(
        f"the review app did not answer on {server.url} within {ready_timeout:.0f} s; see {log}"
    )


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] | None = None,
) -> int:
    """Run the app in the foreground until it exits or Ctrl+C; returns its exit code.

    ``warn`` (default: stderr) gets :func:`plain_http_warning` for a non-loopback ``host``.
    """
    warning = plain_http_warning(host)
    if warning is not None:
        (warn or (lambda line: print(f"Warning: {line}", file=sys.stderr)))(warning)
    server = start_app(settings, host=host, port=port)
    echo(f"review app running at {server.url}  (log: {server.log}; Ctrl+C stops it)")

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # a `kill` stops the app too, not just Ctrl+C

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
