"""The real app in Chromium: a model's suggestion reaches only the role the spec allows.

With the default ``review.suggestions: reviewers`` the annotator labels blind (the page has
no suggestion element at all) while the reviewer sees the suggestion on Adjudicate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builder.config import Settings
from builder.review.queue import next_item, submit
from builder.review.server import AppServer, start_app
from builder.review.suggestions import import_suggestions
from builder.review.users import add_user
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.browser import Tab, chromium, require_browser, wait_for_item_form
from tests.support.common import SAMPLE_SPEC, free_port
from tests.support.review import actor, make_items

pytestmark = pytest.mark.browser

PASSWORDS = {"ana": "ana-browser-pw", "ben": "ben-browser-pw", "rita": "rita-browser-pw"}
MODEL = "<script>window.__pwned = 1</script>suggester"


@pytest.fixture
def served(
    tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> Iterator[tuple[AppServer, list[dict[str, Any]]]]:
    require_browser()
    settings = Settings.from_env({}, home=tmp_path / "ws")
    init_workspace(settings, SAMPLE_SPEC)  # review.suggestions: reviewers (the default)
    ws: Workspace = open_workspace(settings)
    rows = sample_rows[:4]
    make_items(ws, rows, 4, tmp=tmp_path)
    for name, role in (("ana", "annotator"), ("ben", "annotator"), ("rita", "reviewer")):
        add_user(ws, name, role, PASSWORDS[name])
    f = tmp_path / "s.jsonl"
    f.write_text(
        "".join(
            json.dumps({"source_id": r["package"], "model": MODEL, "label": "zope", "score": 0.75})
            + "\n"
            for r in rows
        )
    )
    import_suggestions(ws, f)
    # ana and ben disagree on the first item: it waits for rita on Adjudicate.
    for who, label in (("ana", "devel"), ("ben", "utils")):
        a = actor(ws, who)
        task = next_item(ws, a)
        assert task is not None and task.item_id == 1
        submit(ws, a, task.item_id, label)
    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        yield server, rows
    finally:
        server.stop()
        ws.db.dispose()


def test_suggestion_shows_to_the_reviewer_not_the_annotator(
    served: tuple[AppServer, list[dict[str, Any]]], tmp_path: Path
) -> None:
    server, rows = served
    with chromium() as browser:
        ana = Tab(browser, server.url)
        ana.log_in("ana", PASSWORDS["ana"])
        page = ana.page
        page.get_by_role("heading", name=rows[1]["package"]).wait_for()
        wait_for_item_form(page)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(tmp_path / "annotate.png"), full_page=True)
        assert page.locator('[class*="st-key-suggestion_"]').count() == 0
        assert page.get_by_text("suggester").count() == 0
        assert page.get_by_text("Model suggestion").count() == 0

        rita = Tab(browser, server.url)
        rita.log_in("rita", PASSWORDS["rita"])
        page = rita.page
        page.get_by_role("link", name="Adjudicate").click()
        page.get_by_role("heading", name=rows[0]["package"]).wait_for()
        box = page.locator(".st-key-suggestion_adjudicate")
        box.get_by_text(f"{MODEL} · confidence 0.75", exact=True).wait_for(state="visible")
        box.get_by_text("zope", exact=True).wait_for(state="visible")
        page.screenshot(path=str(tmp_path / "adjudicate.png"), full_page=True)
        assert page.evaluate("window.__pwned") is None
