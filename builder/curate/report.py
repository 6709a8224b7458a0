"""The curation report: what each stage kept and dropped, and why the sample looks as it does.

Stored in ``CurationRun.report`` (JSON) for the review app, printed by ``curate --json``.
The app plots ``clusters`` (size vs picks) and ``map`` (a 2-D PCA of the pool's embeddings
with the sample highlighted); the other keys are the funnel from pool to sample.
``removed`` (or, when long, the JSON Lines file ``removed_file``) lists every record removed
as a duplicate and the kept record it duplicates, under the rule in ``near_duplicate_rule``.
:func:`stage_counts` turns a stored report (any format version) into the records each stage
removed; ``threshold_examples`` shows the pairs on either side of the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from builder.display import visible

__all__ = [
    "EXAMPLES",
    "FORMAT_VERSION",
    "MAP_POINTS",
    "REMOVED_INLINE",
    "CurationReport",
    "near_duplicate_rule",
    "pool_map",
    "stage_counts",
    "stage_line",
    "threshold_lines",
]

FORMAT_VERSION = 3
"""2: ``removed``/``removed_file``, ``near_duplicate_rule``, ``near_duplicate_examples`` and
``pair_search`` added; near duplicates follow the kept-match rule (no transitive groups).
3: ``near_duplicate_threshold_source`` (the spec or the embedder's default) and
``threshold_examples`` (pairs on both sides of the threshold). Older reports still read:
the new keys are simply absent (:func:`stage_counts` needs none of them)."""
MAP_POINTS = 5000
"""Most points in the stored map (every sample point is always among them)."""
REMOVED_INLINE = 1000
"""Most removed-record rows kept inside the report; more go to ``removed_file``."""
EXAMPLES = 5
"""Pairs shown in ``near_duplicate_examples`` and in ``threshold_examples``."""


def near_duplicate_rule(threshold: float) -> str:
    """The near-duplicate rule, in words, as stated in the report."""
    return (
        f"a record is removed as a near duplicate only if a record that is kept has cosine "
        f"similarity >= {threshold:g} with it; records are taken in keep priority (existing "
        "items first, then nearest its cell centre, then the longest text, then the first "
        "ingested) and each is kept unless a kept record is that similar (greedy, no "
        "transitive groups). Exact duplicates (same normalised text) are removed in favour of "
        "the first record with that text."
    )


@dataclass
class CurationReport:
    """One curate run, from pool to sample."""

    benchmark: str
    run_id: int | None = None
    """The CurationRun row holding this report."""
    pool: int = 0
    """Records in the pool."""
    filtered: dict[str, int] = field(default_factory=dict)
    """Records failing the quality filters, by reason (empty, too_short, too_long)."""
    pii: dict[str, int] = field(default_factory=dict)
    """PII matches by kind over the records that passed the filters."""
    pii_policy: str = "flag"
    pii_records: int = 0
    """Records holding any PII."""
    pii_dropped: int = 0
    """Records excluded by the ``drop`` policy."""
    contaminated: list[dict[str, Any]] = field(default_factory=list)
    """Excluded records overlapping an earlier release or ``--against`` file:
    ``source_id``, ``source``, ``shared`` n-grams of ``total``."""
    contamination_sources: int = 0
    """Texts indexed for the contamination check."""
    exact_duplicates: int = 0
    """Records dropped as exact duplicates (same normalised text) of a kept record."""
    near_duplicates: int = 0
    """Records dropped as near duplicates (cosine ≥ threshold) of a kept record."""
    duplicate_groups: int = 0
    """Kept records that absorbed at least one exact or near duplicate."""
    near_duplicate_rule: str = ""
    """The rule near and exact duplicates were removed by (:func:`near_duplicate_rule`)."""
    removed: list[dict[str, Any]] = field(default_factory=list)
    """Every record removed as a duplicate, in pool order: ``source_id``, ``kind`` (``near`` |
    ``exact``), ``duplicate_of`` and ``cosine``. For ``near``, ``duplicate_of`` is the source
    id of a kept record with cosine ≥ threshold (the most similar one) and ``cosine`` that
    similarity; for ``exact``, it is the first record with the same normalised text (should
    that one be removed as a near duplicate, its own row names its kept record) and
    ``cosine`` is null. Empty when there are more than REMOVED_INLINE rows: they are in
    ``removed_file`` then. Records ruled out by the final check of the sample
    (``sample_check_dropped``) are not listed."""
    removed_file: str | None = None
    """JSON Lines file (one ``removed`` row per line, written atomically under the workspace)
    when there are more than REMOVED_INLINE removed records; else None."""
    near_duplicate_examples: list[dict[str, Any]] = field(default_factory=list)
    """Up to EXAMPLES removed near duplicates closest to the threshold (lowest cosine first):
    ``source_id``, ``text``, ``duplicate_of``, ``duplicate_of_text``, ``cosine``."""
    pair_search: dict[str, Any] = field(default_factory=dict)
    """How the near-duplicate pairs were found: ``pairs`` (found, cosine ≥ threshold),
    ``searches`` (the first plus checks over the kept records), ``verified`` (the last check
    found no new pair)."""
    sample_check_dropped: int = 0
    """Near duplicates the pair search missed and the all-pairs check of the sample ruled
    out (counted in ``near_duplicates``; normally 0)."""
    after_dedup: int = 0
    """Records the sampler chose from (including earlier items)."""
    held: int = 0
    """Items already in the benchmark that the sample builds on (top-up)."""
    requested: int = 0
    """New items asked for."""
    k: int = 0
    """k-means clusters."""
    clusters: list[dict[str, int]] = field(default_factory=list)
    """Per cluster: ``cluster``, ``size`` (records, duplicates included), ``picked``, ``held``."""
    strata: list[dict[str, Any]] = field(default_factory=list)
    """Per stratum when a strata field is set: ``stratum``, ``size``, ``picked``, ``held``."""
    strata_field: str | None = None
    selected: list[str] = field(default_factory=list)
    """Source ids of the records picked by this run."""
    weights_total: float = 0.0
    """Sum of the inclusion weights of the whole sample: the records it stands for."""
    embedder: str = ""
    """Model id of the embedder (with its weights' fingerprint)."""
    embedded: int = 0
    """Texts encoded by the model in this run."""
    cached: int = 0
    """Texts whose vectors came from the embedding cache."""
    threshold_examples: list[dict[str, Any]] = field(default_factory=list)
    """Up to EXAMPLES pairs whose cosine is closest to the threshold, from both sides when
    there are (up to 3 above, the rest below), highest cosine first, so a lead can judge the
    threshold: ``side`` (``removed``: cosine ≥ threshold, ``source_id`` was removed as a near
    duplicate of ``other``; ``kept``: cosine below it, both records kept — the closest such
    pairs from each of a seeded sample of kept records to its most similar kept record),
    ``source_id``, ``text``, ``other``, ``other_text``, ``cosine``."""
    near_duplicate_threshold: float = 0.0
    """The cosine threshold the run used (the spec's, or the embedder's calibrated default)."""
    near_duplicate_threshold_source: str = ""
    """``spec`` (set in the spec) or ``embedder default`` (unset: the embedder's own,
    ``builder.curate.embed.DEFAULT_THRESHOLDS``)."""
    seed: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds per stage."""
    map: dict[str, list[Any]] = field(default_factory=dict)
    """``x``, ``y``, ``cluster``, ``selected`` (picked by this run), ``held``, ``source_id``."""
    format_version: int = FORMAT_VERSION

    def to_dict(self, *, with_map: bool = True) -> dict[str, Any]:
        """JSON-ready dict (``with_map=False`` leaves out the bulky 2-D map)."""
        out = asdict(self)
        if not with_map:
            out.pop("map")
        return out

    def summary(self) -> dict[str, Any]:
        """Counts only: for the audit log and one-line displays."""
        return {
            "pool": self.pool,
            "filtered": sum(self.filtered.values()),
            "pii_records": self.pii_records,
            "pii_dropped": self.pii_dropped,
            "contaminated": len(self.contaminated),
            "exact_duplicates": self.exact_duplicates,
            "near_duplicates": self.near_duplicates,
            "after_dedup": self.after_dedup,
            "held": self.held,
            "selected": len(self.selected),
            "k": self.k,
            "embedder": self.embedder,
            "near_duplicate_threshold": self.near_duplicate_threshold,
            "seed": self.seed,
        }


def stage_counts(report: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(stage, records) rows from pool to sample, from a stored report dict of any version.

    Rows, in pipeline order: ``pool``; one ``filtered: <reason>`` per non-zero filter
    reason; ``PII dropped``; ``contaminated``; ``exact duplicates``; ``near duplicates``;
    ``existing items`` (kept, when the run topped up); ``not sampled`` (left after
    de-duplication but not picked); ``selected``. Every row after ``pool`` is records that
    stage removed (or kept, for the last two), so they sum to ``pool``.
    """
    filtered = report.get("filtered") or {}
    selected = len(report.get("selected") or [])
    held = int(report.get("held") or 0)
    rows: list[tuple[str, int]] = [("pool", int(report.get("pool") or 0))]
    rows += [(f"filtered: {k}", int(v)) for k, v in filtered.items() if v]
    rows += [
        ("PII dropped", int(report.get("pii_dropped") or 0)),
        ("contaminated", len(report.get("contaminated") or [])),
        ("exact duplicates", int(report.get("exact_duplicates") or 0)),
        ("near duplicates", int(report.get("near_duplicates") or 0)),
    ]
    if held:
        rows.append(("existing items", held))
    rows += [
        ("not sampled", max(0, int(report.get("after_dedup") or 0) - held - selected)),
        ("selected", selected),
    ]
    return rows


def pool_map(
    x: np.ndarray,
    *,
    cluster: np.ndarray,
    selected: np.ndarray,
    held: np.ndarray,
    source_ids: list[str],
    seed: int,
    limit: int = MAP_POINTS,
) -> dict[str, list[Any]]:
    """A 2-D PCA of at most ``limit`` points: every sample point plus a seeded random rest.

    Should the sample itself exceed ``limit``, this run's picks come first, then earlier items.
    """
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    room = limit
    # This run's picks first, then earlier items, then the rest of the pool, each seeded.
    for group in (selected, held & ~selected, ~(selected | held)):
        members = np.flatnonzero(group)
        if len(members) > room:
            members = rng.choice(members, room, replace=False)
        chosen.append(members)
        room -= len(members)
    idx = np.sort(np.concatenate(chosen).astype(np.int64))
    pts = x[idx].astype(np.float64)
    if len(idx) >= 2:
        centred = pts - pts.mean(axis=0)
        # Two leading right-singular vectors = the PCA axes; the sign is fixed so the picture
        # does not flip between runs with the same data.
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axes = vt[:2]
        axes *= np.where(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)] < 0, -1, 1)[
            :, None
        ]
        xy = centred @ axes.T
        if xy.shape[1] < 2:
            xy = np.column_stack([xy, np.zeros(len(xy))])
    else:
        xy = np.zeros((len(idx), 2))
    return {
        "x": [round(float(v), 4) for v in xy[:, 0]],
        "y": [round(float(v), 4) for v in xy[:, 1]],
        "cluster": [int(c) for c in cluster[idx]],
        "selected": [bool(s) for s in selected[idx]],
        "held": [bool(h) for h in held[idx]],
        "source_id": [source_ids[i] for i in idx],
    }


