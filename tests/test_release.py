"""Publishing releases: round trip into pandas and datasets, card, refusals, bumps, holdout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from builder.config import Settings
from builder.errors import PermissionDenied, ReleaseError
from builder.release.manifest import parse_manifest
from builder.release.pull import load_release, pull_release
from builder.release.registry import Registry
from builder.release.snapshot import plan_release, publish_release
from builder.release.splits import HOLDOUT_SPLIT, assign_split
from builder.review.agreement import krippendorff_alpha
from builder.store.audit import history
from builder.store.models import Item, ReleaseItem
from builder.workspace import Workspace, init_workspace
from tests.support.common import Cli, spec_variant
from tests.support.releases import (
    LEAD,
    NAME,
    add_users,
    approve,
    ingest,
    open_ws,
    pull_kw,
    seed,
    set_item,
    source_ids,
)


def test_release_round_trip_pandas_and_hf(
    settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """SQLite and PostgreSQL: publish, then pull and load exactly what was approved."""
    ws = open_ws(settings, tmp_path)
    rows = sample_rows[:30]
    items = seed(ws, rows, tmp_path, rows[:24])
    set_item(ws, items[source_ids(rows)[3]], text="REDACTED description")

    result = publish_release(ws, actor=LEAD)

    assert (result.version, result.parent, result.released_items) == ("1.0.0", None, 24)
    assert sum(result.splits.values()) == 24
    Registry(ws.settings.registry).verify(NAME, "1.0.0")
    with ws.db.session() as s:
        statuses = s.exec(select(Item.status, func.count()).group_by(Item.status)).all()
        pinned = s.exec(select(ReleaseItem)).all()
        events = history(s, entity="release", entity_id=f"{NAME}@1.0.0")
    assert dict(statuses) == {"released": 24}
    assert {p.item_id: (p.revision, p.answer) for p in pinned} == {
        items[sid]: (2 if sid == source_ids(rows)[3] else 1, r["section"])
        for sid, r in zip(source_ids(rows[:24]), rows[:24], strict=True)
    }
    assert [e.action for e in events] == ["release.publish"]
    assert events[0].actor == LEAD and events[0].after["content_hash"] == result.content_hash

    frames = load_release(NAME, "1.0.0", split=None, **pull_kw(ws))
    got = {r["id"]: r for df in frames.values() for r in df.to_dict("records")}
    expect = {str(r["package"]): r for r in rows[:24]}
    assert sorted(got) == sorted(expect)
    for sid, r in got.items():
        assert r["label"] == expect[sid]["section"]
        assert r["package"] == expect[sid]["package"]
        want = "REDACTED description" if sid == source_ids(rows)[3] else expect[sid]["description"]
        assert r["description"] == want
        assert r["weight"] == 3.0 and r["stratum"] == expect[sid]["priority"]
    assert list(frames["test"].columns) == [
        "id",
        "package",
        "description",
        "label",
        "cluster",
        "stratum",
        "weight",
    ]
    hf = load_release(
        NAME,
        "1.0.0",
        split="test",
        registry=ws.settings.registry,
        cache_dir=ws.settings.cache_dir,
        as_="hf",
    )
    assert hf.num_rows == result.splits["test"]
    assert hf["id"] == list(frames["test"]["id"]) and hf["label"] == list(frames["test"]["label"])
    assert hf.to_list()[0] == {
        k: v.item() if hasattr(v, "item") else v
        for k, v in frames["test"].iloc[0].to_dict().items()
    }
    ws.db.dispose()


@pytest.fixture
def hf_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """datasets must never reach the network in these tests."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)


def test_datasets_load_dataset_reads_the_release_folder(
    rel_ws: Workspace, tmp_path: Path, hf_offline: None
) -> None:
    import datasets

    result = publish_release(rel_ws, actor=LEAD)
    pulled = pull_release(NAME, "1.0.0", **pull_kw(rel_ws))

    for folder in (Path(result.url), pulled.path):
        ds = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf"))
        assert set(ds) == {"test", "dev"}
        assert {k: ds[k].num_rows for k in ds} == result.splits
        assert ds["test"].column_names == [
            "id",
            "package",
            "description",
            "label",
            "cluster",
            "stratum",
            "weight",
        ]
        assert sorted(ds["test"]["id"]) == sorted(
            load_release(
                NAME,
                "1.0.0",
                registry=rel_ws.settings.registry,
                cache_dir=rel_ws.settings.cache_dir,
            )["id"]
        )


