"""The Annotate page in Debian's Chromium with an image whose id is hostile Markdown.

The id ``![x](http://evil.example/x.png)`` must show as its characters (caption and alt
text), never become an <img> or a request to evil.example; the real image shows beside it.
A screenshot is written to the test's tmp dir (``annotate-image.png``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.config import Settings
from builder.curate.pipeline import curate
from builder.ingest import ingest_files
from builder.review.server import start_app
from tests.support.browser import Tab, chromium, require_browser
from tests.support.common import free_port
from tests.support.images import digit_rows, image_workspace, write_parquet
from tests.support.review import make_user

pytestmark = pytest.mark.browser

HOSTILE_ID = "![x](http://evil.example/x.png)"


def test_annotate_shows_image_with_hostile_id_literally(tmp_path: Path) -> None:
    require_browser()
    settings = Settings.from_env(
        {"BENCHSMITH_CACHE": str(tmp_path / "cache")}, home=tmp_path / "ws"
    )
    ws = image_workspace(settings, tmp_path, size=1, strata_field=None)
    row = {**digit_rows(1)[0], "id": HOSTILE_ID}
    ingest_files(ws, [write_parquet(tmp_path / "one.parquet", [row])])
    curate(ws)
    make_user(ws, "ana", "annotator")
    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        with chromium() as browser:
            tab = Tab(browser, server.url)
            tab.log_in("ana")
            page = tab.page
            shown = page.locator('[data-testid="stImage"] img').first
            shown.wait_for()
            page.wait_for_function(
                "t => document.body.innerText.replaceAll('\\u2060', '').includes(t)",
                arg=HOSTILE_ID,
            )
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(tmp_path / "annotate-image.png"), full_page=True)
            assert shown.get_attribute("alt") == HOSTILE_ID
            assert shown.evaluate("img => img.naturalWidth") == 32  # the stored 32×32 PNG
            bad = page.locator('img[src*="evil.example"], a[href*="evil.example"]')
            assert bad.count() == 0
            assert tab.evil == []
    finally:
        server.stop()
        ws.db.dispose()