def stage_line(rows: list[tuple[str, int]]) -> str:
    """One terminal line of :func:`stage_counts` rows: ``records by stage (of N): …``."""
    total = rows[0][1] if rows else 0
    return f"records by stage (of {total}): " + ", ".join(f"{visible(k)} {n}" for k, n in rows[1:])


def threshold_lines(report: Mapping[str, Any], *, width: int = 60) -> list[str]:
    """Terminal lines for ``curate`` and ``status``: the threshold and where it came from,
    then the pairs at the threshold (each text cut to ``width`` characters, on one line;
    every string through :func:`~builder.display.visible`)."""
    thr = report.get("near_duplicate_threshold")
    source = report.get("near_duplicate_threshold_source")
    lines = [
        f"near-duplicate threshold: {thr if thr is not None else '?'}"
        + (f" ({visible(source)})" if source else "")
    ]
    pairs = [e for e in report.get("threshold_examples") or [] if isinstance(e, Mapping)]
    if pairs:
        lines.append("pairs at the threshold (removed: cosine ≥ threshold; kept: below):")
    for e in pairs:
        cos = e.get("cosine")
        lines.append(
            f"  {visible(e.get('side'))} {cos if cos is not None else '?'}: "
            f"{visible(e.get('source_id'))} {_one_line(e.get('text'), width)} ~ "
            f"{visible(e.get('other'))} {_one_line(e.get('other_text'), width)}"
        )
    return lines


def _one_line(text: object, width: int) -> str:
    s = " ".join(str(text or "").split())
    s = s if len(s) <= width else s[: width - 1] + "…"
    return repr(visible(s))
