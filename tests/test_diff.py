"""Diffs between releases: added, removed, relabeled, input-changed; bumps; changelog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builder.release.diff import (
    Moved,
    Relabel,
    ReleaseDiff,
    changelog,
    diff_releases,
    diff_rows,
    suggest_bump,
)
from builder.release.snapshot import publish_release
from builder.workspace import Workspace
from tests.support.common import Cli
from tests.support.releases import LEAD, NAME, approve, set_item, source_ids


def _row(i: str, label: Any, text: str = "t", split: str = "test") -> dict[str, Any]:
    return {"id": i, "text": text, "label": label, "split": split}


def test_diff_rows_finds_every_kind_of_change() -> None:
    old = [_row("a", "x"), _row("b", "x"), _row("c", "y"), _row("d", "y"), _row("e", "x")]
    new = [
        _row("a", "x"),
        _row("c", "z"),
        _row("d", "y", text="t2"),
        _row("e", "x", split="dev"),
        _row("f", "x"),
    ]
    d = diff_rows(
        old,
        new,
        answer_field="label",
        input_fields=["text"],
        old_version="1.0.0",
        new_version="2.0.0",
    )
    assert d.added == ["f"] and d.removed == ["b"]
    assert d.relabeled == [Relabel("c", "y", "z")]
    assert d.input_changed == ["d"] and d.moved == [Moved("e", "test", "dev")]
    assert d.counts() == {
        "added": 1,
        "removed": 1,
        "relabeled": 1,
        "input_changed": 1,
        "moved": 1,
        "unchanged": 1,
    }
    assert json.loads(json.dumps(d.to_dict()))["counts"]["relabeled"] == 1


def test_label_sets_compare_as_sets() -> None:
    old = [{"id": "a", "labels": ["x", "y"]}, {"id": "b", "labels": ["x"]}]
    new = [{"id": "a", "labels": ["y", "x"]}, {"id": "b", "labels": ["x", "y"]}]
    d = diff_rows(old, new, answer_field="labels", input_fields=[])
    assert d.relabeled == [Relabel("b", ["x"], ["x", "y"])] and d.unchanged == 1


def test_suggested_bump() -> None:
    base = ReleaseDiff(old="1.0.0", new=None)
    assert suggest_bump(None) is None
    assert suggest_bump(base) == "patch"
    assert suggest_bump(ReleaseDiff("1", None, added=["a"])) == "minor"
    for kind in ("removed", "input_changed"):
        assert suggest_bump(ReleaseDiff("1", None, added=["a"], **{kind: ["b"]})) == "major"
    assert suggest_bump(ReleaseDiff("1", None, relabeled=[Relabel("a", "x", "y")])) == "major"
    assert suggest_bump(base, private_changes={"added": 2}) == "minor"
    assert suggest_bump(base, private_changes={"relabeled": 1}) == "major"


def test_changelog_lists_ids() -> None:
    d = ReleaseDiff(old="1.0.0", new="2.0.0", added=["n1"], removed=["r1"],
                    relabeled=[Relabel("c", "libs", "devel")], unchanged=3)  # fmt: skip
    text = changelog(
        d,
        name="demo",
        version="2.0.0",
        splits={"test": 4, "dev": 1},
        notes="Fixed labels.",
        bump="major",
    )
    assert text == (
        "# Changelog: demo 2.0.0\n\n"
        "Compared with 1.0.0 (a major release): 5 items (test 4, dev 1).\n\n"
        "| change | items |\n|---|---:|\n| added | 1 |\n| removed | 1 |\n| relabeled | 1 |\n"
        "| input changed | 0 |\n| moved | 0 |\n| unchanged | 3 |\n\n"
        "## Notes\n\nFixed labels.\n\n"
        "## Added (1)\n\n- `n1`\n\n## Removed (1)\n\n- `r1`\n\n"
        "## Relabeled (1)\n\n- `c`: libs → devel\n"
    )
    first = changelog(None, name="demo", version="1.0.0", splits={"test": 4})
    assert first == "# Changelog: demo 1.0.0\n\nInitial release: 4 items (test 4).\n"


def test_diff_between_published_releases(
    cli: Cli, rel_ws: Workspace, sample_rows: list[dict[str, Any]]
) -> None:
    rows = sample_rows[:60]
    ids = source_ids(rows)
    publish_release(rel_ws, actor=LEAD)
    from sqlmodel import select

    from builder.store.models import Item, Record

    with rel_ws.db.session() as s:
        item_of = {sid: iid for iid, sid in s.exec(select(Item.id, Record.source_id).join(Record))}
    set_item(rel_ws, item_of[ids[0]], status="rejected")
    set_item(rel_ws, item_of[ids[1]], answer="misc")
    set_item(rel_ws, item_of[ids[2]], text="redacted")
    approve(rel_ws, rows, ids[40:43])
    publish_release(rel_ws, actor=LEAD)

    d = diff_releases(
        NAME,
        "1.0.0",
        "2.0.0",
        registry=rel_ws.settings.registry,
        cache_dir=rel_ws.settings.cache_dir,
    )
    assert (d.old, d.new) == ("1.0.0", "2.0.0")
    assert d.added == sorted(ids[40:43]) and d.removed == [ids[0]]
    assert d.relabeled == [Relabel(ids[1], rows[1]["section"], "misc")]
    assert d.input_changed == [ids[2]] and d.moved == [] and d.unchanged == 37

    env = {"BENCHSMITH_HOME": str(rel_ws.settings.home), "BENCHSMITH_REGISTRY": rel_ws.settings.registry,
           "BENCHSMITH_CACHE": str(rel_ws.settings.cache_dir)}  # fmt: skip
    out = cli("diff", f"{NAME}@1.0.0", f"{NAME}@2.0.0", "--json", env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == json.loads(json.dumps(d.to_dict()))
    out = cli("diff", f"{NAME}@1.0.0", f"{NAME}@2.0.0", env=env)
    assert out.stdout.splitlines()[0] == (
        f"{NAME} 1.0.0 → 2.0.0: added 3, removed 1, relabeled 1, input_changed 1, moved 0, unchanged 37"
    )
    assert f"  relabeled: {ids[1]}: {rows[1]['section']} → misc" in out.stdout
    out = cli("diff", f"{NAME}@1.0.0", "other@2.0.0", env=env)
    assert (
        out.exit_code == 1
        and out.stderr
        == "Error: compare two versions of one benchmark, got 'debian-sections' and 'other'\n"
    )
    log = (Path(rel_ws.settings.registry) / NAME / "2.0.0" / "CHANGELOG.md").read_text()
    assert f"- `{ids[0]}`" in log and f"- `{ids[1]}`: {rows[1]['section']} → misc" in log
