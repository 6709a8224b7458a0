"""Pieces shared by the pages: literal item rendering, answers, keyboard shortcuts.

Item text and anything people typed is shown with ``st.text`` (or in data frames), never as
markdown or HTML: a description containing ``<script>`` or ``![x](http://…)`` must appear
as those characters.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

__all__ = ["answer_text", "keyboard_shortcuts", "show_curation_flags", "show_fields"]

# Digits pick labels (type 1 then 2 within 0.6 s for label 12; a digit that cannot start a
# longer number applies at once), Enter submits, S skips. Enter and S are the form buttons'
# own Streamlit shortcuts; this script adds the digits, and keeps Enter on a focused label
# or flag button (after a mouse click) from toggling it before the submit. Typing in a text
# box is never intercepted.
_KEYS_JS = """
<script>
(() => {
  if (window.__benchsmithKeys) return;
  window.__benchsmithKeys = true;
  let buffer = "", timer = null;
  const pills = () => Array.from(
    document.querySelectorAll('[class*="st-key-answer_pick_"] button'));
  const apply = () => {
    const n = parseInt(buffer, 10);
    buffer = ""; clearTimeout(timer); timer = null;
    const buttons = pills();
    if (n >= 1 && n <= buttons.length) buttons[n - 1].click();
  };
  const typing = (t) => t && (t.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (/^[0-9]$/.test(e.key)) {
      const buttons = pills();
      if (!buttons.length) return;
      e.preventDefault(); e.stopPropagation();
      buffer += e.key; clearTimeout(timer);
      if (parseInt(buffer, 10) * 10 > buttons.length) apply();
      else timer = setTimeout(apply, 600);
    } else if (e.key === "Enter") {
      if (buffer) apply();
      const t = e.target;
      if (t && t.tagName === "BUTTON" && t.dataset.variant === "pills") {
        e.preventDefault(); t.blur();
      }
    }
  }, true);
})();
</script>
"""


def keyboard_shortcuts() -> None:
    """Install the Annotate page's digit shortcuts (once per browser tab)."""
    st.html(_KEYS_JS, unsafe_allow_javascript=True)


def answer_text(answer: Any) -> str:
    """An answer as plain text (labels comma-separated)."""
    if answer is None:
        return "—"
    if isinstance(answer, list):
        return ", ".join(str(a) for a in answer)
    return str(answer)


def show_fields(fields: dict[str, Any]) -> None:
    """The item's input fields, literally."""
    for name, value in fields.items():
        st.caption(name)
        st.text("" if value is None else str(value))


def show_curation_flags(flags: dict[str, Any]) -> None:
    """What curation noticed about the item (PII, near-duplicates), literally."""
    pii = flags.get("pii")
    if pii:
        kinds = ", ".join(sorted(pii)) if isinstance(pii, dict) else str(pii)
        st.warning("Curation found possible personal data in this item.")
        st.text(f"PII: {kinds}")
    dups = flags.get("near_duplicates")
    if dups:
        st.caption("Near-duplicates in the pool")
        st.text(", ".join(str(d) for d in dups))
