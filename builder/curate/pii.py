"""Find and redact personal data (PII) in free text with checked patterns.

Pure and IO-free.  Every kind is a regular expression for the *shape* followed by
a *check* that real data passes and look-alikes fail:

============  ================================================================
kind          shape → check
============  ================================================================
email         ``local@domain.tld`` (ASCII, alphabetic TLD)
phone         ``+`` E.164 forms, or national forms with separators → 8–15 digits,
              not a date, not a dotted version, not a bare number list
credit_card   13–19 digits, optional consistent spaces/dashes → Luhn, not one
              repeated digit, a payment network's prefix (2221–2720, 3–6)
iban          country + 2 check digits + BBAN, compact or in groups of 4 →
              length for that country, ISO 7064 mod-97 == 1
ip_address    dotted quad → octets 0–255 without leading zeros; IPv6 →
              :mod:`ipaddress`, and at least one digit
us_ssn        ``AAA-GG-SSSS`` → area not 000/666/900–999, group not 00,
              serial not 0000
============  ================================================================

Overlaps are resolved so each character belongs to at most one match: among
the checked kinds the longer match wins (then the more specific kind), and a
phone is only reported where no other kind matched, nor a *card-, IBAN- or
SSN-shaped* number that failed its check ("4111 1111 1111 1112" is a mistyped
card, not a phone).

Trade-offs, chosen for package descriptions, tickets and notes:

- A valid dotted quad such as ``1.2.3.4`` is reported as an IP address even when
  it is really a four-part version number, unless the word right before it is
  ``version``/``release``/``ver``/``rev``/``v``; the common three-part versions
  (``2.4.1``), anything glued into a longer dotted number (``1.2.3.4.5``,
  ``v1.2.3.4``) and Debian-style versions with an epoch or a suffix
  (``1:2.3.19.1``, ``1.74.0.3+dfsg``, ``0.1.36.1-1``) never match.  The price: a
  short range such as ``10.0.0.1-254`` is missed (``10.0.0.1-10.0.0.254`` is
  found).  Missing a real address is worse than an extra flag a reviewer
  dismisses.
- Phone numbers are the weakest pattern.  Without a ``+`` a number needs at
  least three separated groups (or two with a leading trunk ``0``), and when it
  is separated by spaces only it must start with ``0`` (``020 7946 0958``) so that
  lists of numbers (``1024 2048 4096``) are not phones.  Plain digit runs
  (``1700000000``) are never phones.  Dates (``2021-01-15``, ``15.01.2021``) and
  dotted versions with one-digit parts are rejected.  US numbers written with
  spaces only (``415 555 2671``) are missed.
- Emails are ASCII only; ``icon@2x.png`` looks like an email and is reported.
- IPv6 needs a digit, so C++/Perl scopes (``std::vector``, ``a::b``,
  ``dead::beef``) are not addresses.
- IBANs are checked against the length table below; an unlisted country is not
  reported.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["PII_KINDS", "PiiMatch", "count_by_kind", "redact", "scan"]

PII_KINDS: tuple[str, ...] = ("email", "phone", "credit_card", "iban", "ip_address", "us_ssn")
"""Every kind :func:`scan` reports; the placeholder is the upper-cased kind, e.g. ``[US_SSN]``."""

# Lower rank = more specific; breaks ties between equally long overlapping matches.
_RANK = {"credit_card": 0, "iban": 1, "us_ssn": 2, "email": 3, "ip_address": 4, "phone": 5}


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data found in a text."""

    kind: str
    """One of :data:`PII_KINDS`."""
    start: int
    """Offset of the first character in the scanned text."""
    end: int
    """Offset just past the last character (``text == scanned[start:end]``)."""
    text: str
    """The matched characters."""


# --- patterns (compiled once) ------------------------------------------------------

# Digits are spelled [0-9]: \d would also take Arabic-Indic and other Unicode digits.
_FAST_RE = re.compile(r"[0-9@]")  # every kind needs a digit, except emails ('@')

_EMAIL_RE = re.compile(
    r"(?<![\w.%+\-])"
    r"[A-Za-z0-9._%+\-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}"
    r"(?![\w\-]|\.[A-Za-z0-9])"
)

