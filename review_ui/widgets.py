"""Pieces shared by the pages: literal rendering, answers, tables, keyboard shortcuts.

Everything that comes from data or from people (ids, field names, labels, user names,
comments, notices, errors, table cells, chart values) is shown as the characters it is,
never as Markdown or HTML: a source id ``![x](http://host/p.png)`` must not fetch an image,
``$x^2$`` must not be typeset, ``:red[a]`` must not turn red. One rule, by where it goes:

- a Markdown element (``st.subheader``, ``st.caption``, ``st.error`` / ``success`` / ``info``
  / ``warning``, ``st.title``, widget labels, ``st.pills`` / ``st.radio`` options, ``help``):
  :func:`plain` (escapes every Markdown form Streamlit renders, see there);
- a literal element: :func:`text` (``st.text``), :func:`table` (``st.dataframe``),
  :func:`bar_chart`, and ``format_func=visible`` for ``st.selectbox`` / ``st.multiselect``
  options (plain text in Streamlit): these apply :func:`~builder.display.visible`.

Both write bidi controls and other invisible characters as ``⟨U+202E⟩``
(:func:`builder.display.visible`, shared with the CLI), so an id cannot disguise itself
or reorder the page around it. Item text keeps its line breaks
(``visible(..., multiline=True)``) and each field is its own block, so it cannot reorder
anything outside it.

A Markdown element gets a constant, ``plain(...)``, or a value marked ``# trusted: why``
(a count, a role name, the lead's guidelines file); tests/test_app_widgets.py checks the
source of every page for that, and tests/test_app_literal.py runs every page with hostile
values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from builder.display import visible
from review_ui.transcript import show_conversation

__all__ = [
    "answer_text",
    "bar_chart",
    "keyboard_shortcuts",
    "literal_frame",
    "plain",
    "show_curation_flags",
    "show_fields",
    "table",
    "text",
    "visible",
]

# Escaping for Markdown elements (see :func:`plain`). CommonMark lets a backslash escape any
# ASCII punctuation character, which then shows as itself: escaping every one that has a
# meaning anywhere removes every construct built from them (links, images, autolinks,
# emphasis, code, HTML, entities, headings, lists, quotes, tables, `$` math,
# `:directive[...]`) without a rule per construct or context. Left alone: ' " , ; ? % / ^,
# which mean nothing once the others are escaped. Streamlit also rewrites text *after*
# parsing, where escapes are gone: GFM's autolinks (`http://…`, `www.…`, `a@b.c`),
# shortcodes (`:smile:`, `:material/home:`, `:streamlit:`) and arrows (` -> `, ` -- `,
# ` <= `): an invisible word joiner after the `:` or `@`, after `www` or inside the arrow
# stops those.
_PUNCT = re.compile(r"[\\`*_{}\[\]()<>#+\-.!|$~&:@=]")
_AFTER = re.compile(r"(?:[:@]|(?i:www)(?=\.))(?=\S)")
_ARROW = re.compile(r"(?<!\S)(?:<->|->|<-|--|>=|<=|~=)(?!\S)")
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)  # 4 spaces would start a code block
_JOINER = "\u2060"  # WORD JOINER: zero width, no line break

# On a multiple-choice item the letters A–J pick choices too (review_ui/choices.py).
# Digits pick labels (type 1 then 2 within 0.6 s for label 12; a digit that cannot start a
# longer number applies at once), Enter submits, S skips (the Skip button's own Streamlit
# shortcut). Typing in a text box is never intercepted.
#
# Enter is this script's, not the Submit button's Streamlit shortcut, so that the label and
# the submit travel together whatever the timing. The race it ends (issue 12: "no label
# given" while the label shows as selected): while a rerun draws the next item, the previous
# item's form is still mounted (stale) beside the new one, with its own Enter shortcut. The
# keys picked pills by position across the whole page, so a digit typed as soon as the new
# item showed could land on the old form's pill, while Enter fired every mounted form's
# Submit shortcut -- the new, empty form's too. (Captured BackMsgs of HEAD's page with
# digits then Enter at once: one Enter sent both `submit_6`, with the labels, and `submit_7`,
# empty.) Now keys act on the live (not stale) form only, and Enter stops the event
# (Streamlit sees none), applies a pending digit, waits until every pick is drawn (the
# pill's aria-checked: the value reaches the form's state in an effect after that render),
# lets one more task pass and clicks the live form's Submit, the same path as a mouse
# click. A second Enter while one waits, or while only a stale form is on screen, does
# nothing (no double submit, no submit of a form already left).
_KEYS_JS = """
<script>
(() => {
  if (window.__benchsmithKeys) return;
  window.__benchsmithKeys = true;
  let buffer = "", timer = null, sending = false;
  const picked = new Map();  // pill clicked -> the aria-checked it must reach
  const live = (sel) => Array.from(document.querySelectorAll(sel))
    .filter((b) => !b.closest('[data-stale="true"]'));
  const pills = () => live('[class*="st-key-answer_pick_"] button');
  // Single-select pills are radios (aria-checked), multi-select ones toggle buttons
  // (aria-pressed): either tells whether the click has been drawn.
  const shown = (b) => b.getAttribute("aria-checked") ?? b.getAttribute("aria-pressed");
  const press = (b) => {
    picked.set(b, shown(b) === "true" ? "false" : "true");
    b.click();
  };
  const apply = () => {
    const n = parseInt(buffer, 10);
    buffer = ""; clearTimeout(timer); timer = null;
    const buttons = pills();
    if (n >= 1 && n <= buttons.length) press(buttons[n - 1]);
  };
  const drawn = () => Array.from(picked).every(
    ([b, want]) => !b.isConnected || shown(b) === want);
  const send = (button, since) => {
    if (!drawn() && performance.now() - since < 3000) {
      setTimeout(() => send(button, since), 5);
      return;
    }
    setTimeout(() => {
      picked.clear(); sending = false;
      if (button.isConnected && !button.disabled) button.click();
    }, 0);
  };
  const typing = (t) => t && (t.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (/^[a-jA-J]$/.test(e.key) &&
        document.querySelector('[class*="st-key-answer_choices_"]')) {
      const buttons = pills(), i = e.key.toUpperCase().charCodeAt(0) - 65;
      if (i < buttons.length) {
        e.preventDefault(); e.stopPropagation(); press(buttons[i]);
      }
      return;
    }
    if (/^[0-9]$/.test(e.key)) {
      const buttons = pills();
      if (!buttons.length) return;
      e.preventDefault(); e.stopPropagation();
      buffer += e.key; clearTimeout(timer);
      if (parseInt(buffer, 10) * 10 > buttons.length) apply();
      else timer = setTimeout(apply, 600);
    } else if (e.key === "Enter") {
      const t = e.target;
      // A focused button other than a pill (Skip, Log out) keeps its own Enter.
      if (t && t.tagName === "BUTTON" && t.dataset.variant !== "pills") return;
      if (!document.querySelector('[class*="st-key-submit_"] button')) return;
      // Swallowed even when only a stale form is on screen (the next item is on its way):
      // the old form's shortcut must not send it again.
      e.preventDefault(); e.stopPropagation();
      if (t && t.tagName === "BUTTON") t.blur();
      const submit = live('[class*="st-key-submit_"] button')[0];
      if (!submit || sending) return;
      sending = true;
      if (buffer) apply();
      send(submit, performance.now());
    }
  }, true);
})();
</script>
"""


def plain(value: object, *, multiline: bool = False) -> str:
    """``value`` as Markdown that Streamlit shows as exactly its characters.

    Invisible and bidi characters become ``⟨U+XXXX⟩`` (:func:`~builder.display.visible`;
    ``multiline``: messages keep their line breaks). Apply it to the untrusted part or to
    the whole message, once: escaped text is not Markdown any more.
    """
    s = visible(value, multiline=multiline).strip("\n")
    s = _AFTER.sub(lambda m: m[0] + _JOINER, s)
    s = _ARROW.sub(lambda m: m[0][0] + _JOINER + m[0][1:], s)
    s = _PUNCT.sub(r"\\\g<0>", s)
    s = _INDENT.sub(lambda m: "\u00a0" * len(m[0].expandtabs(4)), s)
    return s.replace("\n", "  \n")  # a hard line break: each line shows as a line


def keyboard_shortcuts() -> None:
    """Install the Annotate page's digit shortcuts (once per browser tab)."""
    st.html(_KEYS_JS, unsafe_allow_javascript=True)


