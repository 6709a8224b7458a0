"""Text files other tools write and read: byte-order marks, encodings, ids, JSON Lines.

One rule for each, used by every reader and writer in the package:

- a UTF-8 byte-order mark (Windows tools write one) is dropped; a file in UTF-16 or UTF-32
  is refused with an error that names the encoding and how to re-save it as UTF-8;
- a source id given as a JSON / Parquet integer is the same id as its decimal text (``42``
  and ``"42"``), as ingest stores it (:func:`id_text`);
- a JSON line written by benchsmith never contains a raw U+2028 / U+2029 (or U+0085):
  JSON allows them unescaped, but JavaScript, ``str.splitlines`` and many line-based tools
  end a line there, so they are written as ``\\u2028`` etc. (:func:`jsonl_line`).
"""

from __future__ import annotations

from typing import Any

import orjson

from builder.errors import BenchsmithError

__all__ = [
    "BOM_UTF8",
    "check_unicode_start",
    "decode_utf8",
    "escape_line_breaks",
    "foreign_encoding",
    "id_field",
    "id_text",
    "jsonl_line",
    "strip_bom",
]

BOM_UTF8 = b"\xef\xbb\xbf"

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)", "UTF-32"),
    (b"\xff\xfe", "UTF-16 (little-endian)", "UTF-16"),
    (b"\xfe\xff", "UTF-16 (big-endian)", "UTF-16"),
)

# Line breaks JSON leaves unescaped but line-based readers split on (JSON's structure is
# ASCII, so in encoded JSON these can only occur inside strings, where an escape is valid).
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
_LINE_BREAKS_TABLE = str.maketrans(_LINE_BREAKS)
_LINE_BREAKS_BYTES = tuple((k.encode("utf-8"), v.encode("ascii")) for k, v in _LINE_BREAKS.items())


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark."""
    return data.removeprefix(BOM_UTF8)


def foreign_encoding(head: bytes) -> tuple[str, str] | None:
    """(description, iconv name) of the UTF-16/32 encoding a file starting with ``head`` is in.

    Known by its byte-order mark, or (UTF-16 without a mark) by a NUL byte beside every
    ASCII character of the first few, which no UTF-8 text file starts with.
    """
    for mark, name, iconv in _BOMS:
        if head.startswith(mark):
            return f"{name}: it starts with the byte-order mark {mark.hex(' ').upper()}", iconv
    probe = head[:8]
    if len(probe) >= 4 and probe[1::2].count(0) == len(probe[1::2]) and 0 not in probe[0::2]:
        return "UTF-16 (little-endian, without a byte-order mark)", "UTF-16LE"
    if len(probe) >= 4 and probe[0::2].count(0) == len(probe[0::2]) and 0 not in probe[1::2]:
        return "UTF-16 (big-endian, without a byte-order mark)", "UTF-16BE"
    return None


def check_unicode_start(head: bytes, where: str, error: type[BenchsmithError]) -> None:
    """Raise ``error`` when a file starting with ``head`` is UTF-16/32 rather than UTF-8."""
    found = foreign_encoding(head)
    if found is None:
        return
    name, iconv = found
    raise error(
        f"{where}: the file is {name}; benchsmith reads UTF-8 only. Re-save it as UTF-8 "
        f"(e.g. `iconv -f {iconv} -t UTF-8 FILE > FILE.utf8`, or pick UTF-8 in the "
        "editor's Save As dialog)"
    )


def decode_utf8(data: bytes, where: str, error: type[BenchsmithError]) -> str:
    """A whole file's text: UTF-8 mark dropped; UTF-16/32 or bytes that are not UTF-8 refused.

    The error names the encoding, or the line and column of the first bad byte.
    """
    check_unicode_start(data[:8], where, error)
    data = strip_bom(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise error(
            f"{where}: line {line}: bytes {data[e.start : e.start + 4]!r} at column {column} are "
            "not UTF-8; re-save the file as UTF-8"
        ) from None


def id_text(value: Any) -> Any:
    """An id as stored: an integer (not a bool) becomes its decimal text, like ingest does.

    Anything else is returned as it is, for the caller's own check to accept or refuse.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def id_field(value: Any) -> Any:
    """:func:`id_text` for a pydantic ``mode="before"`` validator of an id field.

    Raises ``ValueError`` (pydantic names the field and line) for a bool or a float, which
    ingest never stores as an id: ``101.0`` is what pandas writes for an integer column
    with a gap in it.
    """
    if isinstance(value, bool):
        raise ValueError(f"an id is text or a whole number, got the boolean {value}")
    if isinstance(value, float):
        fix = f'; write {int(value)} or "{int(value)}"' if value.is_integer() else ""
        raise ValueError(f"an id is text or a whole number, got the number {value!r}{fix}")
    return id_text(value)


def escape_line_breaks(line: str) -> str:
    """Encoded JSON text with raw U+2028, U+2029 and U+0085 written as ``\\u`` escapes."""
    return line.translate(_LINE_BREAKS_TABLE) if not line.isascii() else line


def jsonl_line(data: Any, *, sort_keys: bool = False) -> bytes:
    """One JSON Lines row (with its ``\\n``): compact UTF-8, line-break characters escaped."""
    out = orjson.dumps(data, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    if not out.isascii():
        for raw, escaped in _LINE_BREAKS_BYTES:
            out = out.replace(raw, escaped)
    return out + b"\n"
