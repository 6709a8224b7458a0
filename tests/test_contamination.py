"""Word n-gram contamination index."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.curate.contamination import DEFAULT_N, ContaminationHit, NgramIndex, ngrams
from builder.curate.text import words

SQUAD_LIKE = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to "
    "Normandy, a region in France. They were descended from Norse raiders and pirates from "
    "Denmark, Iceland and Norway who, under their leader Rollo, agreed to swear fealty to "
    "King Charles III of West Francia."
)
DEBIAN_DOC = (
    "abook is a text-based ncurses address book application. It provides many different "
    "fields of user info. abook is designed for use with mutt, but can be used independently."
)
UNRELATED = (
    "GNU Make is a utility which controls the generation of executables and other target "
    "files of a program from the program's source and object files. It reads a makefile."
)


def test_ngrams_count_and_stability() -> None:
    text = "one two three four five"
    assert len(ngrams(text, 3)) == 3
    assert ngrams(text, 3) == ngrams("ONE, two; Three -- four five!", 3)
    assert ngrams(text, 3) != ngrams("one two three four six", 3)
    assert all(0 <= h < 2**64 for h in ngrams(text, 3))


def test_ngram_hash_is_pinned() -> None:
    # blake2b-64 of "hello world": changing it would silently invalidate stored indexes.
    assert ngrams("Hello, world!", 2) == {9765549648086544720}


def test_whole_text_gram_equals_the_n_gram_of_the_same_words() -> None:
    five = "one two three four five"
    assert ngrams(five, 5) == ngrams(five, 6) == ngrams(five, 13)


def test_ngrams_are_the_same_in_another_process() -> None:
    # Python's hash() is salted per process; these must not be.
    code = "from builder.curate.contamination import ngrams; print(sorted(ngrams('a b c d', 2)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == str(sorted(ngrams("a b c d", 2)))


def test_short_text_is_one_gram_of_all_its_words() -> None:
    assert len(ngrams("What is 2 + 2?", 13)) == 1
    assert ngrams("What is 2 + 2?", 13) == ngrams("what is 2 2", 13)
    assert ngrams("", 13) == set()
    assert ngrams("?!", 13) == set()


def test_ngrams_rejects_bad_n() -> None:
    with pytest.raises(ValueError, match="n=0"):
        ngrams("a b", 0)
    with pytest.raises(ValueError, match="n=0"):
        NgramIndex([], n=0)


def test_copied_text_inside_a_paragraph_is_found() -> None:
    index = NgramIndex([("squad", SQUAD_LIKE), ("debian-docs", DEBIAN_DOC)])
    item = (
        "Please classify the following text. "
        + SQUAD_LIKE.upper().replace(",", "")
        + " Answer with one word, and explain briefly why you chose it."
    )
    hit = index.match(item)
    assert hit is not None
    assert hit.source == "squad"
    assert hit.shared == len(ngrams(SQUAD_LIKE, DEFAULT_N))
    assert hit.total == len(ngrams(item, DEFAULT_N))
    assert 0 < hit.fraction < 1


def test_a_single_shared_13_gram_is_enough() -> None:
    index = NgramIndex([("debian-docs", DEBIAN_DOC)])
    window = " ".join(words(DEBIAN_DOC)[3:16])  # exactly 13 words of the source
    item = f"Totally different start. {window} and a different ending here."
    hit = index.match(item)
    assert hit == ContaminationHit(
        source="debian-docs", shared=1, total=len(ngrams(item, DEFAULT_N))
    )


def test_unrelated_text_is_not_found() -> None:
    index = NgramIndex([("squad", SQUAD_LIKE), ("debian-docs", DEBIAN_DOC)])
    assert index.match(UNRELATED) is None
    # Sharing fewer than n consecutive words is not contamination.
    assert index.match("abook is a text-based ncurses address book for the terminal.") is None


def test_short_texts_match_only_when_identical() -> None:
    index = NgramIndex([("trivia", "What is the capital of France?"), ("squad", SQUAD_LIKE)])
    hit = index.match("what is the CAPITAL of france")
    assert hit == ContaminationHit(source="trivia", shared=1, total=1)
    assert hit.fraction == 1.0
    assert index.match("What is the capital of Spain?") is None
    # A short text inside a long source is not flagged: too few words to be evidence.
    assert index.match("a region in France") is None


def test_first_source_owns_a_shared_gram_and_ties_go_to_the_first() -> None:
    index = NgramIndex([("first", DEBIAN_DOC), ("second", DEBIAN_DOC)], n=5)
    hit = index.match(DEBIAN_DOC)
    assert hit is not None
    assert hit.source == "first"
    assert index.sources == ["first", "second"]


def test_source_with_most_shared_grams_wins() -> None:
    index = NgramIndex([("debian-docs", DEBIAN_DOC), ("squad", SQUAD_LIKE)], n=5)
    item = " ".join(words(DEBIAN_DOC)[:6]) + " and then " + SQUAD_LIKE
    hit = index.match(item)
    assert hit is not None
    assert hit.source == "squad"


def test_min_shared_threshold() -> None:
    index = NgramIndex([("debian-docs", DEBIAN_DOC)], n=5)
    window = " ".join(words(DEBIAN_DOC)[:6])  # 2 shared 5-grams
    assert index.match(window) is not None
    assert index.match(window, min_shared=2) is not None
    assert index.match(window, min_shared=3) is None


def test_add_and_len() -> None:
    index = NgramIndex(n=3)
    assert len(index) == 0
    index.add("a", "one two three four")
    assert len(index) == 2
    index.add("b", "one two three four five")  # one new gram
    assert len(index) == 3
    assert index.n == 3


@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "x1", "é"]), max_size=30))
def test_every_text_matches_itself(ws: list[str]) -> None:
    text = " ".join(ws)
    index = NgramIndex([("self", text)], n=4)
    hit = index.match(text)
    if ws:
        assert hit is not None
        assert hit.shared == hit.total == len(ngrams(text, 4))
    else:
        assert hit is None