# Grouped forms (4-4-4-4[-3], 4-6-4/5 for Amex/Diners) with one consistent
# separator, or a bare run of 13–19 digits.
_CARD_RE = re.compile(
    r"(?<![\w.+\-])"
    r"(?:[0-9]{4}(?P<s1>[ \-])[0-9]{4}(?P=s1)[0-9]{4}(?P=s1)[0-9]{4}(?:(?P=s1)[0-9]{3})?"
    r"|[0-9]{4}(?P<s2>[ \-])[0-9]{6}(?P=s2)[0-9]{4,5}"
    r"|[0-9]{13,19})"
    r"(?![\w]|[.\-][0-9])"
)

# Compact, or printed in groups of four separated by single spaces.  The regex
# may run past the end of the IBAN into a following word; the country length
# table decides where it really ends.
_IBAN_RE = re.compile(
    r"(?<![\w\-])"
    r"[A-Z]{2}[0-9]{2}"
    r"(?:(?: [A-Z0-9]{4})+(?: [A-Z0-9]{1,3})?|[A-Z0-9]{11,30})"
    r"(?![A-Za-z0-9])"
)

_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22,
    "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27,
    "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip

_SSN_RE = re.compile(r"(?<![\w\-])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![\w]|-[0-9])")

# Not glued into a longer dotted number (1.2.3.4.5, v1.2.3.4, 0.16.0.159.g483ce16) nor
# a Debian version with an epoch (1:2.3.19.1) or a suffix (1.74.0.3+dfsg, 0.1.36.1-1).
_IPV4_RE = re.compile(r"(?<![\w.])(?<![0-9]:)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w+~]|\.\w)")
# "-1" after a quad is a Debian revision; "-10.0.0.9" is the other end of a range.
_VERSION_REVISION_RE = re.compile(r"-(?!(?:[0-9]{1,3}\.){3}[0-9])[0-9]")
_VERSION_WORDS = frozenset({"version", "versions", "release", "ver", "rev", "revision", "v"})

_IPV6_RE = re.compile(
    r"(?<![\w:.])"
    r"(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?![\w:]|\.\w)"
)

# A maximal run of digit groups joined by single separators, with an optional
# "+cc" and "(area)" prefix.  Not glued to a word, a dotted/dashed number or a
# time ("10:30") on the left; which part of the run is a phone is decided in code.
_PHONE_RUN_RE = re.compile(
    r"(?<![\w+.\-/])(?<![0-9]:)"
    r"(?:\+[0-9]{1,3}[ \t.\-]?(?:\([0-9]{1,4}\)[ \t.\-]?)?|\([0-9]{1,4}\)[ \t.\-]?)?"
    r"[0-9]+(?:[ \t.\-][0-9]+)*"
)
_PHONE_CHUNK_RE = re.compile(r"[^ \t]+")
_DIGITS_RE = re.compile(r"[0-9]+")
_GLUED_AFTER_RE = re.compile(r"\w|[.\-:/]\w")
_MAX_PHONE_GROUPS = 7
_MIN_PHONE_DIGITS, _MAX_PHONE_DIGITS = 8, 15
# The fewest ASCII digits a match of each kind holds: the patterns above spell them out
# (a card's groups or bare run, an SSN's 3-2-4, an IBAN's check digits, a quad's octets).
_CARD_MIN_DIGITS = 13
_SSN_DIGITS = 9
_IBAN_MIN_DIGITS = 2
_IPV4_MIN_DIGITS = 4


# --- checks ------------------------------------------------------------------------


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return (
        13 <= len(digits) <= 19
        and _network_prefix_ok(digits)
        and len(set(digits)) > 1
        and _luhn_ok(digits)
    )


def _network_prefix_ok(digits: str) -> bool:
    # Visa 4, Mastercard 51-55 and 2221-2720, Amex/Diners/JCB 3, Discover/UnionPay/
    # Maestro 5 and 6.  Halves the Luhn false positives on lists of numbers.
    return digits[0] in "3456" or 2221 <= int(digits[:4]) <= 2720


def _iban_mod97_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    # A–Z become 10–35, as ISO 13616 prescribes.
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_span(candidate: str) -> int | None:
    """Length of the valid IBAN at the start of ``candidate`` (with its spaces), or None."""
    length = _IBAN_LENGTHS.get(candidate[:2])
    if length is None:
        return None
    seen = 0
    for pos, ch in enumerate(candidate):
        if ch != " ":
            seen += 1
        if seen == length:
            end = pos + 1
            if end < len(candidate) and candidate[end] != " ":
                return None  # the IBAN would end inside a group
            compact = candidate[:end].replace(" ", "")
            return end if _iban_mod97_ok(compact) else None
    return None


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ipv4_ok(text: str, start: int, candidate: str) -> bool:
    for octet in candidate.split("."):
        if int(octet) > 255 or (len(octet) > 1 and octet[0] == "0"):
            return False
    if _VERSION_REVISION_RE.match(text, start + len(candidate)):
        return False
    # "version 1.2.3.4": the preceding word says it is not an address.
    before = text[max(0, start - 16) : start]
    if before[-1:].isspace():
        prev_words = before.split()
        if prev_words and prev_words[-1].lower().rstrip(".:") in _VERSION_WORDS:
            return False
    return True


