"""Users page (AppTest): leads add users, change roles and disable; others are refused."""

from __future__ import annotations

from builder.review.users import list_users
from builder.store.audit import history
from builder.workspace import Workspace
from tests.support.literal import shown
from tests.support.review import app_test


def _users(ws: Workspace) -> dict[str, tuple[str, bool]]:
    return {u.name: (u.role, u.disabled) for u in list_users(ws)}


def test_lead_manages_users(app_ws: Workspace) -> None:
    at = app_test(app_ws, "lea", page="users.py")
    assert list(at.dataframe[0].value["name"]) == ["ana", "ben", "lea", "rita"]
    at.text_input(key="new_name").input("cara")
    at.selectbox(key="new_role").set_value("reviewer")
    at.text_input(key="new_password").input("short")
    at.button(key="add_user_btn").click().run()
    assert [e.value for e in at.error] == ["the password is 5 characters long; use at least 8"]
    at.text_input(key="new_name").input("cara")
    at.selectbox(key="new_role").set_value("reviewer")
    at.text_input(key="new_password").input("long-enough-pw")
    at.button(key="add_user_btn").click().run()
    assert [shown(s.value) for s in at.success] == ["added: cara (reviewer)"]
    at.selectbox(key="change_name").set_value("ben")
    at.selectbox(key="change_role").set_value("reviewer")
    at.button(key="set_role_btn").click().run()
    at.selectbox(key="change_name").set_value("ana")
    at.button(key="disable_btn").click().run()
    assert _users(app_ws)["cara"] == ("reviewer", False)
    assert _users(app_ws)["ben"] == ("reviewer", False)
    assert _users(app_ws)["ana"] == ("annotator", True)
    with app_ws.db.session() as s:
        events = history(s, entity="user", entity_id="ben")
    assert (events[-1].actor, events[-1].action, events[-1].after) == (
        "lea", "user.role", {"role": "reviewer"}
    )  # fmt: skip
    # The last lead cannot lock the app out from inside it.
    at.selectbox(key="change_name").set_value("lea")
    at.button(key="disable_btn").click().run()
    assert [e.value for e in at.error] == [
        "'lea' is the last lead who can log in; add another lead first"
    ]


def test_reviewers_cannot_manage_users(app_ws: Workspace) -> None:
    at = app_test(app_ws, "rita", page="users.py")
    assert [e.value for e in at.error] == [
        "This page needs the lead role; you are logged in as rita (reviewer)."
    ]
    assert list(at.dataframe) == []
