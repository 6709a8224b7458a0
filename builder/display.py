"""Showing strings from data or from people so that what is shown is what is there.

An id, a user name, a label or a message may contain characters that change how the text
around them looks without being seen themselves: bidi controls (a right-to-left override
U+202E turns ``txt.exe`` into ``exe.txt`` on screen), zero-width characters (``admin`` and
``ad\u200bmin`` look the same), terminal escapes (``\x1b[2J`` clears a terminal), line
breaks that forge a table row. :func:`visible` writes each such character as its code,
``⟨U+202E⟩``, so it can neither hide nor reorder anything. The CLI's tables and messages
and the review app (through ``review_ui.widgets.plain``) use it for every such string.

Item text (``multiline=True``) keeps its line breaks and tabs, and the zero-width joiner and
non-joiner that emoji and several scripts need; bidi controls and the other invisible
characters are shown as codes there too.
"""

from __future__ import annotations

import unicodedata

__all__ = ["BIDI_CONTROLS", "visible"]

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Arabic letter mark, LRM/RLM, the embeddings and overrides, the isolates."""

# Categories never shown as themselves: controls, format characters (bidi controls,
# zero-width space and joiners, the BOM, soft hyphen, …), line and paragraph separators,
# lone surrogates.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_KEPT_IN_TEXT = frozenset("\n\t\u200c\u200d")


def _code(ch: str) -> str:
    return f"⟨U+{ord(ch):04X}⟩"


def visible(text: object, *, multiline: bool = False) -> str:
    """``text`` with every invisible or reordering character written as ``⟨U+XXXX⟩``.

    ``multiline`` (item text, messages): line breaks (``\\r\\n`` becomes ``\\n``), tabs and the
    zero-width (non-)joiner stay as they are; bidi controls are shown as codes all the same.
    """
    s = str(text)
    if s.isprintable():  # the usual case: nothing to do
        return s
    if multiline:
        s = s.replace("\r\n", "\n")
    out = []
    for ch in s:
        if ch in BIDI_CONTROLS or (
            unicodedata.category(ch) in _HIDDEN and not (multiline and ch in _KEPT_IN_TEXT)
        ):
            out.append(_code(ch))
        else:
            out.append(ch)
    return "".join(out)
