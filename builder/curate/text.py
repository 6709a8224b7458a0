"""Text normalisation shared by exact de-duplication and n-gram contamination checks.

Pure functions, no IO.  Two views of a text:

- :func:`normalize_text` gives one canonical string per text, so that two records
  that differ only in case, Unicode form, punctuation, spacing or invisible format
  characters (zero-width space, soft hyphen, …) compare equal.
- :func:`words` gives the lowercase word tokens that n-gram shingles are built from.

Neither changes the stored record text: both only compute comparison keys.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

__all__ = ["normalize_text", "words"]

# \w is Unicode-aware for str patterns: letters and digits of every script, and "_".
_WORD_RE = re.compile(r"\w+")

# A pass of normalize_text can expose a new composition (removing the "." in
# "e.\u0301" lets NFKC fuse "e\u0301" into "é"), so the result is re-normalised
# until it is stable; real text settles after one pass, adversarial text in a few.
_MAX_PASSES = 8


@functools.cache
def _category_res() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Two character classes (built once, ~0.3 s): every code point in a Unicode P* or Cf
    category (deleted by normalize_text), and every Cf one (deleted by words).

    Cf are the invisible format characters: U+00AD soft hyphen, U+200B zero-width space,
    U+200C/U+200D zero-width (non-)joiners, U+2060 word joiner, U+FEFF, bidi marks, ….
    """
    deleted: list[str] = []
    fmt: list[str] = []
    for cp in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat == "Cf":
            fmt.append(chr(cp))
            deleted.append(chr(cp))
        elif cat[0] == "P":
            deleted.append(chr(cp))
    return _class_re(deleted), _class_re(fmt)


def _class_re(chars: list[str]) -> re.Pattern[str]:
    ranges: list[str] = []
    start = prev = -2
    for cp in map(ord, chars):
        if cp != prev + 1:
            if start >= 0:
                ranges.append(_char_range(start, prev))
            start = cp
        prev = cp
    if start >= 0:
        ranges.append(_char_range(start, prev))
    return re.compile("[" + "".join(ranges) + "]+")


def _char_range(lo: int, hi: int) -> str:
    if lo == hi:
        return re.escape(chr(lo))
    return f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"


def _one_pass(s: str) -> str:
    # casefold() can yield text that is no longer NFKC (Unicode's own NFKC_Casefold
    # also normalises after folding), hence NFKC on both sides of it.
    s = unicodedata.normalize("NFKC", s)
    s = unicodedata.normalize("NFKC", s.casefold())
    s = _category_res()[0].sub("", s)
    return " ".join(s.split())


def _is_stable(s: str) -> bool:
    return unicodedata.is_normalized("NFKC", s) and s.casefold() == s


def normalize_text(s: str) -> str:
    """Canonical form of ``s`` for exact de-duplication.

    NFKC, casefold, delete every punctuation character (Unicode category ``P*``:
    ``"e-mail"`` becomes ``"email"``, ``"Hello, world!"`` becomes ``"hello world"``) and
    every invisible format character (category ``Cf``: ``"pass\u00adword"`` and
    ``"pass\u200bword"`` become ``"password"``), then collapse runs of whitespace to one
    space and trim the ends.  Symbols
    (``+``, ``$``, ``©`` …) are kept.  Idempotent: ``normalize_text(normalize_text(s))
    == normalize_text(s)``.
    """
    out = _one_pass(s)
    for _ in range(_MAX_PASSES):
        if _is_stable(out):
            break
        out = _one_pass(out)
    return out


def words(s: str) -> list[str]:
    """Lowercase word tokens of ``s`` (Unicode letters, digits and ``_``), in order.

    The text is NFKC-normalised and casefolded first; every other character
    (punctuation, symbols, whitespace) separates tokens, so ``"don't"`` gives
    ``["don", "t"]`` and ``"libfoo-dev 2.4.1"`` gives ``["libfoo", "dev", "2", "4", "1"]``.
    Invisible format characters (category ``Cf``) are dropped first, so they neither split
    a word (``"pass\u00adword"`` is ``["password"]``) nor count as one.
    """
    if not s.isascii():
        s = _category_res()[1].sub("", s)
    return _WORD_RE.findall(unicodedata.normalize("NFKC", s).casefold())
