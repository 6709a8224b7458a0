"""What every part of the suite uses: sample data, ``missing``, the ``Cli`` type, spec variants."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn, Protocol

import pytest
import yaml
from typer.testing import Result

from builder.config import Settings
from builder.workspace import Workspace, init_workspace, open_workspace

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
SAMPLE_SPEC = DATA / "debian-sections.yaml"
SAMPLE_DATA = DATA / "debian_packages.jsonl.gz"
REQUIRE_ALL = os.environ.get("BENCHSMITH_REQUIRE_ALL") == "1"


def missing(what: str) -> NoReturn:
    """Skip locally, fail in CI: a missing dependency must never pass silently there."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} (BENCHSMITH_REQUIRE_ALL=1: CI must run every test)")
    pytest.skip(what)


class Cli(Protocol):
    """Runs ``benchsmith ARGS…`` in-process; see the ``cli`` fixture."""

    def __call__(
        self, *args: str | Path, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> Result: ...


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spec_copy(
    base: Path, tmp: Path, changes: Mapping[str, Any], *, without: Iterable[str] = ()
) -> Path:
    """``base`` with its ``without`` sections removed and top-level sections changed (a dict
    updates the section, anything else replaces it), written into ``tmp``, a file for each
    base and changes; a relative ``guidelines`` path is made absolute."""
    spec = yaml.safe_load(base.read_text(encoding="utf-8"))
    for section in without:
        spec.pop(section, None)
    for section, values in changes.items():
        spec[section] = {**spec.get(section, {}), **values} if isinstance(values, dict) else values
    if spec.get("guidelines"):
        spec["guidelines"] = str(base.parent / spec["guidelines"])
    what = json.dumps([str(base), sorted(without), changes], sort_keys=True, default=str)
    path = tmp / f"{base.stem}-{hashlib.sha256(what.encode()).hexdigest()[:12]}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def spec_variant(tmp: Path, **changes: Any) -> Path:
    """The sample spec with top-level sections changed (``review={"annotators_per_item": 3}``
    updates the section; see :func:`spec_copy`), written into ``tmp``."""
    return spec_copy(SAMPLE_SPEC, tmp, changes)


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """``rows`` as JSONL at ``path`` (one object a line)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def workspace_with(settings: Settings, tmp: Path, **changes: Any) -> Workspace:
    """A workspace whose benchmark uses the sample spec with ``changes`` (see :func:`spec_variant`)."""
    init_workspace(settings, spec_variant(tmp, **changes) if changes else SAMPLE_SPEC)
    return open_workspace(settings)
