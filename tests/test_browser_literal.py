"""Every page in Debian's Chromium with hostile ids, labels, field and user names: all literal.

The values of tests/test_app_literal.py (images and links to evil.example, ``**bold**``,
``$x^2$``, ``:red[…]``, ``:smile:``, ``:material/home:``, HTML, a right-to-left override,
user names GFM would autolink) are served by the real app (``streamlit run``). On each page:
no request goes to evil.example, no ``<img>`` or ``<a href>`` points there, no KaTeX, no
coloured text or badge, no icon, emoji or bold made from them, no script ran; and the values
are on screen as their characters (the override written as ⟨U+202E⟩).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builder.config import Settings
from builder.display import visible
from builder.evaluate import evaluate_release, record_evaluation
from builder.release.pull import load_release
from builder.release.snapshot import publish_release, yank_release
from builder.review.server import AppServer, start_app
from builder.workspace import Workspace
from tests.support.browser import Tab, chromium, require_browser
from tests.support.common import ROOT, free_port
from tests.support.hostile import (
    ANNOTATORS,
    COMMENT,
    FIELD,
    HOSTILES,
    LABELS,
    LEAD,
    MODEL,
    REASON,
    REVIEWER,
    TYPED,
    answer_items,
    approve_rest,
    hostile_workspace,
    sid,
)

pytestmark = pytest.mark.browser

# What any of the hostile values would have become as Markdown.
RENDERED_MARKUP = ", ".join([
    'img[src*="evil.example"]', 'img[src="x"]', 'img[alt="Streamlit logo"]',
    'a[href*="evil.example"]', 'a[href^="mailto:"]', ".katex", "math",
    ".stMarkdownColoredText", ".stMarkdownColoredBackground", ".stMarkdownBadge",
    '[aria-label="home icon"]',
])  # fmt: skip
TEXT = "() => document.body.innerText.replaceAll('\\u2060', '')"  # without the word joiners


@pytest.fixture
def served(
    tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> Iterator[tuple[Workspace, AppServer]]:
    require_browser()
    settings = Settings.from_env(
        {"BENCHSMITH_CACHE": str(tmp_path / "cache")}, home=tmp_path / "ws"
    )
    ws = hostile_workspace(settings, sample_rows, tmp_path)
    answer_items(ws, limit=4)  # items 5 and 6 stay to be labeled in the browser
    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        yield ws, server
    finally:
        server.stop()
        ws.db.dispose()


class Visit(Tab):
    """A tab of the hostile-values app, with checks; screenshots go to ``shots``."""

    def __init__(self, browser: Any, url: str, shots: Path) -> None:
        super().__init__(browser, url)
        self.shots = shots

    def go(self, link: str) -> None:
        self.page.get_by_role("link", name=link, exact=True).click()

    def shows(self, *values: str) -> None:
        """Wait until each value is on screen as its characters (bidi controls as codes)."""
        for v in values:
            self.page.wait_for_function(f"t => ({TEXT})().includes(t)", arg=visible(v))

    def inert(self, name: str) -> None:
        """Nothing on the page was made from the hostile values' Markdown."""
        page = self.page
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        assert (
            page.locator(RENDERED_MARKUP).evaluate_all("els => els.map(e => e.outerHTML)") == []
        ), name
        # "**b**" is in every value: no <strong>/<em> reads "b" (the guidelines' own do not).
        made = "els => els.filter(e => e.innerText.trim() === 'b').length"
        assert page.locator("strong, em, del").evaluate_all(made) == 0, name
        text = page.evaluate(TEXT)
        assert "😄" not in text and "\u202e" not in text, name
        assert self.evil == [] and self.dialogs == [], name
        assert page.evaluate("window.__pwned") is None