def _ipv6_ok(candidate: str) -> bool:
    if not any(ch.isdigit() for ch in candidate):
        return False
    if "::" not in candidate and candidate.count(":") != 7 and "." not in candidate:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _looks_like_date(groups: Sequence[str]) -> bool:
    if len(groups) != 3:
        return False
    lengths = tuple(len(g) for g in groups)
    a, b, c = (int(g) for g in groups)
    if lengths[0] == 4 and lengths[1] <= 2 and lengths[2] <= 2:
        return 1 <= b <= 12 and 1 <= c <= 31
    if lengths[0] <= 2 and lengths[1] <= 2 and lengths[2] == 4:
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)
    return False


def _phone_ok(candidate: str) -> bool:
    groups = _DIGITS_RE.findall(candidate)
    n_digits = sum(map(len, groups))
    if not _MIN_PHONE_DIGITS <= n_digits <= _MAX_PHONE_DIGITS or len(groups) > _MAX_PHONE_GROUPS:
        return False
    has_plus = candidate[0] == "+"
    if has_plus and len(groups) == 1:
        return True  # E.164 written compactly: +14155552671
    if not has_plus and "(" not in candidate:
        trunk_zero = groups[0][0] == "0"
        if len(groups) < 3 and not trunk_zero:
            return False  # 1234-5678 (an ISSN, a range) or 1234 5678
        if not trunk_zero and "." not in candidate and "-" not in candidate:
            return False  # spaces only: a list of numbers
    body = groups[1:] if has_plus else groups
    if len(groups[-1]) < 2 or sum(len(g) == 1 for g in body) > 1:
        return False
    if "." in candidate:
        if any(len(g) < 2 for g in body):
            return False  # dotted version: 2.30.1.2021
        if len(groups) == 4 and all(len(g) <= 3 for g in groups):
            return False  # dotted quad: an IP address or nothing
    return not (
        _looks_like_date(groups)
        or any(_looks_like_date(_DIGITS_RE.findall(chunk)) for chunk in candidate.split())
    )


# --- finders -----------------------------------------------------------------------


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _digit_count(text: str) -> int:
    """ASCII digits in ``text`` (ten C-level counts: far cheaper than a regex pass)."""
    return sum(map(text.count, "0123456789"))


def _checked_matches(text: str, blockers: list[tuple[int, int]], digits: int) -> list[PiiMatch]:
    """Candidates of every kind except phone; appends failed card/IBAN/SSN shapes to blockers.

    A kind's pattern runs only when the text has what every match of it needs (``digits``:
    the text's ASCII digits); one pass of a pattern costs about ten times these tests, and
    most texts with a digit hold a version number, not personal data. So the outcome is
    that of running every pattern, and a shape too short to match blocks no phone either."""
    found: list[PiiMatch] = []

    def add(kind: str, start: int, end: int) -> None:
        found.append(PiiMatch(kind, start, end, text[start:end]))

    if "@" in text:
        for m in _EMAIL_RE.finditer(text):
            add("email", m.start(), m.end())
    for m in _CARD_RE.finditer(text) if digits >= _CARD_MIN_DIGITS else ():
        cand = m.group()
        if _card_ok(cand):
            add("credit_card", m.start(), m.end())
        elif len(cand) == 23 and _card_ok(cand[:19]):
            add("credit_card", m.start(), m.start() + 19)  # 4-4-4-4 then an unrelated 3
        else:
            blockers.append(m.span())
    # An IBAN starts with two capitals: a text whose letters are all lower-case has none.
    for m in _IBAN_RE.finditer(text) if digits >= _IBAN_MIN_DIGITS and not text.islower() else ():
        length = _iban_span(m.group())
        if length is None:
            blockers.append(m.span())
        else:
            add("iban", m.start(), m.start() + length)
    for m in _SSN_RE.finditer(text) if digits >= _SSN_DIGITS and "-" in text else ():
        if _ssn_ok(m.group(1), m.group(2), m.group(3)):
            add("us_ssn", m.start(), m.end())
        else:
            blockers.append(m.span())
    if digits >= _IPV4_MIN_DIGITS and text.count(".") >= 3:
        for m in _IPV4_RE.finditer(text):
            if _ipv4_ok(text, m.start(), m.group()):
                add("ip_address", m.start(), m.end())
    if text.count(":") >= 2:
        for m in _IPV6_RE.finditer(text):
            if _ipv6_ok(m.group()):
                add("ip_address", m.start(), m.end())
    return found


