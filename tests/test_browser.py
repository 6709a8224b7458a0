"""The real app in Debian's Chromium: keyboard labeling by two annotators, then adjudication.

Starts ``streamlit run`` through :func:`builder.review.server.start_app` on a free port and
drives it with Playwright (no ``playwright install``: the system Chromium is used).
Screenshots of every page land in the test's tmp dir.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.review.server import AppServer, start_app
from builder.review.users import add_user
from builder.store.models import Item
from builder.workspace import Workspace, init_workspace, open_workspace
from tests.support.browser import Tab, chromium, require_browser, wait_for_item_form
from tests.support.common import SAMPLE_SPEC, free_port
from tests.support.review import make_items

pytestmark = pytest.mark.browser

HOSTILE = "<script>window.__pwned = 1</script> ![x](http://evil.example/x.png) **not bold**"
PASSWORDS = {"ana": "ana-browser-pw", "ben": "ben-browser-pw", "rita": "rita-browser-pw"}


@pytest.fixture
def served(
    tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> Iterator[tuple[Workspace, AppServer, list[dict[str, Any]]]]:
    require_browser()
    settings = Settings.from_env({}, home=tmp_path / "ws")
    init_workspace(settings, SAMPLE_SPEC)
    ws = open_workspace(settings)
    rows = [{**sample_rows[0], "description": HOSTILE}, *sample_rows[1:5]]
    make_items(ws, rows, 5, tmp=tmp_path)
    for name, role in (("ana", "annotator"), ("ben", "annotator"), ("rita", "reviewer")):
        add_user(ws, name, role, PASSWORDS[name])
    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        yield ws, server, rows
    finally:
        server.stop()
        ws.db.dispose()


def _log_in(browser: Any, url: str, name: str) -> Any:
    """A new tab with ``name`` logged in; its page."""
    tab = Tab(browser, url)
    tab.log_in(name, PASSWORDS[name])
    return tab.page


def _label_with_keys(page: Any, shots: Path, who: str, rows: list[dict[str, Any]],
                     labels: list[str], answers: list[str]) -> list[str]:  # fmt: skip
    """Label the first items by keyboard; the notice each submit showed, as displayed."""
    notices = []
    for i, answer in enumerate(answers):
        pkg = rows[i]["package"]
        page.get_by_role("heading", name=pkg).wait_for()
        # The item's label buttons are on screen and the page's key handler is installed.
        page.locator(f".st-key-answer_pick_{i + 1} button").first.wait_for()
        page.wait_for_function("window.__benchsmithKeys === true")
        # Digits pick the label by its number (two digits for labels past 9), Enter submits.
        page.keyboard.type(str(labels.index(answer) + 1), delay=50)
        active = page.locator('[class*="st-key-answer_pick_"] button[aria-checked="true"]')
        active.wait_for()
        assert active.inner_text().endswith(f"· {answer}")
        page.screenshot(path=str(shots / f"annotate-{who}-{i + 1}.png"), full_page=True)
        wait_for_item_form(page)
        page.keyboard.press("Enter")
        shown = page.locator('[data-testid="stAlert"]').filter(has_text=f"Saved {pkg}")
        shown.wait_for()
        notices.append(shown.inner_text().strip())
    return notices


def test_two_annotators_and_a_reviewer(
    served: tuple[Workspace, AppServer, list[dict[str, Any]]], tmp_path: Path
) -> None:
    ws, server, rows = served
    _, spec = ws.benchmark()
    labels = spec.task.labels
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium() as browser:
        page = _log_in(browser, server.url, "ana")
        page.get_by_role("heading", name=rows[0]["package"]).wait_for()
        # The hostile description is shown as text: no script ran, no image, no bold.
        page.get_by_text(HOSTILE, exact=True).wait_for(state="visible")
        assert page.evaluate("window.__pwned") is None
        assert page.locator('img[src*="evil.example"]').count() == 0
        page.screenshot(path=str(shots / "annotate.png"), full_page=True)
        _label_with_keys(page, shots, "ana", rows, labels, ["devel", "mail", "utils"])
        # S skips the fourth item; the fifth comes up.
        page.get_by_role("heading", name=rows[3]["package"]).wait_for()
        wait_for_item_form(page)
        page.keyboard.press("s")
        page.get_by_role("heading", name=rows[4]["package"]).wait_for()
        page.get_by_role("link", name="My answers").click()
        page.get_by_text("Revise an answer").wait_for()
        page.screenshot(path=str(shots / "my-answers.png"), full_page=True)
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for()
        page.screenshot(path=str(shots / "login.png"))

        page = _log_in(browser, server.url, "ben")
        # ben agrees with ana on items 1 and 3 (approved) but not on 2 (conflict): his
        # notices read the same — nothing tells him what ana answered.
        notices = _label_with_keys(page, shots, "ben", rows, labels, ["devel", "news", "utils"])
        assert notices == [f"Saved {rows[i]['package']}" for i in range(3)]

        page = _log_in(browser, server.url, "rita")
        page.get_by_role("link", name="Adjudicate").click()
        page.get_by_role("heading", name=rows[1]["package"]).wait_for()
        for who, said in (("ana", "mail"), ("ben", "news")):
            # Streamlit streams a page in: wait for each answer rather than sampling once.
            page.get_by_text(who, exact=True).first.wait_for(state="visible")
            page.get_by_text(said, exact=True).first.wait_for(state="visible")
        page.screenshot(path=str(shots / "adjudicate.png"), full_page=True)
        page.get_by_label("Final label").click()
        page.keyboard.type("news")
        page.keyboard.press("Enter")
        page.get_by_label("Reason (required to reject)").fill("Usenet reader")
        page.get_by_role("button", name="Approve").click()
        page.get_by_text(f"{rows[1]['package']}: approved").wait_for()
        page.get_by_role("link", name="Dashboard").click()
        page.get_by_role("heading", name="Agreement", exact=True).wait_for()
        page.locator('[data-testid="stMetricValue"]').first.wait_for()
        page.locator(".vega-embed").first.wait_for()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
        page.get_by_role("link", name="Item history").click()
        page.get_by_label("Source id of the item").fill(rows[1]["package"])
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Audit log", exact=True).wait_for()
        page.locator('[data-testid="stDataFrame"]').last.wait_for()
        page.screenshot(path=str(shots / "history.png"), full_page=True)
    with ws.db.session() as s:
        items = s.exec(select(Item).order_by(Item.id)).all()  # type: ignore[arg-type]
    assert [(i.status, i.answer) for i in items[:3]] == [
        ("approved", "devel"), ("approved", "news"), ("approved", "utils"),
    ]  # fmt: skip
    assert len(list(shots.glob("*.png"))) >= 12
    (tmp_path / "screenshots.json").write_text(json.dumps(sorted(p.name for p in shots.iterdir())))
