"""Model suggestions: import (validation, all or nothing, replace), the baseline, who sees them,
and that they never count as an annotator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.domain import ItemStatus, Role
from builder.errors import NotFoundError, PermissionDenied, ReviewError
from builder.ingest import ingest_files
from builder.release.snapshot import publish_release
from builder.review.annotations_io import export_lines
from builder.review.dashboard import build_dashboard
from builder.review.queue import next_item, submit
from builder.review.suggestion_baseline import baseline_suggestions
from builder.review.suggestions import (
    import_suggestions,
    is_control,
    lines_schema,
    may_see,
    suggestions_for,
)
from builder.schemas import SCHEMA_DIR, render
from builder.spec import ReviewSpec
from builder.store.audit import history
from builder.store.models import Item, Suggestion
from builder.workspace import Workspace
from tests.support.common import workspace_with, write_jsonl
from tests.support.releases import LEAD, approve, ingest, open_ws
from tests.support.review import actor, make_items, make_user

pytestmark = pytest.mark.usefixtures("fast_argon2")


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def _stored(ws: Workspace) -> list[tuple[int, str, Any, float | None, str]]:
    with ws.db.session() as s:
        rows = s.exec(select(Suggestion).order_by(Suggestion.model, Suggestion.record_id)).all()  # type: ignore[arg-type]
        return [(r.record_id, r.model, r.answer, r.score, r.source) for r in rows]


@pytest.fixture
def sug_ws(workspace: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path) -> Workspace:
    """The sample benchmark (SQLite and PostgreSQL) with 6 items."""
    make_items(workspace, sample_rows, 6, tmp=tmp_path)
    return workspace


def _ids(rows: list[dict[str, Any]], n: int = 6) -> list[str]:
    return [str(r["package"]) for r in rows[:n]]


# --- import ----------------------------------------------------------------------------


def test_import_jsonl_and_json_array(
    sug_ws: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = _ids(sample_rows)
    f = _write(
        tmp_path / "s.jsonl",
        [
            {"source_id": ids[0], "model": "m1", "label": "devel", "score": 0.9},
            {"source_id": ids[1], "model": "m1", "label": "libs"},
        ],
    )
    report = import_suggestions(sug_ws, f)
    assert report.stored == {"m1": 2} and report.replaced == {"m1": 0}
    arr = tmp_path / "s.json"
    arr.write_text(json.dumps([{"source_id": ids[2], "model": "m2", "label": "net"}]))
    assert import_suggestions(sug_ws, arr).stored == {"m2": 1}
    assert _stored(sug_ws) == [
        (1, "m1", "devel", 0.9, "import"),
        (2, "m1", "libs", None, "import"),
        (3, "m2", "net", None, "import"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(
            {"model": "m", "label": "no-such-label"},
            "line 2: label 'no-such-label' is not one of the benchmark's labels",
            id="unknown-label",
        ),
        pytest.param(
            {"model": "m", "labels": ["devel"]},
            'line 2: a classification task takes "label" (got "labels"); give exactly one '
            "answer key",
            id="wrong-shape",
        ),
        pytest.param(
            {"model": "m", "label": "devel", "answer": "devel"},
            'line 2: a classification task takes "label" (got "label" and "answer")',
            id="two-answer-keys",
        ),
        pytest.param(
            {"model": "m", "label": "devel", "score": 1.5},
            "line 2: score 1.5 is outside [0, 1]; give the model's confidence as a "
            "probability, or leave score out",
            id="score-above-1",
        ),
        pytest.param(
            {"model": "m", "label": "devel", "score": -0.25},
            "line 2: score -0.25 is outside [0, 1]",
            id="score-below-0",
        ),
        pytest.param(
            {"model": "m", "label": 7},
            'line 2: "label" 7: Input should be a valid string',
            id="label-not-text",
        ),
        pytest.param(
            {"model": "m", "label": "devel", "colour": "red"},
            "line 2: unknown key \"colour\" (value 'red'); remove it (keys: format_version, "
            "source_id, model, label, labels, answer, score)",
            id="unknown-key",
        ),
        pytest.param(
            {"label": "devel"},
            'line 2: "model" is missing; every suggestion needs "source_id" and "model"',
            id="no-model",
        ),
    ],
)
def test_import_refuses_a_bad_line_and_writes_nothing(
    sug_ws: Workspace,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    line: dict[str, Any],
    message: str,
) -> None:
    ids = _ids(sample_rows)
    good = {"source_id": ids[0], "model": "m", "label": "devel"}
    f = _write(
        tmp_path / "s.jsonl", [good, {"source_id": ids[1], **line}, good | {"source_id": ids[2]}]
    )
    with pytest.raises(ReviewError) as e:
        import_suggestions(sug_ws, f)
    assert str(e.value).startswith(f"{f}: nothing imported, 1 problem(s):\n  ")
    assert message in str(e.value)
    assert _stored(sug_ws) == []


def test_import_reports_every_bad_line_with_its_number(
    sug_ws: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = _ids(sample_rows)
    f = _write(
        tmp_path / "s.jsonl",
        [
            {"source_id": ids[0], "model": "m", "label": "devel"},
            "{not json",
            {"source_id": "no-such-package", "model": "m", "label": "devel"},
            {"source_id": ids[0], "model": "m", "label": "libs"},
            "",
        ],
    )
    with pytest.raises(ReviewError) as e:
        import_suggestions(sug_ws, f)
    assert str(e.value) == (
        f"{f}: nothing imported, 3 problem(s):\n"
        "  line 2: not valid JSON (Expecting property name enclosed in double quotes at "
        "column 2)\n"
        "  line 3: source id 'no-such-package' is not a pool record of benchmark "
        "'debian-sections'; check the id (see `benchsmith items list`) or ingest the record\n"
        f"  line 4: model 'm' already suggested for {ids[0]!r} on line 1; keep one suggestion "
        "per model and record"
    )
    assert _stored(sug_ws) == []


def test_json_file_must_be_an_array(sug_ws: Workspace, tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text('{"source_id": "x"}')
    with pytest.raises(ReviewError, match=r"a \.json file must hold an array of suggestions"):
        import_suggestions(sug_ws, f)


def test_reimport_of_a_model_replaces_its_suggestions_and_is_audited(
    sug_ws: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = _ids(sample_rows)
    first = _write(
        tmp_path / "a.jsonl",
        [{"source_id": i, "model": "m", "label": "devel"} for i in ids[:3]]
        + [{"source_id": ids[0], "model": "other", "label": "net"}],
    )
    import_suggestions(sug_ws, first)
    again = _write(tmp_path / "b.jsonl", [{"source_id": ids[4], "model": "m", "label": "utils"}])
    report = import_suggestions(sug_ws, again)
    assert report.stored == {"m": 1} and report.replaced == {"m": 3}
    assert _stored(sug_ws) == [
        (5, "m", "utils", None, "import"),
        (1, "other", "net", None, "import"),
    ]
    # A bad re-import leaves the earlier suggestions as they were.
    bad = _write(tmp_path / "c.jsonl", [{"source_id": ids[0], "model": "m", "label": "nope"}])
    with pytest.raises(ReviewError):
        import_suggestions(sug_ws, bad)
    assert len(_stored(sug_ws)) == 2
    with sug_ws.db.session() as s:
        events = [
            (e.action, e.before, e.after["model"], e.after["suggestions"])
            for e in history(s, entity="benchmark", entity_id="debian-sections")
            if e.action.startswith("suggestions.")
        ]
    assert events == [
        ("suggestions.import", None, "m", 3),
        ("suggestions.import", None, "other", 1),
        ("suggestions.replace", {"model": "m", "suggestions": 3}, "m", 1),
    ]


def test_schema_describes_the_line(tmp_path: Path) -> None:
    schema = lines_schema()
    assert set(schema["properties"]) == {
        "format_version", "source_id", "model", "label", "labels", "answer", "score",
    }  # fmt: skip
    assert schema["required"] == ["source_id", "model"]
    assert schema["additionalProperties"] is False
    # tests/test_spec.py parametrises over the schemas known at collection time, before the
    # lazy registrations: check this one's file here.
    assert (SCHEMA_DIR / "suggestions.schema.json").read_text() == render("suggestions")


def test_multilabel_and_reference_answers(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = workspace_with(sqlite_settings, tmp_path, task={"type": "multilabel"})
    make_items(ws, sample_rows, 2, tmp=tmp_path)
    ids = _ids(sample_rows, 2)
    f = _write(
        tmp_path / "m.jsonl", [{"source_id": ids[0], "model": "m", "labels": ["net", "admin"]}]
    )
    import_suggestions(ws, f)
    assert _stored(ws) == [(1, "m", ["admin", "net"], None, "import")]
    bad = _write(tmp_path / "b.jsonl", [{"source_id": ids[1], "model": "m", "label": "net"}])
    with pytest.raises(ReviewError, match='a multilabel task takes "labels" \\(got "label"\\)'):
        import_suggestions(ws, bad)
    ws.db.dispose()


# --- the baseline ------------------------------------------------------------------------


@pytest.fixture
def base_ws(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> Iterator[Workspace]:
    """300 pool records; the first 20 are approved items, the rest lie outside the benchmark."""
    ws = open_ws(sqlite_settings, tmp_path)
    ingest(ws, sample_rows[:300], tmp_path)
    make_user(ws, LEAD, Role.lead)
    approve(ws, sample_rows, _ids(sample_rows, 20))
    yield ws
    ws.db.dispose()


def test_baseline_trains_only_on_records_outside_the_benchmark(
    base_ws: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    items = set(_ids(sample_rows, 20))
    # The labels file says every item is "zope", a label no record outside has: a model
    # that saw an item would learn "zope" and could suggest it.
    outside = [r for r in sample_rows[20:300]]
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [{"package": p, "section": "zope"} for p in items]
        + [{"package": r["package"], "section": r["section"]} for r in outside],
    )
    assert not any(r["section"] == "zope" for r in outside)
    r = baseline_suggestions(base_ws, label_field="section", labels_file=labels)
    assert "zope" not in r.labels and "zope" not in r.dropped_labels
    learnt = {r2["section"] for r2 in outside}
    assert set(r.labels) | set(r.dropped_labels) == learnt
    assert r.trained_on == sum(1 for x in outside if x["section"] not in r.dropped_labels)
    stored = _stored(base_ws)
    assert len(stored) == 20 and {m for _, m, _, _, _ in stored} == {"tfidf-linear-svm"}
    assert all(src == "baseline" and 0 < (score or 0) <= 1 for *_, score, src in stored)
    assert {ans for _, _, ans, _, _ in stored} <= set(r.labels)


def test_baseline_without_labels_outside_says_how_to_give_them(base_ws: Workspace) -> None:
    with pytest.raises(ReviewError) as e:
        baseline_suggestions(base_ws, label_field="section")
    assert str(e.value) == (
        "cannot train the baseline for 'debian-sections': no pool record outside the benchmark "
        "has a 'section' field with one of the benchmark's labels (records keep the spec's "
        "fields ['package', 'description', 'priority', 'version', 'installed_size', "
        "'homepage']); the pool has no labels outside the benchmark. Fix: give --labels FILE "
        "--label-field FIELD (a csv/jsonl/parquet file with the source id field and a label "
        "per record), or add the label field to source.metadata_fields and ingest again, "
        "then --label-field FIELD"
    )
    assert _stored(base_ws) == []


def test_baseline_with_too_little_text_to_fit_says_so(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Outside records whose words each occur once: TF-IDF (min_df=2) keeps no term, and the
    lead gets an error naming the records and the fix, not scikit-learn's traceback."""
    ws = open_ws(sqlite_settings, tmp_path)
    rows = [
        {**r, "package": f"pkg{k}", "description": f"uniqueword{k} appearsonce{k} nowhereelse{k}"}
        for k, r in enumerate(sample_rows[:10])
    ]
    ingest(ws, rows, tmp_path)
    make_user(ws, LEAD, Role.lead)
    approve(ws, rows, ["pkg0", "pkg1"])
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [{"package": f"pkg{k}", "section": "admin" if k % 2 else "devel"} for k in range(2, 10)],
    )
    with pytest.raises(ReviewError) as e:
        baseline_suggestions(ws, label_field="section", labels_file=labels)
    assert str(e.value).startswith(
        "cannot train the baseline for 'debian-sections' on 8 labelled pool records outside "
        "the benchmark: After pruning, no terms remain."
    )
    assert str(e.value).endswith(
        "Fix: ingest more labelled records, or give a fuller --labels file"
    )
    assert _stored(ws) == []
    ws.db.dispose()