def test_every_page_shows_hostile_values_literally(
    served: tuple[Workspace, AppServer], tmp_path: Path
) -> None:
    ws, server = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium() as browser:
        # The login page: a failed login quotes the typed name.
        tab = Visit(browser, server.url, shots)
        tab.log_in(TYPED, "wrong password")
        tab.page.locator('[data-testid="stAlertContentError"]').wait_for()
        tab.shows(repr(TYPED))
        tab.inert("login")

        # An annotator whose name GFM would autolink: Annotate, My answers, Leaderboard.
        tab = Visit(browser, server.url, shots)
        tab.log_in(ANNOTATORS[0])
        tab.shows(f"{ANNOTATORS[0]} · annotator", sid(4), FIELD, *LABELS)
        tab.inert("annotate")
        tab.page.wait_for_function("window.__benchsmithKeys === true")
        tab.page.keyboard.type("1")
        tab.page.keyboard.press("Enter")
        tab.shows(f"Saved {sid(4)}", sid(5))
        tab.inert("annotate-saved")
        tab.go("My answers")
        tab.page.locator('[data-testid="stDataFrame"]').first.wait_for()
        tab.shows("Revise an answer")
        tab.inert("my-answers")

        # A reviewer with a hostile legacy name: Adjudicate, Dashboard, Item history.
        tab = Visit(browser, server.url, shots)
        tab.log_in(REVIEWER)
        tab.shows(f"{REVIEWER} · reviewer")
        tab.go("Adjudicate")
        tab.shows(sid(0), COMMENT, *ANNOTATORS)
        tab.inert("adjudicate")
        tab.go("Dashboard")
        tab.page.locator(".vega-embed").first.wait_for()
        tab.inert("dashboard")
        tab.go("Item history")
        tab.page.get_by_label("Source id of the item").fill(sid(0))
        tab.page.keyboard.press("Enter")
        tab.page.get_by_role("heading", name="Audit log", exact=True).wait_for()
        tab.shows(sid(0))
        tab.inert("history")

        # A lead with a hostile legacy name: Users, Releases, Leaderboard.
        approve_rest(ws)
        publish_release(ws, actor=LEAD, notes=COMMENT)
        yank_release(ws, "debian-sections", "1.0.0", reason=REASON, actor=LEAD)
        publish_release(ws, actor=LEAD, notes=COMMENT)
        cache = ws.settings.cache_dir
        test = load_release("debian-sections", "1.0.1", registry=ws.settings.registry,
                            cache_dir=cache)  # fmt: skip
        preds = tmp_path / "p.jsonl"
        preds.write_text("".join(json.dumps({"id": i, "prediction": LABELS[0]}) + "\n"
                                 for i in test["id"]))  # fmt: skip
        result = evaluate_release("debian-sections", "1.0.1", preds, model=MODEL,
                                  n_resamples=0, registry=ws.settings.registry,
                                  cache_dir=cache)  # fmt: skip
        record_evaluation(ws, result, actor=LEAD)
        tab = Visit(browser, server.url, shots)
        tab.log_in(LEAD)
        tab.shows(f"{LEAD} · lead")
        tab.go("Users")
        tab.page.locator('[data-testid="stDataFrame"]').first.wait_for()
        tab.inert("users")
        tab.go("Releases")
        tab.page.get_by_role("heading", name="Yank a version").wait_for()
        tab.inert("releases")
        tab.go("Leaderboard")
        tab.page.locator('[data-testid="stDataFrame"]').first.wait_for()
        tab.inert("leaderboard")


# Both ways of rendering the same values, side by side in one small app: ``?mode=raw`` puts
# them into Markdown elements as they are, ``?mode=plain`` through plain(). The raw page must
# trip every check above (so the checks see what they look for), the plain one none.
_PROBE = """
import streamlit as st
from review_ui.widgets import plain
values = {values!r}
show = (lambda v: v) if st.query_params.get("mode") == "raw" else plain
for v in values:
    st.subheader(show(v))
    st.markdown(show(v))
    st.error(show(v))
st.pills("Pick", values, format_func=show)
st.text("probe ready")
"""


def test_the_checks_see_raw_markdown(tmp_path: Path) -> None:
    require_browser()
    values = [
        *HOSTILES,
        "*em* **b**",
        ":red-background[x] :blue-badge[x] :streamlit: x@evil.example",
    ]
    script = tmp_path / "probe.py"
    script.write_text(_PROBE.format(values=values), encoding="utf-8")
    port = free_port()
    log = (tmp_path / "probe.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.fileWatcherType", "none"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with chromium() as browser:
            raw = Visit(browser, url, tmp_path)
            raw.page.goto(f"{url}/?mode=raw")
            raw.page.get_by_text("probe ready").wait_for()
            raw.page.locator(".katex").first.wait_for()
            raw.page.wait_for_load_state("networkidle")
            for selector in RENDERED_MARKUP.split(", "):
                if selector not in ('img[src="x"]', "math"):  # HTML is escaped anyway
                    assert raw.page.locator(selector).count() > 0, selector
            assert "😄" in raw.page.evaluate(TEXT)
            assert raw.evil  # the image was fetched
            with pytest.raises(AssertionError):
                raw.inert("probe-raw")

            safe = Visit(browser, url, tmp_path)
            safe.page.goto(f"{url}/?mode=plain")
            safe.page.get_by_text("probe ready").wait_for()
            safe.shows(*values)
            safe.inert("probe-plain")
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
