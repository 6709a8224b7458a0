"""The guard every page opens with: who may see it, and what a library refusal looks like.

    actor = require_role(Role.reviewer)
    with page_errors():
        cases = adjudication_queue(ws, actor, ...)

:func:`require_role` re-checks the login on the server (expired session, disabled account,
changed role) on every run, and stops a page reached without the role; the library checks
the role again on every action, so a page reached some other way still cannot act.
:func:`page_errors` turns a library refusal (:class:`BenchsmithError`, whose message names
the problem and the fix) into the page's error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import streamlit as st

from builder.domain import Role
from builder.errors import BenchsmithError
from builder.review.auth import Actor
from review_ui.session import current_user
from review_ui.widgets import plain

__all__ = ["page_errors", "require_role"]


def require_role(role: Role) -> Actor:
    """The current actor if their role includes ``role``; otherwise refuse and stop the page."""
    actor = current_user()
    if actor is None:
        st.warning("Please log in first.")
        st.stop()
    assert actor is not None
    if not actor.can(role):
        st.error(
            f"This page needs the {role.value} role; you are logged in as "
            f"{plain(actor.name)} ({actor.role.value})."
        )  # trusted: role names
        st.stop()
    return actor


@contextmanager
def page_errors(*, stop: bool = True, forget: Iterable[str] = ()) -> Iterator[None]:
    """Show a library refusal raised in the block as the page's error.

    ``stop`` (the default) ends the page there: for what the rest of the page is drawn
    from. ``stop=False`` is for an action (a button, a form): the rest of the block is
    skipped and the page goes on, so the form keeps what was typed. ``forget`` names
    ``st.session_state`` keys to drop on a refusal, so that the next run does not retry it.

    The message is shown as text: it may quote what someone typed or an item's text.
    """
    try:
        yield
    except BenchsmithError as e:
        st.error(plain(e, multiline=True))
        for key in forget:
            st.session_state.pop(key, None)
        if stop:
            st.stop()