def test_baseline_reads_labels_kept_in_the_records(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = workspace_with(
        sqlite_settings,
        tmp_path,
        source={"metadata_fields": ["priority", "section"]},
    )
    ingest_files(ws, [write_jsonl(tmp_path / "pool.jsonl", sample_rows[:200])])
    approve(ws, sample_rows, _ids(sample_rows, 10))
    r = baseline_suggestions(ws, label_field="section")
    assert r.trained_on > 100 and len(_stored(ws)) == 10
    ws.db.dispose()


# --- who sees a suggestion ------------------------------------------------------------


def test_control_items_are_a_stable_seeded_share() -> None:
    ids = range(1, 20_001)
    picked = [i for i in ids if is_control(i, seed=13, share=0.05)]
    assert 0.045 < len(picked) / len(ids) < 0.055
    assert picked == [i for i in ids if is_control(i, seed=13, share=0.05)]
    assert picked != [i for i in ids if is_control(i, seed=14, share=0.05)]
    assert not any(is_control(i, seed=13, share=0.0) for i in ids)
    # A larger share keeps every control item of a smaller one (same hash, higher cut).
    assert set(picked) <= {i for i in ids if is_control(i, seed=13, share=0.2)}


def _first(control: bool, share: float, seed: int = 13) -> int:
    return next(i for i in range(1, 1000) if is_control(i, seed=seed, share=share) is control)


@pytest.mark.parametrize("mode", ["hidden", "reviewers", "annotators"])
@pytest.mark.parametrize("role", [Role.annotator, Role.reviewer, Role.lead])
@pytest.mark.parametrize("control", [False, True])
def test_visibility_matrix(mode: str, role: Role, control: bool) -> None:
    review = ReviewSpec(suggestions=mode, suggestion_control=0.3)  # type: ignore[arg-type]
    item = _first(control, 0.3)
    labeling = may_see(review, seed=13, role=role, page="annotate", item_id=item)
    adjudicating = may_see(review, seed=13, role=role, page="adjudicate", item_id=item)
    assert labeling is (mode == "annotators" and not control)
    assert adjudicating is (mode != "hidden" and role is not Role.annotator)


@pytest.fixture
def vis_ws(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> Iterator[Workspace]:
    """Suggestions shown to annotators, a 50 % control share; 12 items with suggestions."""
    ws = workspace_with(
        sqlite_settings, tmp_path, review={"suggestions": "annotators", "suggestion_control": 0.5}
    )
    make_items(ws, sample_rows, 12, tmp=tmp_path)
    for name, role in {"ana": Role.annotator, "rita": Role.reviewer, "lea": Role.lead}.items():
        make_user(ws, name, role)
    f = _write(
        tmp_path / "s.jsonl",
        [
            {"source_id": i, "model": "m", "label": "devel", "score": 0.5}
            for i in _ids(sample_rows, 12)
        ],
    )
    import_suggestions(ws, f)
    yield ws
    ws.db.dispose()


def test_annotator_sees_the_suggestion_only_on_their_own_non_control_items(
    vis_ws: Workspace,
) -> None:
    ana = actor(vis_ws, "ana")
    # Not handed to her yet: nothing, whatever the item.
    assert all(suggestions_for(vis_ws, ana, i, page="annotate") == [] for i in range(1, 13))
    seen = {}
    for _ in range(12):
        task = next_item(vis_ws, ana)
        assert task is not None
        seen[task.item_id] = suggestions_for(vis_ws, ana, task.item_id, page="annotate")
        submit(vis_ws, ana, task.item_id, "libs")
    for item_id, views in seen.items():
        control = is_control(item_id, seed=13, share=0.5)
        assert [(v.model, v.answer, v.score) for v in views] == (
            [] if control else [("m", "devel", 0.5)]
        )
    assert {is_control(i, seed=13, share=0.5) for i in seen} == {True, False}
    with pytest.raises(PermissionDenied):
        suggestions_for(vis_ws, ana, 1, page="adjudicate")


def test_reviewer_and_lead_see_it_while_adjudicating(vis_ws: Workspace) -> None:
    control = _first(True, 0.5)
    for who in ("rita", "lea"):
        views = suggestions_for(vis_ws, actor(vis_ws, who), control, page="adjudicate")
        assert [v.answer for v in views] == ["devel"]
    with pytest.raises(NotFoundError):
        suggestions_for(vis_ws, actor(vis_ws, "rita"), 999, page="adjudicate")


@pytest.mark.parametrize("mode", ["hidden", "reviewers"])
def test_annotators_label_blind_unless_the_spec_shows_them(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path, mode: str
) -> None:
    ws = workspace_with(
        sqlite_settings, tmp_path, review={"suggestions": mode, "suggestion_control": 0.0}
    )
    make_items(ws, sample_rows, 3, tmp=tmp_path)
    import_suggestions(
        ws,
        _write(
            tmp_path / "s.jsonl",
            [{"source_id": i, "model": "m", "label": "net"} for i in _ids(sample_rows, 3)],
        ),
    )
    ana, rita = make_user(ws, "ana"), make_user(ws, "rita", Role.reviewer)
    task = next_item(ws, ana)
    assert task is not None
    assert suggestions_for(ws, ana, task.item_id, page="annotate") == []
    rita_task = next_item(ws, rita)  # a reviewer labeling labels blind too
    assert rita_task is not None
    assert suggestions_for(ws, rita, rita_task.item_id, page="annotate") == []
    shown = suggestions_for(ws, rita, task.item_id, page="adjudicate")
    assert [v.answer for v in shown] == ([] if mode == "hidden" else ["net"])
    ws.db.dispose()


# --- suggestions never count as an annotator ---------------------------------------------


def test_suggestions_never_change_consensus_agreement_exports_or_releases(
    sqlite_settings: Settings, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    ws = open_ws(sqlite_settings, tmp_path, review={"suggestions": "annotators"})
    ingest(ws, sample_rows[:30], tmp_path)
    make_user(ws, LEAD, Role.lead)
    approve(ws, sample_rows, _ids(sample_rows, 20))
    items = make_items_after(ws, sample_rows, tmp_path)
    lea = actor(ws, LEAD)
    before = (repr(build_dashboard(ws, lea).agreement), list(export_lines(ws)))
    # Every item gets a suggestion no annotator gave: "zope" (and a second model, "x11").
    lines = [
        {"source_id": sid, "model": model, "label": label}
        for sid in _ids(sample_rows, 30)
        for model, label in (("m1", "zope"), ("m2", "x11"))
    ]
    import_suggestions(ws, _write(tmp_path / "s.jsonl", lines))
    assert (repr(build_dashboard(ws, lea).agreement), list(export_lines(ws))) == before
    # Two annotators disagree on a new item: a suggestion siding with one decides nothing.
    ana, ben = make_user(ws, "ana"), make_user(ws, "ben")
    submit(ws, ana, items[0], "zope")
    submit(ws, ben, items[0], "admin")
    with ws.db.session() as s:
        item = s.get(Item, items[0])
        assert item is not None and item.status is ItemStatus.conflict
    result = publish_release(ws, actor=LEAD)
    assert result.released_items == 20
    rows = [
        json.loads(line)
        for split in result.splits
        for line in (Path(result.url) / "data" / f"{split}.jsonl").read_text().splitlines()
    ]
    truth = {str(r["package"]): r["section"] for r in sample_rows[:20]}
    assert {r["id"]: r["label"] for r in rows} == truth
    manifest = json.loads((Path(result.url) / "manifest.json").read_text())
    assert manifest["agreement"]["annotators"] == 2  # ann1, ann2: no model among them
    card = (Path(result.url) / "README.md").read_text()
    assert (
        "- Model suggestions: shown to annotators while labeling (`review.suggestions: "
        "annotators`), except on a blind control share of 5.0% of items chosen by a hash of "
        "the item id; agreement may be inflated by anchoring"
    ) in card
    ws.db.dispose()


def make_items_after(ws: Workspace, rows: list[dict[str, Any]], tmp: Path) -> list[int]:
    """Candidate items for the pool records 20–29 (the first 20 are approved already)."""
    from builder.store.models import Record

    with ws.db.session() as s:
        bench, _ = ws.benchmark()
        records = s.exec(
            select(Record).where(Record.source_id.in_(_ids(rows[20:30], 10)))  # type: ignore[attr-defined]
        ).all()
        made = [Item(benchmark_id=bench.id, record_id=r.id, reason="test") for r in records]  # type: ignore[arg-type]
        s.add_all(made)
        s.flush()
        return sorted(i.id for i in made)  # type: ignore[misc]


def test_card_says_annotators_labeled_blind(rel_ws: Workspace) -> None:
    card = (Path(publish_release(rel_ws, actor=LEAD).url) / "README.md").read_text()
    assert (
        "- Model suggestions: not shown to annotators, who labeled blind; reviewers saw them "
        "while adjudicating (`review.suggestions: reviewers`); they never counted as an "
        "annotator."
    ) in card


def test_only_a_lead_may_import_or_run_the_baseline(
    sug_ws: Workspace, sample_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    rita = make_user(sug_ws, "rita", Role.reviewer)
    f = _write(tmp_path / "s.jsonl", [{"source_id": "no-such", "model": "m", "label": "x"}])
    with pytest.raises(PermissionDenied, match="'rita'"):
        import_suggestions(sug_ws, f, actor=rita)
    with pytest.raises(PermissionDenied, match="'rita'"):
        baseline_suggestions(sug_ws, label_field="section", actor=rita)
    assert _stored(sug_ws) == []