def test_manifest_and_card_describe_the_release(rel_ws: Workspace) -> None:
    from builder.store.models import CurationRun

    with rel_ws.db.session() as s:
        s.add(
            CurationRun(
                benchmark_id=1,
                embedder="static",
                seed=13,
                report={"method": "k-means representatives"},
            )
        )
    result = publish_release(rel_ws, actor=LEAD, notes="Pilot labels from the corpus' sections.")
    folder = Path(result.url)
    m = parse_manifest((folder / "manifest.json").read_bytes(), where="test")
    assert m.content_hash == result.content_hash
    assert sorted(f.path for f in m.files) == [
        "CHANGELOG.md",
        "README.md",
        "data/dev.jsonl",
        "data/dev.parquet",
        "data/test.jsonl",
        "data/test.parquet",
    ]
    # 40 items, two annotators, the second disagrees on every 5th item: 32/40 agree.
    ag = m.agreement
    assert (ag.annotators, ag.annotations, ag.items_multiply_annotated) == (2, 80, 40)
    assert ag.percent_agreement == pytest.approx(0.8)
    assert ag.human_ceiling == pytest.approx(0.8) and ag.ceiling_metric == "accuracy"
    jsonl = [
        json.loads(x)
        for s in ("test", "dev")
        for x in (folder / f"data/{s}.jsonl").read_text().splitlines()
    ]
    assert m.counts["_total"] == 40 == len(jsonl)
    assert sum(v for k, v in m.counts.items() if k != "_total") == 40
    assert m.splits["test"].count + m.splits["dev"].count == 40
    assert m.embedder == "static" and m.sampling["method"] == "k-means representatives"
    assert m.sampling["pool_size"] == 60 and m.sampling["coverage"] == pytest.approx(40 / 60)

    card = (folder / "README.md").read_text()
    front = card.split("---\n")[1]
    assert "license: cc-by-4.0" in front
    assert "- split: test\n    path: data/test.parquet" in front
    for heading in (
        "## Purpose",
        "## Source",
        "## Sampling and coverage",
        "## Label distribution",
        "## Annotation and agreement",
        "## Release notes",
        "## Known limitations",
        "## License",
        "## Citation",
    ):
        assert heading in card
    assert "Pilot labels from the corpus' sections." in card
    assert (
        "embedder static, seed 13, near-duplicate threshold 0.92; method: k-means representatives."
        in card
    )
    assert "Annotators: 2" in card and "observed pairwise agreement: 0.800" in card
    assert "Initial release: 40 items" in (folder / "CHANGELOG.md").read_text()


def test_agreement_alpha_matches_the_agreement_module(rel_ws: Workspace) -> None:
    plan = plan_release(rel_ws)
    with rel_ws.db.session() as s:
        from builder.store.models import Annotation

        rows = s.exec(select(Annotation.item_id, Annotation.annotator_id, Annotation.answer)).all()
    items = sorted({i for i, _, _ in rows})
    who = sorted({a for _, a, _ in rows})
    table = [
        [next((x for i2, a2, x in rows if i2 == i and a2 == a), None) for i in items] for a in who
    ]
    assert plan.agreement.krippendorff_alpha == pytest.approx(krippendorff_alpha(table))


def test_same_version_is_refused_and_registry_untouched(rel_ws: Workspace) -> None:
    first = publish_release(rel_ws, actor=LEAD)
    before = sorted(p.stat().st_mtime_ns for p in Path(first.url).rglob("*"))
    with pytest.raises(ReleaseError) as e:
        publish_release(rel_ws, actor=LEAD, version="1.0.0")
    assert str(e.value) == (
        "release debian-sections@1.0.0 already exists; releases are immutable — publish a new "
        "version (suggested: 1.0.1)"
    )
    with pytest.raises(
        ReleaseError,
        match=r"^version 0\.9\.0 is not above the latest release 1\.0\.0; "
        r"use --version 1\.0\.1 or --bump patch$",
    ):
        publish_release(rel_ws, actor=LEAD, version="0.9.0")
    with pytest.raises(ReleaseError, match="is not a semantic version"):
        publish_release(rel_ws, actor=LEAD, version="v2")
    assert sorted(p.stat().st_mtime_ns for p in Path(first.url).rglob("*")) == before
    assert Registry(rel_ws.settings.registry).versions(NAME) == ["1.0.0"]


