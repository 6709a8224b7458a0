"""The review app's literal rendering: ``plain`` for Markdown elements, ``visible`` elsewhere.

Each hostile value, through :func:`review_ui.widgets.plain`, must render as exactly its
characters in every Markdown element Streamlit has (checked with CommonMark + GFM and the
rules Streamlit's frontend adds: math, directives, autolinks, shortcodes, arrows; see
tests/support/literal.py), and bidi controls must show as codes.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import review_ui
from builder.display import visible
from review_ui.widgets import plain
from tests.support.literal import active_markdown, markdown_values, shown

HOSTILE = [
    # Images, links, autolinks: nothing may be fetched or linked.
    "![x](http://evil.example/p.png)",
    "[docs](http://evil.example)",
    "<http://evil.example>",
    "http://evil.example/x https://evil.example www.evil.example WWW.evil.example",
    "x@evil.example mailto:x@evil.example",
    "[ref]\n\n[ref]: http://evil.example",
    "[^1]\n\n[^1]: footnote",
    # Emphasis, strikethrough, code.
    "**bold** __bold__ *em* _em_ ~~strike~~ ~s~",
    "`code` ``two `ticks` `` a lone ` backtick",
    "```\nfenced\n```",
    "~~~\nfenced\n~~~",
    "    indented code",
    # HTML and entities.
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script> <b>b</b> &lt;b&gt; &amp; &#65;",
    # Math.
    "$x^2$",
    "$$\nx^2\n$$",
    r"\(x\) \[y\] $5 and $10",
    # Streamlit directives, icons, emoji, logo, arrows.
    ":red[a] :red-background[b] :blue-badge[c] :small[d] :shimmer[e] :help[f]",
    ':color[g]{foreground="red"} :abc{#id .cls}',
    ":::note\nx\n:::",
    ":material/home: :material_home: :smile: :+1: :-1: :streamlit:",
    "a -> b <- c <-> d -- e >= f <= g ~= h",
    # Blocks.
    "# h1\n## h2\n###### h6",
    "title\n===\nsub\n---",
    "> quote\n- item\n+ item\n* item\n1. one\n2) two\n- [ ] task",
    "***\n---\n___",
    "| a | b |\n|---|---|\n| c | d |",
    # Backslashes, line breaks, everything at once.
    "C:\\temp \\*not em\\* trailing\\",
    "two spaces  \nthen a line",
    string.punctuation,
    " ".join(string.punctuation),
]

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u200e", "\u200f", "\u061c"]  # fmt: skip


def _lines(text: str) -> list[str]:
    # markdown-it strips a paragraph's outer whitespace (NBSP too, unlike Streamlit's parser).
    return [line.strip() for line in text.strip().split("\n")]


@pytest.mark.parametrize("value", HOSTILE)
def test_plain_renders_exactly_the_characters(value: str) -> None:
    md = plain(value, multiline=True)
    assert active_markdown(md) == []
    assert _lines(shown(md)) == _lines(value)
    # Single-line values (ids, names, labels): the same, line breaks shown as codes.
    one = plain(value)
    assert active_markdown(one) == []
    assert _lines(shown(one)) == _lines(visible(value))


@pytest.mark.parametrize("value", ["", "gzip", "Saved libstdc++6: approved; say why?"])
def test_plain_leaves_ordinary_text_readable(value: str) -> None:
    assert shown(plain(value)) == value
    assert "\u2060" not in plain(value)


@pytest.mark.parametrize("ch", BIDI)
def test_bidi_controls_are_shown_as_codes(ch: str) -> None:
    code = f"⟨U+{ord(ch):04X}⟩"
    assert visible(f"abc{ch}txt.exe") == f"abc{code}txt.exe"
    assert visible(f"line{ch}\nnext", multiline=True) == f"line{code}\nnext"
    assert shown(plain(f"id{ch}x")) == f"id{code}x"
    assert ch not in plain(f"id{ch}x", multiline=True)


def test_visible_other_invisible_characters() -> None:
    # Zero-width space/joiner, BOM, soft hyphen, ESC, NUL, line breaks in a one-line value.
    assert visible("ad\u200bmin\u200d\ufeff\u00ad\x1b[2J\x00a\nb\tc\u2028") == (
        "ad⟨U+200B⟩min⟨U+200D⟩⟨U+FEFF⟩⟨U+00AD⟩⟨U+001B⟩[2J⟨U+0000⟩a⟨U+000A⟩b⟨U+0009⟩c⟨U+2028⟩"
    )
    # Item text keeps line breaks, tabs and the joiners scripts and emoji need.
    assert visible("a\r\nb\tc \u200d\u200c\u200b\r", multiline=True) == (
        "a\nb\tc \u200d\u200c⟨U+200B⟩⟨U+000D⟩"
    )
    assert visible("naïve — 日本語 שלום") == "naïve — 日本語 שלום"
    assert visible(42) == "42"


def _every_markdown_element() -> None:
    import streamlit as st

    from review_ui.widgets import plain, text

    values: list[str] = st.session_state["values"]
    for v in values:
        st.title(plain(v))
        st.header(plain(v))
        st.subheader(plain(v))
        st.markdown(plain(v, multiline=True))
        st.caption(plain(v))
        st.error(plain(v, multiline=True))
        st.warning(plain(v, multiline=True))
        st.info(plain(v, multiline=True))
        st.success(plain(v, multiline=True))
        st.metric(plain(v), plain(v))
        text(v, multiline=True)
    st.pills("Pick", options=values, format_func=plain, key="pick")
    st.radio("Radio", options=values, format_func=plain, key="radio")
    st.button(plain(values[0]), help=plain(values[0]), key="button")


def test_every_markdown_element_shows_hostile_values_literally() -> None:
    values = [*HOSTILE, "rlo\u202eexe.txt"]
    at = AppTest.from_function(_every_markdown_element, default_timeout=30)
    at.session_state["values"] = values
    at.run()
    assert not at.exception
    rendered = markdown_values(at)
    # Every element kind above is seen, and none renders any Markdown.
    kinds = {where.split(".")[0] for where, _ in rendered}
    assert {"Title", "Header", "Subheader", "Markdown", "Caption", "Error", "Warning", "Info",
            "Success", "Metric", "ButtonGroup", "Radio", "Button"} <= kinds  # fmt: skip
    assert [(where, v, active_markdown(v)) for where, v in rendered if active_markdown(v)] == []
    assert not [v for _, v in rendered if "\u202e" in v]
    # st.text shows the characters themselves (dedented); only the bidi control is a code.
    assert [t.value.strip() for t in at.text] == [v.strip() for v in values[:-1]] + [
        "rlo⟨U+202E⟩exe.txt"
    ]


# Where Streamlit renders a string as Markdown (first arguments, labels, help, options).
_MARKDOWN_SINKS = {"markdown", "write", "title", "header", "subheader", "caption", "info",
                   "success", "warning", "error", "toast", "metric", "progress"}  # fmt: skip
_MARKDOWN_KEYWORDS = {"label", "help", "format_func", "body", "text", "delta"}
_HELPERS = {"plain", "visible", "_fmt"}


def _safe(node: ast.expr) -> bool:
    """A constant, or only values passed through the helpers (``_fmt``: numbers)."""
    match node:
        case ast.Constant():
            return True
        case ast.JoinedStr(values=parts):
            return all(
                isinstance(p, ast.Constant) or (isinstance(p, ast.FormattedValue)
                                                and (p.format_spec is not None or _safe(p.value)))
                for p in parts
            )  # fmt: skip
        case ast.BinOp(op=ast.Add(), left=left, right=right):
            return _safe(left) and _safe(right)
        case ast.IfExp(body=body, orelse=orelse):
            return _safe(body) and _safe(orelse)
        case ast.Call(func=ast.Name(id=name)) | ast.Name(id=name) if name in _HELPERS:
            return True
        case ast.Lambda(body=body):
            return _safe(body)
        case ast.Attribute(value=ast.DictComp(value=value), attr="get"):
            return _safe(value)
    return False


def test_markdown_elements_get_only_constants_or_plain() -> None:
    """The rule of review_ui/widgets.py, checked in the source of every page.

    A value that is neither a constant nor passed through ``plain`` / ``visible`` needs a
    ``# trusted: why`` comment on its call (numbers, enum values, the lead's guidelines).
    """
    unjustified = []
    for path in sorted(Path(review_ui.__file__).parent.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr == "encode":  # Altair's channels: chart text, not Markdown
                continue
            args = [kw.value for kw in node.keywords if kw.arg in _MARKDOWN_KEYWORDS]
            if node.func.attr in _MARKDOWN_SINKS:
                args += node.args
            elif not args:
                continue
            span = "\n".join(lines[node.lineno - 2 : node.end_lineno])  # with the line above
            if not all(_safe(a) for a in args) and "# trusted:" not in span:
                unjustified.append(f"{path.name}:{node.lineno}: {span.strip()}")
    assert not unjustified, "\n".join(unjustified)
