"""The Annotate page of an extractive item in Debian's Chromium: a hostile context (TeX,
a Markdown link to evil.example, bold) is shown literally, in the fields and in the
character-offset view; a typed span is located and saved. Screenshots in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.domain import Role
from builder.review.server import start_app
from builder.store.models import Annotation
from builder.workspace import init_workspace, open_workspace
from tests.support.browser import Tab, chromium, require_browser
from tests.support.common import free_port
from tests.support.review import make_items, make_user
from tests.support.squad import squad_spec

pytestmark = pytest.mark.browser

CONTEXT = (
    "formula tool for $x^2$ and [link](http://evil.example) **bold**\n"
    "It renders $x^2$ as text, not TeX; see [link](http://evil.example)."
)
QUESTION = "What does [q](http://evil.example/q) $y$ provide?"
MARKUP = 'a[href*="evil.example"], img[src*="evil.example"], .katex, math, strong'
TEXT = "() => document.body.innerText.replaceAll('\\u2060', '')"


def test_annotate_extractive_item_shows_a_hostile_context_literally(tmp_path: Path) -> None:
    require_browser()
    settings = Settings.from_env(
        {"BENCHSMITH_CACHE": str(tmp_path / "cache")}, home=tmp_path / "ws"
    )
    init_workspace(settings, squad_spec(tmp_path))
    ws = open_workspace(settings)
    row = {"id": "hostile:provide", "question": QUESTION, "context": CONTEXT,
           "question_type": "provide"}  # fmt: skip
    make_items(ws, [row], 1, tmp=tmp_path)
    make_user(ws, "ana", Role.annotator)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        with chromium() as browser:
            tab = Tab(browser, server.url, height=1100)
            tab.log_in("ana")
            page = tab.page
            for value in (QUESTION, *CONTEXT.split("\n")):
                page.wait_for_function(f"t => ({TEXT})().includes(t)", arg=value)
            page.get_by_text("Context with character offsets").click()
            page.wait_for_function(
                f"t => ({TEXT})().includes(t)", arg="    64 │ It renders $x^2$ as text"
            )
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shots / "annotate-extractive.png"), full_page=True)
            assert page.locator(MARKUP).evaluate_all("els => els.map(e => e.outerHTML)") == []

            # "$X^2$" is there twice (ignoring case): refused until an occurrence is picked.
            page.get_by_label("Answer spans, one per line").fill("$X^2$")
            page.get_by_role("button", name="Submit").click()
            page.wait_for_function(
                f"t => ({TEXT})().includes(t)",
                arg="answer '$X^2$' appears 2 times in the context (at characters 17, 75)",
            )
            page.get_by_text("occurs 2 times: which one?").wait_for()
            page.screenshot(path=str(shots / "annotate-extractive-ambiguous.png"), full_page=True)
            page.get_by_role("combobox").click()
            page.get_by_role("option").filter(has_text="at 75: …").click()
            page.get_by_role("button", name="Submit").click()
            page.wait_for_function(f"t => ({TEXT})().includes(t)", arg="Saved hostile:provide")
            assert page.locator(MARKUP).evaluate_all("els => els.map(e => e.outerHTML)") == []
    finally:
        server.stop()
    assert tab.evil == []
    with ws.db.session() as s:
        answers = [a.answer for a in s.exec(select(Annotation))]
    assert answers == [{"text": ["$x^2$"], "answer_start": [75]}]
    ws.db.dispose()
