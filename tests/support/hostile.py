"""A workspace full of hostile values, for the tests that every page renders them literally.

Source ids, spec labels, field names, user names (valid ones that GFM would autolink, and
legacy ones stored without the name check), comments, notes, reasons and model names all
carry Markdown and a right-to-left override; see tests/test_app_literal.py and
tests/test_browser_literal.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from builder.config import Settings
from builder.domain import ItemStatus, Role
from builder.review.auth import hash_password
from builder.review.queue import next_item, submit
from builder.store.models import Item
from builder.store.users import add_user as insert_user
from builder.workspace import Workspace
from tests.support.common import workspace_with
from tests.support.review import PASSWORD, actor, make_items, make_user

RLO = "\u202e"


def hostile(tag: str) -> str:
    """A value with every kind of Markdown Streamlit renders, and a right-to-left override."""
    return (
        f"{tag} ![i](http://evil.example/{tag}.png) **b** [l](http://evil.example/{tag}) "
        f"$x^2$ :red[r] :smile: :material/home: `t` <img src=x onerror=alert(1)> {RLO}exe.txt"
    )


LABELS = [hostile("label-a"), hostile("label-b"), "**plain-ish**", f"rtl{RLO}lab"]
FIELD = hostile("field")
META = hostile("meta")
COMMENT = hostile("comment")
NOTES = hostile("notes")
REASON = hostile("reason")
MODEL = hostile("model")
# Names the name check allows but GFM autolinks, and names stored before the check existed.
ANNOTATORS = ["www.evil.example", "eve@evil.example"]
REVIEWER = hostile("reviewer")
LEAD = hostile("lead")
TYPED = hostile("typed")
HOSTILES = [*LABELS, FIELD, COMMENT, NOTES, REASON, MODEL, REVIEWER, LEAD, TYPED]


def sid(i: int) -> str:
    return hostile(f"id{i}")


def hostile_workspace(
    settings: Settings, sample_rows: list[dict[str, Any]], tmp: Path
) -> Workspace:
    """Six items with hostile ids, labels and field names; hostile and autolinked users."""
    ws = workspace_with(
        settings, tmp,
        task={"labels": LABELS, "input_fields": ["package", FIELD]},
        source={"metadata_fields": [META]},
        review={"annotators_per_item": 2, "auto_approve_unanimous": False},
    )  # fmt: skip
    rows = [
        {**r, "package": sid(i), FIELD: f"text {i} **not bold** {RLO}x", META: hostile("m")}
        for i, r in enumerate(sample_rows[:6])
    ]
    make_items(ws, rows, 6, tmp=tmp)
    for name in ANNOTATORS:
        make_user(ws, name, Role.annotator)
    with ws.db.session() as s:  # legacy accounts: stored without today's name check
        insert_user(s, name=REVIEWER, role=Role.reviewer, password_hash=hash_password(PASSWORD))
        insert_user(s, name=LEAD, role=Role.lead, password_hash=hash_password(PASSWORD))
    return ws


def answer_items(ws: Workspace, limit: int = 6) -> None:
    """Both annotators answer (up to ``limit``) items: item 1 they disagree on, others not."""
    for n, who in enumerate(ANNOTATORS):
        a = actor(ws, who)
        for _ in range(limit):
            task = next_item(ws, a)
            if task is None:
                break
            label = LABELS[n] if task.item_id == 1 else LABELS[0]
            submit(ws, a, task.item_id, label, flags=["ambiguous"], comment=COMMENT)


def approve_rest(ws: Workspace) -> None:
    """Every item but the disputed first one approved (as adjudication would)."""
    with ws.db.session() as s:
        for item in s.exec(select(Item).where(Item.id != 1)).all():
            item.status, item.answer = ItemStatus.approved, LABELS[0]
            s.add(item)
