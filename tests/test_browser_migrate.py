"""Last quarter's Label Studio work brought over in two commands, the disagreement settled by
a reviewer in the real app (Debian's Chromium), and released with the right labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.config import Settings
from builder.release.pull import load_release
from builder.review.server import start_app
from builder.review.users import add_user, set_email
from builder.workspace import open_workspace
from tests.support.browser import Tab, chromium, require_browser
from tests.support.common import SAMPLE_SPEC, Cli, free_port
from tests.support.label_studio import ls_export

pytestmark = pytest.mark.browser


def test_label_studio_export_adjudicated_in_the_app_and_released(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path, sample_rows: list[dict[str, Any]]
) -> None:
    require_browser()
    rows = sample_rows[:6]
    pkg = [str(r["package"]) for r in rows]
    env = {**cli_env, "BENCHSMITH_USER": "lea", "BENCHSMITH_REGISTRY": str(tmp_path / "reg"),
           "BENCHSMITH_CACHE": str(tmp_path / "cache")}  # fmt: skip
    export = tmp_path / "project-7.json"
    export.write_text(json.dumps(ls_export(rows)), encoding="utf-8")
    assert cli("init", "--spec", SAMPLE_SPEC, env=env).exit_code == 0
    settings = Settings.from_env(env)
    ws = open_workspace(settings)
    add_user(ws, "ben", "annotator", "ben-browser-pw")
    set_email(ws, "ben", "ben@example.org")
    add_user(ws, "rita", "reviewer", "rita-browser-pw")
    for args in (["ingest"], ["annotations", "import"]):
        r = cli(*args, export, "--format", "label-studio", env=env)
        assert r.exit_code == 0, r.output

    server = start_app(settings, port=free_port(), log=tmp_path / "app.log")
    try:
        with chromium() as browser:
            tab = Tab(browser, server.url)
            tab.log_in("rita", "rita-browser-pw")
            page = tab.page
            page.get_by_role("link", name="Adjudicate").click()
            page.get_by_role("heading", name=pkg[1]).wait_for()
            # Both imported answers are shown: user 1 by id, ben by the exported e-mail.
            for who, said in (("ls-user-1", rows[1]["section"]), ("ben", "misc")):
                page.get_by_text(who, exact=True).first.wait_for(state="visible")
                page.get_by_text(said, exact=True).first.wait_for(state="visible")
            page.screenshot(path=str(tmp_path / "adjudicate-imported.png"), full_page=True)
            page.get_by_label("Final label").click()
            page.keyboard.type(str(rows[1]["section"]))
            page.keyboard.press("Enter")
            page.get_by_role("button", name="Approve").click()
            page.get_by_text(f"{pkg[1]}: approved").wait_for()
    finally:
        server.stop()

    r = cli("release", "--json", env=env)
    assert r.exit_code == 0, r.output
    released = load_release("debian-sections", "1.0.0", None, registry=env["BENCHSMITH_REGISTRY"],
                            cache_dir=tmp_path / "cache", workspace=ws)  # fmt: skip
    labels = {
        str(row["id"]): row["label"]
        for part in released.values()
        for row in part.to_dict("records")
    }
    assert labels == {p: rows[i]["section"] for i, p in enumerate(pkg[:4])}
    ws.db.dispose()
