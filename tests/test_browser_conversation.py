"""The Annotate page in Debian's Chromium with a hostile conversation: every turn literal.

A turn ``<script>alert(1)</script>``, one with ``**bold**`` and an image to evil.example, and
a role named ``:red[agent]`` are on screen as their characters: no request to evil.example, no
``<img>`` pointing there, no script dialog, no bold or coloured text made from them. A long
transcript scrolls inside its fixed-height container.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.config import Settings
from builder.curate.pipeline import curate
from builder.domain import Role
from builder.ingest import ingest_files
from builder.review.server import start_app
from builder.review.users import add_user
from tests.support.browser import Tab, chromium, require_browser
from tests.support.common import free_port
from tests.support.conversation import conversation_ws, turns, write_jsonl
from tests.support.review import PASSWORD

pytestmark = pytest.mark.browser

HOSTILE = turns(
    ("customer", "<script>alert(1)</script>"),
    (":red[agent]", "**bold** reply ![x](http://evil.example/x.png)"),
    *[("customer", f"follow-up question {i}") for i in range(1, 9)],
    ("agent", "<img src=http://evil.example/y.png onerror=alert(2)> last turn"),
)
TEXT = "() => document.body.innerText.replaceAll('\\u2060', '')"


def test_annotate_shows_a_hostile_conversation_literally(tmp_path: Path) -> None:
    require_browser()
    settings = Settings.from_env(
        {"BENCHSMITH_CACHE": str(tmp_path / "cache")}, home=tmp_path / "ws"
    )
    ws = conversation_ws(settings, tmp_path, curation={"strata_field": None})
    ingest_files(ws, [write_jsonl(tmp_path / "c.jsonl", [{"id": "hostile", "dialog": HOSTILE}])])
    curate(ws, embedder="tfidf", size=1)
    add_user(ws, "ana", Role.annotator, PASSWORD)
    ws.db.dispose()
    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        with chromium() as browser:
            tab = Tab(browser, server.url)
            tab.log_in("ana")
            page = tab.page
            for shown in ["<script>alert(1)</script>", ":red[agent]",
                          "**bold** reply ![x](http://evil.example/x.png)", "11 turns"]:  # fmt: skip
                page.wait_for_function(f"t => ({TEXT})().includes(t)", arg=shown)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(tmp_path / "annotate-conversation.png"), full_page=True)
            bubbles = page.locator('[data-testid="stChatMessage"]')
            assert bubbles.count() == len(HOSTILE)
            # The transcript scrolls: its container is shorter than its content.
            scrolls = page.evaluate(
                """() => [...document.querySelectorAll('[data-testid="stVerticalBlock"]')]
                    .some(e => e.querySelector('[data-testid="stChatMessage"]')
                               && e.scrollHeight > e.clientHeight + 20
                               && getComputedStyle(e).overflowY !== 'visible')"""
            )
            assert scrolls
            made = page.locator(
                'img[src*="evil.example"], a[href*="evil.example"], .stMarkdownColoredText'
            ).evaluate_all("els => els.map(e => e.outerHTML)")
            assert made == []
            # "**bold**" made no <strong> (the guidelines' own bold words are not "bold").
            bold = "els => els.filter(e => e.innerText.includes('bold')).length"
            assert page.locator("strong, em, b").evaluate_all(bold) == 0
            assert page.evaluate("window.__pwned") is None
    finally:
        server.stop()
    assert tab.evil == [] and tab.dialogs == []