def answer_text(answer: Any) -> str:
    """An answer as plain text (labels comma-separated; extractive spans one a line as
    ``text (at N)``, or "unanswerable")."""
    if answer is None:
        return "—"
    if isinstance(answer, dict) and set(answer) == {"text", "answer_start"}:
        spans = zip(answer["text"], answer["answer_start"], strict=False)
        return "\n".join(f"{t} (at {a})" for t, a in spans) or "unanswerable"
    if isinstance(answer, list):
        return ", ".join(str(a) for a in answer)
    return str(answer)


def text(value: object, *, multiline: bool = False) -> None:
    """``st.text`` of ``value`` (no Markdown), invisible characters shown as codes."""
    st.text(visible(value, multiline=multiline))


def show_fields(
    fields: dict[str, Any], kinds: Mapping[str, str] | None = None, *, item_id: str = ""
) -> None:
    """The item's input fields, literally (each its own block, line breaks kept); a field
    whose kind (``spec.source.field_kinds``) is ``conversation`` shows as a transcript, an
    ``image`` field as the image captioned ``item_id`` (:mod:`review_ui.image_view`)."""
    for name, value in fields.items():
        st.caption(plain(name))
        if kinds and kinds.get(name) == "conversation":
            show_conversation(value)
            continue
        if kinds and kinds.get(name) == "image":
            from review_ui.image_view import show_image

            show_image(value, item_id=item_id, key=f"{item_id}_{name}")
            continue
        text("" if value is None else value, multiline=True)


