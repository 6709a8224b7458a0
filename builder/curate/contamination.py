"""Word n-gram overlap between candidate items and known public texts (contamination).

The test of the GPT-3 and Llama contamination studies: an item is contaminated
when it shares a run of ``n`` consecutive words (13 by default) with a text a model
may have been trained on, such as a public benchmark or the upstream docs.
Words come from :func:`builder.curate.text.words`, so case, punctuation and
Unicode form do not hide a copy.

Each shingle is stored as an 8-byte BLAKE2b digest of its words, not Python's
``hash()``, which is salted per process: the same text gives the same numbers on
every machine and every run.

Texts shorter than ``n`` words have no n-gram; they are represented instead by
one gram, the digest of their whole word sequence.  A short item is therefore
flagged when a short source has exactly the same words (``"What is 2 + 2?"``
against ``"what is 2 2"``), but not when it merely occurs inside a longer
source: a handful of words in common is not evidence of a copy.

Memory: :class:`NgramIndex` keeps one ``dict[int, str]`` entry per distinct gram,
about 100 bytes each in CPython (a 64-bit int key plus a table slot; the source
name string is shared by all its entries).  A text of ``w`` words has ``w - n + 1``
grams, so indexing 1 million words of sources takes about 100 MB.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from builder.curate.text import words

__all__ = ["DEFAULT_N", "ContaminationHit", "NgramIndex", "ngrams"]

DEFAULT_N = 13
"""Shingle length used by the GPT-3 contamination analysis."""


def _gram_hash(gram: Sequence[str]) -> int:
    # Words never contain whitespace, so joining with a space is unambiguous, and
    # grams of different lengths never share a joined string.
    digest = hashlib.blake2b(" ".join(gram).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def ngrams(text: str, n: int = DEFAULT_N) -> set[int]:
    """Stable 64-bit hashes of the ``n``-word shingles of ``text``.

    A text with fewer than ``n`` words (but at least one) gives one hash, of all
    its words; an empty text (no words) gives the empty set.
    """
    if n < 1:
        raise ValueError(f"n-gram length must be at least 1, got n={n}")
    ws = words(text)
    if not ws:
        return set()
    if len(ws) < n:
        return {_gram_hash(ws)}
    # _gram_hash inlined: this loop runs once per word of every item and source.
    b2, from_bytes = hashlib.blake2b, int.from_bytes
    return {
        from_bytes(b2(" ".join(ws[i : i + n]).encode(), digest_size=8).digest(), "big")
        for i in range(len(ws) - n + 1)
    }


@dataclass(frozen=True)
class ContaminationHit:
    """A text's overlap with the indexed sources."""

    source: str
    """Name of the source that most of the shared grams come from (first indexed on a tie)."""
    shared: int
    """Distinct grams of the text whose first indexed source is ``source``."""
    total: int
    """Distinct grams of the text (its shingles, or 1 for a text shorter than ``n``)."""

    @property
    def fraction(self) -> float:
        """Share of the text's grams found in ``source``, between 0 and 1."""
        return self.shared / self.total if self.total else 0.0


class NgramIndex:
    """Gram hashes of a set of named source texts, to test items against.

    Each gram remembers the first source it was seen in.  Build it once from the
    sources listed in the benchmark spec, then call :meth:`match` per item.
    """

    def __init__(self, sources: Iterable[tuple[str, str]] = (), n: int = DEFAULT_N) -> None:
        """Index ``(source_name, text)`` pairs with shingles of ``n`` words."""
        if n < 1:
            raise ValueError(f"n-gram length must be at least 1, got n={n}")
        self.n = n
        self._owner: dict[int, str] = {}
        self._order: dict[str, int] = {}
        for name, text in sources:
            self.add(name, text)

    def add(self, source_name: str, text: str) -> None:
        """Add one source text; grams already indexed keep their first source."""
        self._order.setdefault(source_name, len(self._order))
        for h in ngrams(text, self.n):
            self._owner.setdefault(h, source_name)

    def __len__(self) -> int:
        """Number of distinct grams indexed."""
        return len(self._owner)

    @property
    def sources(self) -> list[str]:
        """Source names in the order they were first added."""
        return list(self._order)

    def match(self, text: str, min_shared: int = 1) -> ContaminationHit | None:
        """The source ``text`` overlaps most, or None below ``min_shared`` shared grams."""
        grams = ngrams(text, self.n)
        owners = Counter(self._owner[h] for h in grams if h in self._owner)
        if not owners:
            return None
        source, shared = max(owners.items(), key=lambda kv: (kv[1], -self._order[kv[0]]))
        if shared < min_shared:
            return None
        return ContaminationHit(source=source, shared=shared, total=len(grams))