def test_only_leads_may_release(
    cli: Cli, rel_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_users(rel_ws, ann="annotator", rita="reviewer", gone="lead")
    from builder.store.models import User

    with rel_ws.db.session() as s:
        gone = s.exec(select(User).where(User.name == "gone")).one()
        gone.disabled = True
        s.add(gone)
    fix = "act as a lead with BENCHSMITH_USER=NAME, or ask a lead to do it"
    cases = {
        "ann": f"user 'ann' has role 'annotator'; only a lead may publish or yank a release; {fix}",
        "rita": f"user 'rita' has role 'reviewer'; only a lead may publish or yank a release; {fix}",
        "gone": f"user 'gone' is disabled; only an enabled lead may publish or yank a release; {fix}",
        "ghost": f"user 'ghost' is not in this workspace; only a lead may publish or yank a release; {fix}",
    }
    for who, message in cases.items():
        with pytest.raises(PermissionDenied) as e:
            publish_release(rel_ws, actor=who)
        assert str(e.value) == message
    assert Registry(rel_ws.settings.registry).versions(NAME) == []

    env = {
        "BENCHSMITH_HOME": str(rel_ws.settings.home),
        "BENCHSMITH_REGISTRY": rel_ws.settings.registry,
        "BENCHSMITH_CACHE": str(rel_ws.settings.cache_dir),
        "BENCHSMITH_USER": "ann",
    }
    out = cli("release", env=env)
    assert out.exit_code == 1
    assert out.stderr == (
        "Error: `benchsmith release` needs the lead role, but the acting name 'ann' (from "
        "BENCHSMITH_USER) has the annotator role; ask a lead to run `benchsmith users set-role "
        "ann --role lead`, or set BENCHSMITH_USER to the name of a lead\n"
    )
    out = cli("release", "--json", env={**env, "BENCHSMITH_USER": LEAD})
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["version"] == "1.0.0"


def test_a_workspace_without_users_lets_its_operator_release(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(sqlite_settings, tmp_path)
    ingest(ws, sample_rows[:10], tmp_path)
    approve(ws, sample_rows, source_ids(sample_rows[:10]), annotators=())
    # approve() made no users: the one-person workspace may publish as anyone.
    assert publish_release(ws, actor="whoever").version == "1.0.0"
    ws.db.dispose()


def test_no_approved_items_is_refused(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(sqlite_settings, tmp_path)
    ingest(ws, sample_rows[:5], tmp_path)
    with pytest.raises(ReleaseError) as e:
        publish_release(ws, actor=LEAD)
    assert str(e.value) == (
        "benchmark 'debian-sections' has no approved items; approve items in the review app "
        "or import annotations (`benchsmith annotations import`) before releasing"
    )
    ws.db.dispose()


def test_invalid_final_answer_is_refused(
    rel_ws: Workspace, sample_rows: list[dict[str, Any]]
) -> None:
    sid = str(sample_rows[0]["package"])
    with rel_ws.db.session() as s:
        item = s.exec(select(Item).order_by(col(Item.id))).first()
        assert item is not None
        item.answer = "not-a-section"
        s.add(item)
        item_id = item.id
    with pytest.raises(ReleaseError) as e:
        publish_release(rel_ws, actor=LEAD)
    assert str(e.value) == (
        f"approved item {sid!r} (item #{item_id}) has answer 'not-a-section', which is not one of "
        "the task's labels; fix its answer in the review app (Adjudicate) or send it back, then "
        "release again"
    )


def test_suggested_bumps_follow_semver(
    rel_ws: Workspace, sample_rows: list[dict[str, Any]]
) -> None:
    rows = sample_rows[:60]
    publish_release(rel_ws, actor=LEAD)
    items = approve(rel_ws, rows, source_ids(rows[40:45]))
    assert plan_release(rel_ws).suggested_bump == "minor"  # only added
    assert publish_release(rel_ws, actor=LEAD).version == "1.1.0"

    plan = plan_release(rel_ws, notes="better card")
    assert (plan.suggested_bump, plan.version) == ("patch", "1.1.1")  # nothing changed
    assert plan.warnings == [
        "no item changed since 1.1.0; this release only updates the card and notes"
    ]
    assert publish_release(rel_ws, actor=LEAD, notes="better card").version == "1.1.1"

    sid = source_ids(rows)[41]
    set_item(rel_ws, items[sid], answer="misc", status="approved")
    plan = plan_release(rel_ws)
    assert plan.suggested_bump == "major" and plan.version == "2.0.0"
    assert [(r.id, r.before, r.after) for r in plan.diff.relabeled] == [
        (sid, rows[41]["section"], "misc")
    ]  # type: ignore[union-attr]
    with pytest.raises(ReleaseError) as e:
        publish_release(rel_ws, actor=LEAD, bump="minor")
    assert str(e.value) == (
        "the changes since 1.1.1 ({'relabeled': 1}) need a major bump; a minor release (1.2.0) "
        "would hide them — use --bump major or --version 2.0.0"
    )
    with pytest.raises(ReleaseError, match="need a major bump"):
        publish_release(rel_ws, actor=LEAD, version="1.1.2")
    assert publish_release(rel_ws, actor=LEAD, version="3.0.0").version == "3.0.0"  # bigger is fine

    set_item(rel_ws, items[source_ids(rows)[42]], text="a redacted text")  # input change → major
    plan = plan_release(rel_ws)
    assert plan.diff is not None and plan.diff.input_changed == [source_ids(rows)[42]]
    assert (plan.suggested_bump, plan.version) == ("major", "4.0.0")


def test_splits_are_stable_across_versions_and_spec_changes(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(sqlite_settings, tmp_path)
    rows = sample_rows[:120]
    items = seed(ws, rows, tmp_path, rows[:60])
    publish_release(ws, actor=LEAD)
    v1 = _splits(ws, "1.0.0")
    shares = {"test": 0.8, "dev": 0.2}
    assert v1 == {i: assign_split(NAME, i, shares) for i in v1}

    for sid in source_ids(rows[:10]):
        set_item(ws, items[sid], status="rejected")
    approve(ws, rows, source_ids(rows[60:90]))
    # The lead changes the shares: released items keep their split, new ones use the new shares.
    spec = spec_variant(tmp_path, release={"splits": {"test": 0.5, "dev": 0.5}})
    init_workspace(ws.settings, spec, update=True)
    approve(ws, rows, source_ids(rows[90:120]))
    publish_release(ws, actor=LEAD)
    v2 = _splits(ws, "2.0.0")
    for sid in set(v1) & set(v2):
        assert v2[sid] == v1[sid]
    new = {"test": 0.5, "dev": 0.5}
    assert {sid: v2[sid] for sid in source_ids(rows[60:120])} == {
        sid: assign_split(NAME, sid, new) for sid in source_ids(rows[60:120])
    }
    assert set(v2) == set(source_ids(rows[10:120]))
    ws.db.dispose()


def _splits(ws: Workspace, version: str) -> dict[str, str]:
    frames = load_release(NAME, version, split=None, **pull_kw(ws))
    return {i: s for s, df in frames.items() for i in df["id"]}


def test_private_holdout_never_reaches_the_public_registry(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(sqlite_settings, tmp_path, release={"private_holdout": 0.5})
    rows = sample_rows[:80]
    seed(ws, rows, tmp_path)
    result = publish_release(ws, actor=LEAD)

    expected = {
        i
        for i in source_ids(rows)
        if assign_split(NAME, i, {"test": 0.8, "dev": 0.2}, 0.5) == HOLDOUT_SPLIT
    }
    assert result.holdout == len(expected) > 5
    held = load_release(
        NAME,
        "1.0.0",
        split=HOLDOUT_SPLIT,
        registry=ws.settings.private_registry,
        cache_dir=ws.settings.cache_dir,
    )
    assert set(held["id"]) == expected
    public = load_release(NAME, "1.0.0", split=None, **pull_kw(ws))
    assert set(public) == {"test", "dev"}
    assert not expected & {i for df in public.values() for i in df["id"]}
    # No byte of the public registry names a held-out item (ids are quoted in every format).
    blob = b"".join(p.read_bytes() for p in Path(ws.settings.registry).rglob("*") if p.is_file())
    for sid in expected:
        assert json.dumps(sid).encode() not in blob and f"`{sid}`".encode() not in blob
    assert HOLDOUT_SPLIT.encode() + b".parquet" not in blob
    m = Registry(ws.settings.registry).read_manifest(NAME, "1.0.0")
    pm = Registry(ws.settings.private_registry).read_manifest(NAME, "1.0.0")
    assert m.holdout is not None and m.holdout.content_hash == pm.content_hash
    assert m.holdout.count == len(expected) and pm.visibility == "private"
    # The holdout is scored from the private registry like any split.
    from builder.evaluate import evaluate_release

    preds = tmp_path / "held.jsonl"
    preds.write_text(
        "".join(json.dumps({"id": i, "prediction": "libs"}) + "\n" for i in held["id"])
    )
    scored = evaluate_release(NAME, "1.0.0", preds, model="m", split=HOLDOUT_SPLIT, n_resamples=0,
                              registry=ws.settings.private_registry, cache_dir=ws.settings.cache_dir)  # fmt: skip
    assert scored.metrics["n"] == len(expected) and scored.split == HOLDOUT_SPLIT

    # A later version keeps the same items held out, and the changelog names none of them.
    ingest(ws, sample_rows[80:100], tmp_path, name="more")
    approve(ws, sample_rows, source_ids(sample_rows[80:100]))
    second = publish_release(ws, actor=LEAD)
    held2 = load_release(
        NAME,
        second.version,
        split=HOLDOUT_SPLIT,
        registry=ws.settings.private_registry,
        cache_dir=ws.settings.cache_dir,
    )
    assert expected <= set(held2["id"])
    log = (Path(second.url) / "CHANGELOG.md").read_text()
    assert "Changed items in the private holdout (ids not published): " in log
    for sid in set(held2["id"]):
        assert f"`{sid}`" not in log
    ws.db.dispose()


def test_holdout_needs_a_separate_private_registry(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(sqlite_settings, tmp_path, release={"private_holdout": 0.5})
    ingest(ws, sample_rows[:30], tmp_path)
    approve(ws, sample_rows, source_ids(sample_rows[:30]), annotators=())
    with pytest.raises(ReleaseError) as e:
        publish_release(ws, actor=LEAD, private_registry=ws.settings.registry)
    assert str(e.value) == (
        f"the private registry {ws.settings.registry} is the public one; the holdout must never "
        "be public — set --private-registry / BENCHSMITH_PRIVATE_REGISTRY to another location"
    )
    assert not os.path.exists(Path(ws.settings.registry) / NAME / "1.0.0")
    ws.db.dispose()


def test_an_empty_split_still_loads_with_datasets(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path, hf_offline: None
) -> None:
    import datasets

    ws = open_ws(sqlite_settings, tmp_path)
    ingest(ws, sample_rows[:1], tmp_path)
    approve(ws, sample_rows, source_ids(sample_rows[:1]), annotators=())
    result = publish_release(ws, actor=LEAD)
    empty = [s for s, n in result.splits.items() if n == 0]
    assert len(empty) == 1 and (Path(result.url) / f"data/{empty[0]}.parquet").is_file()
    ds = datasets.load_dataset(result.url, cache_dir=str(tmp_path / "hf"))
    assert {k: v.num_rows for k, v in ds.items()} == {s: 1 for s, n in result.splits.items() if n}
    assert len(load_release(NAME, "1.0.0", split=empty[0], registry=ws.settings.registry,
                            cache_dir=ws.settings.cache_dir)) == 0  # fmt: skip
    ws.db.dispose()
