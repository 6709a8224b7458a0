"""PII scanner: checked patterns, overlap resolution, redaction."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.curate import pii
from builder.curate.pii import PII_KINDS, PiiMatch, count_by_kind, redact, scan


def found(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.text) for m in scan(text)]


def kinds(text: str) -> set[str]:
    return {m.kind for m in scan(text)}


# --- credit cards ------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",
        "3782 822463 10005",  # Amex, 4-6-5
        "6011111111111117",
        "4222222222222",  # 13 digits
        "2221 0000 0000 0009",  # Mastercard 2-series
    ],
)
def test_valid_cards_are_found(card: str) -> None:
    assert found(f"paid with {card} yesterday") == [("credit_card", card)]


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "4111-1111-1111-1110",
        "0000 0000 0000 0000",  # passes Luhn, but one repeated digit
        "1111111111111111111",
        "411111111111",  # 12 digits
        "1234 5678 9012 3452",  # passes Luhn, but no payment network starts with 1
        "7000 0000 0000 0005",
    ],
)
def test_invalid_cards_are_not_found_at_all(text: str) -> None:
    # Not as a card, and a card-shaped number is not reported as a phone either.
    assert scan(text) == []


def test_card_needs_one_kind_of_separator() -> None:
    assert "credit_card" not in kinds("4111 1111-1111 1111")


def test_card_followed_by_expiry_date() -> None:
    assert found("card 4111 1111 1111 1111 exp 12/25") == [("credit_card", "4111 1111 1111 1111")]


# --- IBANs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
        "BE68 5390 0754 7034",
    ],
)
def test_valid_ibans_are_found(iban: str) -> None:
    assert found(f"IBAN: {iban}, thanks") == [("iban", iban)]


@pytest.mark.parametrize(
    "text",
    [
        "GB83 WEST 1234 5698 7654 32",  # altered check digits
        "DE88 3704 0044 0532 0130 00",
        "DE89 3704 0044 0532 0130 01",  # altered account number
        "GB82 WEST 1234 5698 7654",  # too short for GB
        "ZZ82 WEST 1234 5698 7654 32",  # no such country
    ],
)
def test_invalid_ibans_are_not_found_at_all(text: str) -> None:
    assert scan(text) == []


def test_iban_ends_at_its_country_length() -> None:
    text = "Pay BE68 5390 0754 7034 FROM now on"
    assert found(text) == [("iban", "BE68 5390 0754 7034")]


# --- US SSNs -----------------------------------------------------------------------


def test_valid_ssn() -> None:
    assert found("SSN 123-45-6789.") == [("us_ssn", "123-45-6789")]


@pytest.mark.parametrize(
    "text",
    ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567", "123-45-0000"],
)
def test_invalid_ssns_are_not_found_at_all(text: str) -> None:
    assert scan(f"SSN {text}") == []


def test_ssn_needs_its_dashes() -> None:
    assert "us_ssn" not in kinds("123456789 and 123 45 6789")


# --- IP addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "ip",
    [
        "192.168.1.1",
        "10.0.0.255",
        "8.8.8.8",
        "0.0.0.0",
        "2001:db8::1",
        "::1",
        "fe80::1ff:fe23:4567:890a",
    ],
)
def test_valid_ips_are_found(ip: str) -> None:
    assert found(f"host {ip}, port 22") == [("ip_address", ip)]


def test_ipv4_with_port_and_ipv4_mapped_ipv6() -> None:
    assert found("listen 10.0.0.1:8080") == [("ip_address", "10.0.0.1")]
    assert found("peer ::ffff:192.0.2.1 up") == [("ip_address", "::ffff:192.0.2.1")]


def test_full_ipv6() -> None:
    ip = "2001:0db8:85a3:0000:0000:8a2e:0370:7334"
    assert found(f"[{ip}]") == [("ip_address", ip)]


@pytest.mark.parametrize(
    "text",
    [
        "999.1.1.1",
        "256.0.0.1",
        "1.2.3.4.5",  # a longer dotted number
        "v1.2.3.4",
        "version 1.2.3.4",
        "Release 10.0.0.1",
        "libfoo 1:2.3.19.1",  # Debian epoch
        "libfoo 1.74.0.3+dfsg",
        "libfoo 0.1.36.1-1",  # Debian revision
        "2.4.1",
        "std::vector<int> v; a::b::c",
        "a::b",
        "dead::beef",
        "12:30:45",  # a time
        "00:1a:2b:3c:4d:5e",  # a MAC address
    ],
)
def test_not_ip_addresses(text: str) -> None:
    assert "ip_address" not in kinds(text)


def test_valid_four_part_version_is_accepted_as_ip() -> None:
    # The documented trade-off: without a hint before it, a valid quad is an address.
    assert found("libfoo 1.2.3.4 is out") == [("ip_address", "1.2.3.4")]


# --- emails ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["john.doe@example.com", "first+tag@mail.example.co.uk", "a_b-c@sub-domain.org", "x@y.io"],
)
def test_emails_are_found(email: str) -> None:
    assert found(f"Maintainer: Someone <{email}>.") == [("email", email)]


@pytest.mark.parametrize(
    "text", ["@decorator", "user@localhost", "foo@bar", "pkg@1.2.3", "git@host:repo", "a @ b.com"]
)
def test_not_emails(text: str) -> None:
    assert "email" not in kinds(text)


# --- phones ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+14155552671",
        "+1 415 555 2671",
        "+1-415-555-2671",
        "+1 (415) 555-2671",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+33 1 23 45 67 89",
        "+49 30 12345678",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "1-800-555-1234",
        "020 7946 0958",
        "06 12 34 56 78",
    ],
)
def test_phones_are_found(phone: str) -> None:
    assert found(f"Call {phone} today") == [("phone", phone)]


@pytest.mark.parametrize(
    "text",
    [
        "1700000000123",  # plain long integer
        "4155552671",
        "version 1.2.3.4",
        "2.30.1.2021",
        "updated 2021-01-15 10:30",
        "on 15.01.2021",
        "on 01-15-2021",
        "sizes 1 2 4 8 16 32 64 128",
        "1024 2048 4096 8192",
        "ISSN 1234-5678",
        "+123",
        "+1234567890123456789",  # more than 15 digits
        "3.14159265358979",
    ],
)
def test_not_phones(text: str) -> None:
    assert "phone" not in kinds(text)


def test_phone_next_to_a_date() -> None:
    assert found("2021-01-15 415-555-2671") == [("phone", "415-555-2671")]
    assert found("415-555-2671 2021-01-15") == [("phone", "415-555-2671")]


# --- overlaps, no false positives, redaction ----------------------------------------


def test_card_is_not_also_a_phone() -> None:
    assert kinds("4111 1111 1111 1111") == {"credit_card"}
    assert kinds("4111-1111-1111-1111") == {"credit_card"}


def test_ssn_is_not_also_a_phone() -> None:
    assert kinds("123-45-6789") == {"us_ssn"}


def test_iban_is_not_also_a_phone() -> None:
    assert kinds("GB82 WEST 1234 5698 7654 32") == {"iban"}


def test_ip_inside_ipv6_is_one_match() -> None:
    assert found("::ffff:10.0.0.1") == [("ip_address", "::ffff:10.0.0.1")]


def test_card_inside_email_local_part_is_one_match() -> None:
    text = "4111111111111111@example.com"
    assert found(text) == [("email", text)]


DEBIAN_DESCRIPTIONS = [
    "This package contains version 2.4.1 of libfoo; see https://example.org/docs",
    "GNU C Library: Shared libraries\nContains the standard libraries that are used by nearly"
    " all programs on the system. This package includes shared versions of the standard C"
    " library and the standard math library, as well as many others.",
    "tool to compare ABI compatibility of shared C/C++ library versions\n"
    "Signatures and data type definitions from two separate versions of a library (.so)"
    " are compared; std::vector<int> and boost::asio::ip::tcp are handled.",
    "Python 3.11 interpreter (version 3.11.2-6)\nUpgrade from 2.7 or 3.9; see PEP 8 and"
    " RFC 2616 2617, ISO 8601 dates like 2023-04-05 and times like 12:30:00.",
    "library for parsing ELF (x86_64, i386, arm64) binaries, 1024 2048 4096 byte pages,"
    " supports DWARF 2, 3, 4 and 5; upstream 0.9.8-20200101 snapshot, sha256 e3b0c44298fc1c14.",
    "Dovecot 1:2.3.19.1+dfsg1-2.1, ImageMagick 8:6.9.11.60+dfsg-1.6, boost 1.74.0.3+b1 (MIT)",
    "Coupled cluster singles and doubles with pertubative triples (CCSD(T)) and MP2; "
    "listens on ports 80, 443 and 8080-8090; pi is 3.14159265358979.",
]


@pytest.mark.parametrize("text", DEBIAN_DESCRIPTIONS)
def test_no_false_positives_on_package_descriptions(text: str) -> None:
    assert scan(text) == []


def test_scan_fast_path_and_sorting() -> None:
    assert scan("no digits or at-signs here: just words") == []
    text = "ip 10.0.0.1, mail a@b.org, ssn 123-45-6789, card 4111111111111111"
    matches = scan(text)
    assert [m.start for m in matches] == sorted(m.start for m in matches)
    assert [m.kind for m in matches] == ["ip_address", "email", "us_ssn", "credit_card"]
    for m in matches:
        assert text[m.start : m.end] == m.text


def test_redact_exact_output() -> None:
    text = (
        "Contact jane@example.com or +1 415 555 2671; card 4111 1111 1111 1111, "
        "IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, from 192.168.0.7 / 2001:db8::1."
    )
    assert redact(text) == (
        "Contact [EMAIL] or [PHONE]; card [CREDIT_CARD], "
        "IBAN [IBAN], SSN [US_SSN], from [IP_ADDRESS] / [IP_ADDRESS]."
    )


def test_redact_with_given_matches_and_overlaps() -> None:
    text = "mail a@b.org now"
    only = [PiiMatch("email", 5, 12, "a@b.org")]
    assert redact(text, only) == "mail [EMAIL] now"
    assert redact(text, []) == text
    overlapping = [*only, PiiMatch("phone", 7, 14, "b.org n")]
    assert redact(text, overlapping) == "mail [EMAIL] now"


def test_count_by_kind() -> None:
    matches = scan("a@b.org c@d.org 10.0.0.1")
    assert count_by_kind(matches) == {"email": 2, "ip_address": 1}
    assert count_by_kind([]) == {}
    assert set(PII_KINDS) == {"email", "phone", "credit_card", "iban", "ip_address", "us_ssn"}


def test_pii_match_is_frozen() -> None:
    m = PiiMatch("email", 0, 3, "a@b")
    with pytest.raises(AttributeError):
        m.start = 1  # type: ignore[misc]


# --- properties --------------------------------------------------------------------

_FRAGMENTS = [
    "jane@example.com",
    "+1 415 555 2671",
    "(415) 555-2671",
    "020 7946 0958",
    "4111 1111 1111 1111",
    "4111111111111111",
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "192.168.0.7",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "version 1.2.3.4",
    "2021-01-15",
    "std::vector",
]
_pieces = st.one_of(
    st.sampled_from(_FRAGMENTS),
    st.text(alphabet="0123456789 .-+:@()abcdefxyzGBW\n", max_size=12),
)
_texts = st.lists(_pieces, max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_redact_removes_every_match(text: str) -> None:
    assert scan(redact(text)) == []


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_matches_are_sorted_disjoint_and_exact(text: str) -> None:
    matches = scan(text)
    for m in matches:
        assert m.kind in PII_KINDS
        assert text[m.start : m.end] == m.text
    for a, b in itertools.pairwise(matches):
        assert a.end <= b.start


# Each kind's pattern runs only when the text passes that kind's gate (digits counted,
# capitals, separators). A gate must hold for every match of the pattern: then it holds for
# any text around the match too (each test only grows with the text), and skipping the
# pattern when it fails loses nothing.
_GATES = {
    "card": (pii._CARD_RE, lambda t: pii._digit_count(t) >= pii._CARD_MIN_DIGITS),
    "iban": (
        pii._IBAN_RE,
        lambda t: pii._digit_count(t) >= pii._IBAN_MIN_DIGITS and not t.islower(),
    ),
    "ssn": (pii._SSN_RE, lambda t: pii._digit_count(t) >= pii._SSN_DIGITS and "-" in t),
    "ipv4": (
        pii._IPV4_RE,
        lambda t: pii._digit_count(t) >= pii._IPV4_MIN_DIGITS and t.count(".") >= 3,
    ),
    "ipv6": (pii._IPV6_RE, lambda t: t.count(":") >= 2),
}
_gate_pieces = st.one_of(
    st.sampled_from([*_FRAGMENTS, "NO93 8601 1117 947", "GB82WEST12345698765432", "a::1"]),
    st.text(alphabet="0123456789 .-+:@()abcdefxyzABGNOW\n", max_size=16),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_gate_pieces, max_size=8).map("".join))
def test_every_pattern_match_passes_its_kinds_gate(text: str) -> None:
    for name, (pattern, gate) in _GATES.items():
        for m in pattern.finditer(text):
            assert gate(m.group()), (name, m.group())
    for m in scan(text):
        if m.kind == "phone":
            assert pii._digit_count(m.text) >= pii._MIN_PHONE_DIGITS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fe80::1 on eth0", [("ip_address", "fe80::1")]),  # lower case, one digit
        ("route a::1 here", [("ip_address", "a::1")]),
        ("host 10.0.0.1 is up", [("ip_address", "10.0.0.1")]),
        ("ssn 123-45-6789.", [("us_ssn", "123-45-6789")]),
        ("iban no9386011117947 is lower case", []),
        ("IBAN NO93 8601 1117 947", [("iban", "NO93 8601 1117 947")]),
        ("call 020 7946 0958", [("phone", "020 7946 0958")]),
        ("call 020 79 46", []),  # seven digits: too short for a phone
    ],
)
def test_gated_kinds_are_still_found(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected
