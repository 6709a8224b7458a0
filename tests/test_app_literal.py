"""Every page of the review app, with hostile values everywhere, renders them literally.

Source ids, spec labels, field names, user names (valid ones that GFM would autolink, and
legacy ones stored without the name check), comments, release notes, yank reasons and model
names all carry Markdown (images, links, emphasis, math, colour directives, shortcodes,
code, HTML) and a right-to-left override. Each page is run (AppTest) as the role that sees
it; every string the browser would render as Markdown must render no Markdown at all
(tests/support/literal.py), no bidi control may reach any element, and the values must
still be shown (escaped, with the override written as ⟨U+202E⟩).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from builder.config import Settings
from builder.display import BIDI_CONTROLS, visible
from builder.evaluate import evaluate_release, record_evaluation
from builder.release.pull import load_release
from builder.release.snapshot import publish_release, yank_release
from builder.workspace import Workspace
from review_ui.session import AUTH_KEY
from tests.support.hostile import (
    ANNOTATORS,
    COMMENT,
    FIELD,
    HOSTILES,
    LABELS,
    LEAD,
    MODEL,
    NOTES,
    REASON,
    REVIEWER,
    TYPED,
    answer_items,
    approve_rest,
    hostile_workspace,
    sid,
)
from tests.support.literal import active_markdown, markdown_values, shown
from tests.support.review import APP, PASSWORD, app_env, app_test


@pytest.fixture
def hostile_ws(
    sqlite_settings: Settings,
    sample_rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_argon2: None,
) -> Workspace:
    app_env(sqlite_settings, monkeypatch, BENCHSMITH_CACHE=str(tmp_path / "cache"))
    return hostile_workspace(sqlite_settings, sample_rows, tmp_path)


def _check(at: AppTest, *, guidelines: str = "") -> list[str]:
    """Everything the page shows as Markdown renders literally; returns what it displays."""
    assert not at.exception, [e.value for e in at.exception]
    bad: list[tuple[str, str, Any]] = []
    displayed: list[str] = []
    for where, value in markdown_values(at):
        if guidelines and value.strip() == textwrap.dedent(guidelines).strip():
            continue  # the lead's own Markdown file, rendered on purpose
        # Trusted messages may name commands as `code`; hostile text may never be code.
        problems = active_markdown(value, allow_code="evil" not in value)
        if problems:
            bad.append((where, value, problems))
        if any(h in value for h in [*HOSTILES, *ANNOTATORS]):
            bad.append((where, value, "raw hostile value"))
        displayed.append(shown(value))
    # Literal elements: no bidi control reaches any of them either.
    literal = [t.value for t in at.text] + [c.value for c in at.code]
    for df in at.dataframe:
        literal += [str(v) for col in df.value.columns for v in [col, *df.value[col]]]
    for box in [*at.selectbox, *at.multiselect]:
        literal += [str(o) for o in box.options]
    for value in [*displayed, *literal]:
        if BIDI_CONTROLS & set(value):
            bad.append(("", value, "bidi control"))
    assert bad == []
    return displayed + literal


def _page(ws: Workspace, user: str, page: str | None) -> AppTest:
    return app_test(ws, user, page)


def test_annotator_pages(hostile_ws: Workspace) -> None:
    ws = hostile_ws
    bench, _ = ws.benchmark()
    who = ANNOTATORS[0]
    at = _page(ws, who, None)  # the whole app: sidebar, navigation, Annotate
    seen = _check(at, guidelines=bench.guidelines or "")
    assert f"{who} · annotator" in seen
    ids = [visible(sid(i)) for i in range(6)]
    first = shown(at.subheader[0].value)
    assert first in ids  # the heading
    assert visible(FIELD) in seen  # the field's name
    pills = next(b for b in at.button_group if str(b.key).startswith("answer_pick_"))
    item = str(pills.key).removeprefix("answer_pick_")
    assert [shown(o) for o in pills.options] == [
        f"{i} · {visible(lab)}" for i, lab in enumerate(LABELS, 1)
    ]
    pills.set_value(LABELS[1])
    at.text_input(key=f"comment_{item}").input(COMMENT)
    at.button(key=f"submit_{item}").click().run()
    seen = _check(at, guidelines=bench.guidelines or "")
    assert f"Saved {first}" in seen  # the notice
    assert shown(at.subheader[0].value) in set(ids) - {first}

    # My answers: the table and the revise list.
    at.switch_page("app_pages/my_answers.py").run()
    seen = _check(at)
    assert visible(COMMENT) in seen and f"{first}: {visible(LABELS[1])}" in seen

    # Revising from My answers opens the item on Annotate, headed "Revising <id>".
    at.button(key="revise").click().run()
    at.switch_page("app_pages/annotate.py").run()
    seen = _check(at, guidelines=bench.guidelines or "")
    assert f"Revising {first}" in seen


def test_reviewer_pages(hostile_ws: Workspace) -> None:
    ws = hostile_ws
    answer_items(ws)
    at = _page(ws, REVIEWER, None)  # Annotate, whose guidelines stay beside an empty queue
    seen = _check(at, guidelines=ws.benchmark()[0].guidelines or "")
    assert f"{visible(REVIEWER)} · reviewer" in seen

    at = _page(ws, REVIEWER, "adjudicate.py")
    seen = _check(at)
    assert visible(sid(0)) in seen and visible(COMMENT) in seen
    assert set(ANNOTATORS) <= set(seen)
    at.selectbox(key="final_1").set_value(LABELS[1])
    at.button(key="approve").click().run()
    seen = _check(at)
    assert f"{visible(sid(0))}: approved" in seen  # the notice

    at = _page(ws, REVIEWER, "dashboard.py")
    seen = _check(at)
    assert set(ANNOTATORS) <= set(seen)

    at = _page(ws, REVIEWER, "history.py")
    at.text_input(key="history_source").input(TYPED).run()
    _check(at)
    assert at.error and "evil" in at.error[0].value  # not found, quoting what was typed
    at.text_input(key="history_source").input(sid(0)).run()
    seen = _check(at)
    assert visible(sid(0)) in seen and visible(COMMENT) in seen


def test_lead_pages(hostile_ws: Workspace, tmp_path: Path) -> None:
    ws = hostile_ws
    answer_items(ws)
    approve_rest(ws)
    at = _page(ws, LEAD, "users.py")
    seen = _check(at)
    assert visible(LEAD) in seen and visible(REVIEWER) in seen
    at.text_input(key="new_name").input(TYPED)
    at.text_input(key="new_password").input(PASSWORD)
    at.button(key="add_user_btn").click().run()
    _check(at)
    assert at.error  # the name check refuses it, quoting it
    at.selectbox(key="change_name").set_value(REVIEWER)
    at.button(key="disable_btn").click().run()
    seen = _check(at)
    assert any(s.startswith("disabled: ") and visible(REVIEWER) in s for s in seen)

    at = _page(ws, LEAD, "releases.py")
    _check(at)
    at.text_area(key="release_notes").input(NOTES)
    at.button(key="publish").click().run()
    seen = _check(at)
    assert any(s.startswith("Published ") for s in seen)
    assert visible(LEAD) in seen  # "by" in the table
    yank_release(ws, "debian-sections", "1.0.0", reason=REASON, actor=LEAD)
    publish_release(ws, actor=LEAD, notes=NOTES)
    at = _page(ws, LEAD, "releases.py")
    seen = _check(at)
    assert visible(REASON) in seen

    test = load_release("debian-sections", "1.0.1", registry=ws.settings.registry,
                        cache_dir=tmp_path / "cache")  # fmt: skip
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "prediction": LABELS[0]}) + "\n"
                             for i in test["id"]))  # fmt: skip
    result = evaluate_release("debian-sections", "1.0.1", preds, model=MODEL, n_resamples=0,
                              registry=ws.settings.registry, cache_dir=tmp_path / "cache")  # fmt: skip
    record_evaluation(ws, result, actor=LEAD)
    for user in (LEAD, ANNOTATORS[0]):
        at = _page(ws, user, "leaderboard.py")
        seen = _check(at)
        assert visible(MODEL) in seen and visible(LEAD) in seen


def test_login_page(hostile_ws: Workspace) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    _check(at)
    at.text_input(key="login_name").input(TYPED)
    at.text_input(key="login_password").input("wrong password")
    at.button[0].click().run()
    seen = _check(at)
    assert at.error and any(repr(TYPED) in s for s in seen)  # quoted by the message
    assert AUTH_KEY not in at.session_state
