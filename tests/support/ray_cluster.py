"""A real local Ray head for the Ray engine's tests (and benchmarks): 2 CPUs, loopback only,
its own temp dir, started lazily once per session and stopped at the end.

``ray start --head --block`` runs in its own process group, so stopping it signals exactly
the processes it started (GCS, raylet, workers) and nothing else on the machine; ``ray
stop`` would stop every Ray process of the user. Without Ray the tests skip locally and fail
under ``BENCHSMITH_REQUIRE_ALL=1`` (:func:`tests.support.common.missing`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.common import free_port, missing

__all__ = ["RayHead", "ray_address"]


class RayHead:
    """``ray start --head`` on 127.0.0.1 with ``cpus`` CPUs, in a temp dir of its own."""

    def __init__(self, root: Path, *, cpus: int = 2, object_store_mb: int = 512) -> None:
        self.root, self.cpus, self.object_store_mb = root, cpus, object_store_mb
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The GCS address to pass to ``ray.init`` / ``--ray-address``."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        """Start the head and wait until its GCS port answers. Raises RuntimeError if not."""
        ray = Path(sys.executable).with_name("ray")
        cmd = [
            str(ray), "start", "--head", "--block",
            "--num-cpus", str(self.cpus),
            "--node-ip-address", "127.0.0.1",
            "--temp-dir", str(self.root),
            "--port", str(self.port),
            "--include-dashboard", "false",
            "--disable-usage-stats",
            "--object-store-memory", str(self.object_store_mb * 1024 * 1024),
        ]  # fmt: skip
        log = (self.root / "ray-start.log").open("wb")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        text = (self.root / "ray-start.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the Ray head did not start within {timeout:.0f} s:\n{text}")

    def stop(self) -> None:
        """Stop the head's process group (SIGTERM, then SIGKILL after 5 s: its GCS and
        raylet outlive a SIGTERM for many seconds, and a test cluster holds nothing to save)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        # Workers are children of the raylet in the same group; give them a moment to go.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """The address of a real local Ray head (2 CPUs) for this test session."""
    try:
        import ray
    except ImportError as e:
        missing(f"Ray is not installed ({e}); install it with: pip install 'benchsmith[ray]'")
    # Short: Ray's unix sockets live under it and socket paths are limited to ~100 bytes.
    root = Path(tempfile.mkdtemp(prefix="bsray-", dir="/tmp"))
    head = RayHead(root)
    try:
        head.start()
        yield head.address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.stop()
        shutil.rmtree(root, ignore_errors=True)
