"""The Annotate page of a multiple-choice item in Debian's Chromium: hostile choices literal.

A choice reading ``**b**`` or ``![x](http://evil.example/x.png)`` is data: it must show as
those characters (no bold, no image, no request to evil.example). The letter key picks a
choice and Enter submits. A screenshot is saved under the test's tmp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from builder.config import Settings
from builder.curate.pipeline import curate
from builder.ingest import ingest_files
from builder.review.server import start_app
from builder.store.models import Annotation
from tests.support.browser import Tab, chromium, require_browser, wait_for_item_form
from tests.support.common import free_port
from tests.support.mcq import mcq_rows, mcq_workspace, write_rows

pytestmark = pytest.mark.browser

HOSTILE_CHOICES = ["**b**", "![x](http://evil.example/x.png)", "devel", "libs"]
TEXT = "() => document.body.innerText.replaceAll('\\u2060', '')"


def test_mcq_annotate_page_shows_hostile_choices_literally(
    tmp_path: Path, fast_argon2: None
) -> None:
    require_browser()
    settings = Settings.from_env(
        {"BENCHSMITH_CACHE": str(tmp_path / "cache")}, home=tmp_path / "ws"
    )
    ws = mcq_workspace(settings, tmp_path, curation={"size": 3})
    rows = [{**r, "choices": HOSTILE_CHOICES} for r in mcq_rows(3)]
    ingest_files(ws, [write_rows(tmp_path, rows)])
    curate(ws, embedder="tfidf")
    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    shot = tmp_path / "annotate-mcq.png"
    try:
        with chromium() as browser:
            tab = Tab(browser, server.url)
            tab.log_in("ana")
            page = tab.page
            for line in [f"A. {HOSTILE_CHOICES[0]}", f"B. {HOSTILE_CHOICES[1]}", "D. libs"]:
                page.wait_for_function(f"t => ({TEXT})().includes(t)", arg=line)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shot), full_page=True)
            images = page.locator('img[src*="evil.example"], img[src="x"]').count()
            assert images == 0
            made = "els => els.filter(e => e.innerText.trim() === 'b').length"
            assert page.locator("strong, em").evaluate_all(made) == 0
            assert page.locator('a[href*="evil.example"]').count() == 0
            # The letter key picks choice C; Enter submits it.
            page.wait_for_function("window.__benchsmithKeys === true")
            wait_for_item_form(page)
            page.keyboard.press("c")
            page.keyboard.press("Enter")
            page.wait_for_function(f"t => ({TEXT})().includes(t)", arg="Saved ")
    finally:
        server.stop()
    assert tab.evil == []
    assert shot.stat().st_size > 10_000
    with ws.db.session() as s:
        answers = [a.answer for a in s.exec(select(Annotation)).all()]
    ws.db.dispose()
    assert answers == ["C"]