def show_curation_flags(flags: dict[str, Any]) -> None:
    """What curation noticed about the item (PII, near-duplicates), literally."""
    pii = flags.get("pii")
    if pii:
        kinds = ", ".join(sorted(pii)) if isinstance(pii, dict) else str(pii)
        st.warning("Curation found possible personal data in this item.")
        text(f"PII: {kinds}")
    dups = flags.get("near_duplicates")
    if dups:
        st.caption("Near-duplicates in the pool")
        text(", ".join(visible(d) for d in dups))


def literal_frame(data: Any) -> pd.DataFrame:
    """``data`` as a data frame whose strings (cells, column names) went through ``visible``.

    Tables and charts show their strings literally, but a bidi control would still
    reorder them on screen.
    """
    df = pd.DataFrame(data).copy()
    df.columns = [visible(c) if isinstance(c, str) else c for c in df.columns]
    for c in df.columns:
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
            df[c] = df[c].map(lambda v: visible(v) if isinstance(v, str) else v)
    return df


def table(columns: pd.DataFrame | Mapping[str, Sequence[Any]]) -> None:
    """A full-width table, one entry per column (values are shown as data, never markup)."""
    st.dataframe(literal_frame(columns), hide_index=True, width="stretch")


def bar_chart(data: pd.DataFrame | Mapping[str, Sequence[Any]], **encoding: Any) -> None:
    """A full-width bar chart of ``data``; ``encoding`` as Altair's (x=, y=, color=, …)."""
    chart = alt.Chart(literal_frame(data)).mark_bar().encode(**encoding)
    st.altair_chart(chart, width="stretch")
