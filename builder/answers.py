"""When two reference answers say the same thing: one rule for annotators and for models.

:func:`normalize_reference_answer` is used by review (do two annotators' answers agree?
``builder.review.consensus.answer_key``), by the release summary (the human ceiling) and
by scoring (exact match and token F1 of a model's answer, ``builder.evaluate.reference``),
so an annotator writing ``1914-1918`` agrees with one writing ``1914–1918`` and a model
answering either scores 1.0 against the other. :func:`token_f1` (SQuAD's token F1 of two
such forms) is the partial-credit measure shared the same way: model scoring, extractive
span agreement and annotator agreement. Pure, stdlib only, cheap to import.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

__all__ = ["normalize_reference_answer", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)

# Deleted besides every Unicode punctuation character (categories P*): ASCII punctuation
# that Unicode calls a symbol ($ + < = > ^ ` | ~; SQuAD deletes them), the minus sign
# (a dash in all but name) and the modifier-letter apostrophe (a quote in all but name).
_ALSO_DELETED = frozenset(string.punctuation) | {"\u2212", "\u02bc"}


class _Deletions(dict[int, int | None]):
    """A ``str.translate`` table built on demand: code point → None (delete) or itself."""

    def __missing__(self, cp: int) -> int | None:
        ch = chr(cp)
        keep = ch not in _ALSO_DELETED and not unicodedata.category(ch).startswith("P")
        self[cp] = out = cp if keep else None
        return out


_DELETIONS = _Deletions()


def normalize_reference_answer(text: str) -> str:
    """The comparison form of a free-text answer; two answers agree when these are equal.

    SQuAD v1.1's ``normalize_answer`` (lowercase, delete punctuation, drop the articles
    a/an/the, collapse whitespace; Rajpurkar et al. 2016, the official evaluation script)
    made Unicode-aware: the text is NFKC-normalised and casefolded first (full-width
    ``１９１４`` → ``1914``, NBSP → space, ``ﬁ`` → ``fi``, ``Straße`` → ``strasse``), and
    "punctuation" is every Unicode punctuation character (so en/em dashes, curly quotes
    and guillemets go like ``-`` and ``'``), plus ASCII punctuation, ``−`` and ``ʼ``.
    Punctuation is deleted, not replaced by a space: ``1914–1918`` → ``19141918``,
    ``don't`` → ``dont``. For ASCII text the result equals SQuAD's.

    ``text`` is any str; returns words separated by single spaces (``""`` when nothing
    is left). Idempotent. Raises nothing.
    """
    s = unicodedata.normalize("NFKC", text)
    s = unicodedata.normalize("NFKC", s.casefold())
    s = s.translate(_DELETIONS)
    if not unicodedata.is_normalized("NFKC", s):  # a deletion can expose a composition
        s = unicodedata.normalize("NFKC", s)
    return " ".join(_ARTICLES.sub(" ", s).split())


def token_f1(gold: str, pred: str) -> float:
    """SQuAD token F1 of two strings after :func:`normalize_reference_answer`: 2PR/(P+R) over
    the common token multiset; 1.0 when both are empty, 0.0 when just one is
    (Rajpurkar et al. 2018, official evaluate-v2.0.py ``compute_f1``). Symmetric."""
    g = normalize_reference_answer(gold).split()
    p = normalize_reference_answer(pred).split()
    if not g or not p:
        return float(g == p)
    same = sum((Counter(g) & Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)
