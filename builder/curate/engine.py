"""Where curation's heavy stages run: this process (``local``) or a Ray cluster (``ray``).

``curate`` calls the engine for the two stages that grow with the pool: scanning and
embedding (stages 1–6, :meth:`CurationEngine.scan_and_embed`) and the near-duplicate pair
search (stage 7, :meth:`CurationEngine.near_duplicates`). Everything that decides (the
exact-duplicate rule, the near-duplicate keep rule, sampling, what is written) is the same
code on the driver whichever engine found the pairs, so both engines decide alike.

- ``local``: :func:`builder.curate.scan.scan_and_embed` and
  :func:`builder.curate.pair_search.near_duplicates`, in this process.
- ``ray``: :class:`builder.curate.engine_ray.RayEngine` (Ray Data ``map_batches`` on a Ray
  cluster; needs ``pip install 'benchsmith[ray]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from builder.errors import ConfigError

if TYPE_CHECKING:
    from builder.curate.embed import Embedder
    from builder.curate.pair_search import NearDuplicates
    from builder.curate.report import CurationReport
    from builder.curate.scan import Progress, ScannedPool, Scanner
    from builder.spec import CurationSpec
    from builder.workspace import Workspace

__all__ = ["ENGINES", "CurationEngine", "EngineName", "LocalEngine", "get_engine"]

EngineName = Literal["local", "ray"]
ENGINES: tuple[EngineName, ...] = ("local", "ray")
"""Engine names ``curation.engine`` and ``curate --engine`` accept."""


class CurationEngine(Protocol):
    """The heavy stages of ``curate``; both take and return what the local functions do."""

    name: str

    def scan_and_embed(
        self,
        ws: Workspace,
        benchmark_id: int,
        cfg: CurationSpec,
        model: Embedder,
        scanner: Scanner,
        seed: int,
        report: CurationReport,
        stages: dict[str, float],
        progress: Progress | None,
        **kw: Any,
    ) -> ScannedPool:
        """Stages 1–6 (see :func:`builder.curate.scan.scan_and_embed`)."""
        ...

    def near_duplicates(
        self,
        x: np.ndarray,
        threshold: float,
        *,
        seed: int,
        protected: np.ndarray | None = None,
        lengths: np.ndarray | Sequence[int] | None = None,
    ) -> NearDuplicates:
        """Stage 7 (see :func:`builder.curate.pair_search.near_duplicates`)."""
        ...


class LocalEngine:
    """Everything in this process: the functions ``curate`` has always called."""

    name = "local"

    def scan_and_embed(
        self,
        ws: Workspace,
        benchmark_id: int,
        cfg: CurationSpec,
        model: Embedder,
        scanner: Scanner,
        seed: int,
        report: CurationReport,
        stages: dict[str, float],
        progress: Progress | None,
        **kw: Any,
    ) -> ScannedPool:
        """:func:`builder.curate.scan.scan_and_embed`."""
        from builder.curate.scan import scan_and_embed

        return scan_and_embed(
            ws, benchmark_id, cfg, model, scanner, seed, report, stages, progress, **kw
        )

    def near_duplicates(
        self,
        x: np.ndarray,
        threshold: float,
        *,
        seed: int,
        protected: np.ndarray | None = None,
        lengths: np.ndarray | Sequence[int] | None = None,
    ) -> NearDuplicates:
        """:func:`builder.curate.pair_search.near_duplicates`."""
        from builder.curate.pair_search import near_duplicates

        return near_duplicates(x, threshold, seed=seed, protected=protected, lengths=lengths)


def get_engine(name: str, *, ray_address: str | None = None) -> CurationEngine:
    """The engine called ``name`` (``local`` | ``ray``).

    ``ray_address`` (``ray`` only): the cluster to connect to; None lets Ray decide as
    ``ray.init`` does (``RAY_ADDRESS``, else a running local cluster, else a new one in this
    process). Raises :class:`ConfigError` for an unknown name, an address given to the local
    engine, or ``ray`` without the ``benchsmith[ray]`` extra installed.
    """
    if name == "local":
        if ray_address:
            raise ConfigError(
                f"--ray-address {ray_address!r} was given but the engine is 'local'; "
                "add --engine ray (or set curation.engine: ray in the spec)"
            )
        return LocalEngine()
    if name == "ray":
        from builder.curate.engine_ray import RayEngine

        return RayEngine(address=ray_address)
    raise ConfigError(f"engine {name!r} is not one of {', '.join(ENGINES)}; pass --engine local")
