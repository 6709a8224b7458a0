"""What Streamlit makes of a Markdown string, for tests of literal rendering.

Streamlit renders element bodies, headings, alerts, captions, widget labels, pill and radio
options and metric values as Markdown (react-markdown with GFM, directives, KaTeX, emoji
shortcodes, Material icons and a few text rewrites). :func:`active_markdown` lists what of
that a string would trigger, using markdown-it-py for CommonMark + GFM tables and
strikethrough, and the rules Streamlit's frontend adds (ported from its bundle:
``StreamlitMarkdown``); :func:`shown` is the text it displays. :func:`markdown_values`
collects every Markdown-rendered string of an AppTest run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from streamlit.testing.v1 import AppTest

_MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_MD.core.ruler.disable("text_join")  # keep escapes as their own tokens (text_special)

_PLAIN_INLINE = {"text", "text_special", "softbreak", "hardbreak"}
_PLAIN_BLOCK = {"paragraph_open", "paragraph_close", "inline"}

# Streamlit's math switch (bm in StreamlitMarkdown): code and escaped \\ \$ \` are dropped,
# then "$$…$$" or "$x$" turns KaTeX on.
_MATH_SKIP = re.compile(
    r"(?:^|(?<=\n)) {0,3}(`{3,}|~{3,})[\s\S]*?(?:\n[ \t]*\1|\Z)|(?<!`)(`+)[^`\n]+\2(?!`)|\\[\\$`]"
)
_MATH_BLOCK = re.compile(r"(?<!\$)\$\$+(?!\$)[\s\S]*?\$\$")
_MATH_INLINE = re.compile(r"(?<!\$)\$(?![\s$])[^$\n]*?[^\s$]\$(?!\d)")
# Rewrites of the parsed text (escapes already resolved): GFM autolink literals (mdast's
# find-and-replace), emoji, icons, logo, arrows.
_TEXT_REWRITES = {
    "autolink": re.compile(r"(?i)https?://|www(?=\.)|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.ASCII),
    "emoji shortcode": re.compile(r":\+1:|:-1:|:[\w-]+:", re.ASCII),
    "material icon": re.compile(r":material[_/]\w+:", re.ASCII),
    "arrow": re.compile(r"(?:^|(?<=\s))(?:<->|->|<-|--|>=|<=|~=)(?=\s|$)"),
}
# Parsed from unescaped characters only (an escaped one is \0 in the view checked).
_SYNTAX = {
    "directive": re.compile(r":[A-Za-z][\w-]*"),
    "autolink": re.compile(r"(?i)https?://|www\.|mailto:|xmpp:|[\w.+-]@[\w-]+\."),
}


def _inline(md: str) -> Iterator[Token]:
    for tok in _MD.parse(md):
        yield tok
        yield from tok.children or []


def math_enabled(md: str) -> bool:
    """Whether Streamlit would load KaTeX for ``md``."""
    if "$" not in md:
        return False
    rest = _MATH_SKIP.sub("_", md)
    return bool(_MATH_BLOCK.search(rest) or _MATH_INLINE.search(rest))


def active_markdown(md: str, *, allow_code: bool = False) -> list[str]:
    """What in ``md`` Streamlit would render as anything but its characters ([] if nothing)."""
    found: list[str] = []
    view: list[str] = []  # the text, with escaped characters as \0
    for tok in _inline(md):
        if tok.type in _PLAIN_BLOCK or tok.type in _PLAIN_INLINE:
            pass
        elif tok.type == "code_inline" and allow_code:
            view.append("\0")
            continue
        else:
            found.append(f"{tok.type} {tok.content or tok.markup!r}")
        if tok.type == "text":
            view.append(tok.content)
        elif tok.type == "text_special":
            view.append("\0" if tok.info == "escape" else tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            view.append("\n")
    unescaped = "".join(view)
    found += [f"{name} {m[0]!r}" for name, rx in _SYNTAX.items() for m in rx.finditer(unescaped)]
    text = shown(md, keep_joiners=True)
    found += [f"{name} {m[0]!r}" for name, rx in _TEXT_REWRITES.items() for m in rx.finditer(text)]
    if ":streamlit:" in text:
        found.append("streamlit logo")
    if math_enabled(md):
        found.append("math")
    return found


def shown(md: str, *, keep_joiners: bool = False) -> str:
    """The text Streamlit displays for ``md`` (lines joined with newlines)."""
    out: list[str] = []
    for tok in _inline(md):
        if tok.type == "paragraph_close":
            out.append("\n\n")
        elif tok.type == "inline":
            continue
        elif tok.type in ("text", "text_special", "code_inline"):
            out.append(tok.content)
        elif tok.type == "softbreak":
            out.append(" ")
        elif tok.type == "hardbreak":
            out.append("\n")
    text = "".join(out).strip("\n").replace("\u00a0", " ")
    return text if keep_joiners else text.replace("\u2060", "")


# Element fields that Streamlit renders as Markdown; st.text, st.code, data frames and
# select box / multiselect options are literal and not listed.
_MARKDOWN_FIELDS = {"body", "label", "help", "text", "delta", "content", "captions"}
_LITERAL_PROTOS = {"Text", "Code", "Html", "Json", "Arrow", "ArrowVegaLiteChart", "DataFrame"}
_OPTION_PROTOS = {"Radio"}  # their options are Markdown too


def _strings(msg: Any, name: str) -> Iterator[tuple[str, str]]:
    kind = type(msg).__name__
    if kind in _LITERAL_PROTOS:
        return
    for field, value in msg.ListFields():
        where = f"{name}.{kind}.{field.name}"
        repeated = hasattr(value, "__len__") and not isinstance(value, str | bytes)
        items = value if repeated and not hasattr(value, "ListFields") else [value]
        for item in items:
            if isinstance(item, str):
                if field.name in _MARKDOWN_FIELDS or (
                    field.name == "options" and kind in _OPTION_PROTOS
                ):
                    yield where, item
            elif hasattr(item, "ListFields"):
                yield from _strings(item, where)


def markdown_values(at: AppTest) -> list[tuple[str, str]]:
    """Every (where, string) of the last run that the browser renders as Markdown."""
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            found.extend(_strings(proto, type(node).__name__))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return found