def _phone_matches(text: str, blockers: list[tuple[int, int]]) -> list[PiiMatch]:
    """Phones: the longest valid stretch of whole space-separated chunks of each run."""
    found: list[PiiMatch] = []
    for run in _PHONE_RUN_RE.finditer(text):
        chunks = [
            (run.start() + c.start(), run.start() + c.end())
            for c in _PHONE_CHUNK_RE.finditer(run.group())
        ]
        if _GLUED_AFTER_RE.match(text, run.end()):
            chunks.pop()  # "2.30.2-1ubuntu1", "10.0.0.1:80": the last chunk is no number
        n_digits = [sum(map(len, _DIGITS_RE.findall(text[s:e]))) for s, e in chunks]
        i = 0
        while i < len(chunks):
            # Each chunk holds a digit group, so longer stretches fail _phone_ok anyway;
            # the bound keeps a long list of numbers linear instead of quadratic.
            last = min(len(chunks), i + _MAX_PHONE_GROUPS) - 1
            digits = sum(n_digits[i : last + 1])
            for j in range(last, i - 1, -1):
                if digits < _MIN_PHONE_DIGITS:
                    break  # shorter stretches have even fewer digits
                start, end = chunks[i][0], chunks[j][1]
                if (
                    digits <= _MAX_PHONE_DIGITS
                    and _phone_ok(text[start:end])
                    and not _overlaps(start, end, blockers)
                ):
                    found.append(PiiMatch("phone", start, end, text[start:end]))
                    i = j
                    break
                digits -= n_digits[j]
            i += 1
    return found


def _resolve(candidates: list[PiiMatch]) -> list[PiiMatch]:
    """Keep non-overlapping matches, longest first, then the most specific kind."""
    kept: list[PiiMatch] = []
    for m in sorted(candidates, key=lambda m: (m.start - m.end, _RANK[m.kind], m.start)):
        if not _overlaps(m.start, m.end, ((k.start, k.end) for k in kept)):
            kept.append(m)
    return kept


# --- public API --------------------------------------------------------------------


def scan(text: str) -> list[PiiMatch]:
    """Every piece of PII in ``text``, sorted by start, non-overlapping.

    Texts without a digit or an ``@`` return at once, which makes scanning a
    large pool of mostly clean records cheap.
    """
    if not _FAST_RE.search(text):
        return []
    digits = _digit_count(text)
    blockers: list[tuple[int, int]] = []
    kept = _resolve(_checked_matches(text, blockers, digits))
    if digits >= _MIN_PHONE_DIGITS:
        blockers.extend((m.start, m.end) for m in kept)
        kept.extend(_phone_matches(text, blockers))
    return sorted(kept, key=lambda m: m.start)


def redact(text: str, matches: Sequence[PiiMatch] | None = None) -> str:
    """``text`` with each match replaced by its placeholder, e.g. ``[EMAIL]``.

    ``matches`` must come from this same text; a match overlapping an earlier one
    is skipped.  Without ``matches`` the text is scanned, redacted and scanned
    again until nothing is left: when two pieces are glued together
    (``2001:db8::1jane@example.com``) removing one can expose the rest of the
    other, and the result must not leak it.
    """
    if matches is not None:
        return _replace(text, matches)
    # Terminates: every match holds a digit or "@" and no placeholder does, so each
    # pass strictly lowers their number.
    while found := scan(text):
        text = _replace(text, found)
    return text


def _replace(text: str, matches: Iterable[PiiMatch]) -> str:
    pieces: list[str] = []
    pos = 0
    for m in sorted(matches, key=lambda m: (m.start, -m.end)):
        if m.start < pos:
            continue
        pieces.append(text[pos : m.start])
        pieces.append(f"[{m.kind.upper()}]")
        pos = m.end
    pieces.append(text[pos:])
    return "".join(pieces)


def count_by_kind(matches: Iterable[PiiMatch]) -> dict[str, int]:
    """Number of matches per kind, for the kinds present, in :data:`PII_KINDS` order."""
    counts = Counter(m.kind for m in matches)
    return {kind: counts[kind] for kind in PII_KINDS if counts[kind]}
