"""What changed between two releases: added, removed, relabeled, input-changed, moved items.

Pure functions over release rows (dicts with ``id``, ``split``, the input fields and the
answer column), plus :func:`diff_releases`, which pulls two verified versions and diffs
them, and :func:`changelog`, the ``CHANGELOG.md`` text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from builder.hashing import canonical_json
from builder.release.manifest import Bump

__all__ = [
    "Moved",
    "Relabel",
    "ReleaseDiff",
    "changelog",
    "diff_releases",
    "diff_rows",
    "suggest_bump",
]

_LIST_LIMIT = 10_000
"""Ids listed per section of a changelog (the counts are always complete)."""


@dataclass(frozen=True)
class Relabel:
    """An item whose gold answer changed."""

    id: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Moved:
    """An item whose split changed (only when an old workspace is rebuilt; pins prevent it)."""

    id: str
    before: str
    after: str


@dataclass
class ReleaseDiff:
    """Item-level differences from ``old`` to ``new`` (ids sorted)."""

    old: str | None
    new: str | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    relabeled: list[Relabel] = field(default_factory=list)
    input_changed: list[str] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        """True when no item changed."""
        return not (
            self.added or self.removed or self.relabeled or self.input_changed or self.moved
        )

    def counts(self) -> dict[str, int]:
        """Number of items per kind of change."""
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "relabeled": len(self.relabeled),
            "input_changed": len(self.input_changed),
            "moved": len(self.moved),
            "unchanged": self.unchanged,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``diff --json``)."""
        return {**asdict(self), "counts": self.counts()}


def _key(value: Any) -> bytes:
    """A deterministic encoding to compare values by (the canonical JSON)."""
    return canonical_json(value)


def _answer_key(answer: Any) -> bytes:
    if isinstance(answer, list | tuple) or (
        hasattr(answer, "tolist") and not isinstance(answer, str)
    ):
        answer = sorted(answer.tolist() if hasattr(answer, "tolist") else answer)
    return _key(answer)


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def diff_rows(
    old: Iterable[Mapping[str, Any]],
    new: Iterable[Mapping[str, Any]],
    *,
    answer_field: str,
    input_fields: Sequence[str],
    old_version: str | None = None,
    new_version: str | None = None,
) -> ReleaseDiff:
    """Compare two sets of release rows keyed by ``id``."""

    def index(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, bytes, Any, bytes]]:
        out = {}
        for r in rows:
            inputs = _key([_plain(r.get(f)) for f in input_fields])
            answer = _plain(r[answer_field])
            out[str(r["id"])] = (str(r.get("split", "")), _answer_key(answer), answer, inputs)
        return out

    a, b = index(old), index(new)
    d = ReleaseDiff(old=old_version, new=new_version)
    d.added = sorted(set(b) - set(a))
    d.removed = sorted(set(a) - set(b))
    for i in sorted(set(a) & set(b)):
        (sa, ka, va, ia), (sb, kb, vb, ib) = a[i], b[i]
        changed = False
        if ka != kb:
            d.relabeled.append(Relabel(i, va, vb))
            changed = True
        if ia != ib:
            d.input_changed.append(i)
            changed = True
        if sa != sb:
            d.moved.append(Moved(i, sa, sb))
            changed = True
        d.unchanged += not changed
    return d


def suggest_bump(
    diff: ReleaseDiff | None, *, private_changes: Mapping[str, int] | None = None
) -> Bump | None:
    """Semver for a diff: removed, relabeled, input-changed or moved items → major;
    only added → minor; nothing (card or notes only) → patch. None for a first release.

    ``private_changes`` are the holdout's own counts (its ids are never listed publicly)
    and weigh the same way.
    """
    if diff is None:
        return None
    priv = private_changes or {}
    breaking = diff.removed or diff.relabeled or diff.input_changed or diff.moved
    if breaking or any(priv.get(k) for k in ("removed", "relabeled", "revised")):
        return "major"
    if diff.added or priv.get("added"):
        return "minor"
    return "patch"


def _fmt(answer: Any) -> str:
    if isinstance(answer, list):
        return "[" + ", ".join(str(a) for a in answer) + "]"
    text = str(answer).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "…"


def changelog(
    diff: ReleaseDiff | None,
    *,
    name: str,
    version: str,
    splits: Mapping[str, int],
    notes: str = "",
    bump: Bump | None = None,
    private_changes: Mapping[str, int] | None = None,
) -> str:
    """``CHANGELOG.md``: the changes of ``version`` against its parent, with ids."""
    lines = [f"# Changelog: {name} {version}", ""]
    total = sum(splits.values())
    split_text = ", ".join(f"{k} {v}" for k, v in splits.items())
    if diff is None or diff.old is None:
        lines += [f"Initial release: {total} items ({split_text}).", ""]
    else:
        c = diff.counts()
        lines += [
            f"Compared with {diff.old}"
            + (f" (a {bump} release)" if bump else "")
            + f": {total} items ({split_text}).",
            "",
            "| change | items |",
            "|---|---:|",
            *(f"| {k.replace('_', ' ')} | {v} |" for k, v in c.items()),
            "",
        ]
    if notes.strip():
        lines += ["## Notes", "", notes.strip(), ""]
    if private_changes and any(private_changes.values()):
        summary = ", ".join(f"{v} {k}" for k, v in private_changes.items() if v)
        lines += [
            "## Private holdout",
            "",
            f"Changed items in the private holdout (ids not published): {summary}.",
            "",
        ]
    if diff is None or diff.old is None:
        return "\n".join(lines).rstrip() + "\n"

    def section(title: str, entries: list[str]) -> None:
        if not entries:
            return
        lines.extend([f"## {title} ({len(entries)})", ""])
        lines.extend(entries[:_LIST_LIMIT])
        if len(entries) > _LIST_LIMIT:
            lines.append(f"- … and {len(entries) - _LIST_LIMIT} more (see `benchsmith diff`)")
        lines.append("")

    section("Added", [f"- `{i}`" for i in diff.added])
    section("Removed", [f"- `{i}`" for i in diff.removed])
    section(
        "Relabeled", [f"- `{r.id}`: {_fmt(r.before)} → {_fmt(r.after)}" for r in diff.relabeled]
    )
    section("Input changed", [f"- `{i}`" for i in diff.input_changed])
    section("Moved between splits", [f"- `{m.id}`: {m.before} → {m.after}" for m in diff.moved])
    return "\n".join(lines).rstrip() + "\n"


def diff_releases(
    name: str,
    old: str,
    new: str,
    *,
    registry: Any = None,
    cache_dir: Any = None,
) -> ReleaseDiff:
    """Pull (and verify) ``name@old`` and ``name@new`` and diff their public splits."""
    from builder.release.pull import pull_release, read_rows

    a = pull_release(name, old, registry=registry, cache_dir=cache_dir, warn_yanked=False)
    b = pull_release(name, new, registry=registry, cache_dir=cache_dir, warn_yanked=False)
    fields = list(dict.fromkeys([*a.manifest.input_fields, *b.manifest.input_fields]))
    return diff_rows(
        read_rows(a.path, a.manifest),
        read_rows(b.path, b.manifest),
        answer_field=b.manifest.answer_field,
        input_fields=fields,
        old_version=a.version,
        new_version=b.version,
    )
