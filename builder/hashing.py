"""Canonical JSON and sha256: the one encoding every content hash in benchsmith is taken over.

Record content hashes (ingest), release manifest hashes and spec hashes all use
:func:`canonical_json`. Its bytes are a format: changing them changes every stored hash,
so a change needs a new :data:`HASHING_SCHEME` and a migration of stored hashes.

The encoding (scheme ``canonical-json/1``) is orjson's with sorted keys:

* object keys sorted by code point, no whitespace, UTF-8 (non-ASCII never ``\\u``-escaped;
  no Unicode normalisation: NFC and NFD spellings of a text encode differently);
* floats in the shortest form that round-trips (orjson/ryu: ``1e-7``, ``0.00001``,
  ``1e+16``, ``1.0``, ``-0.0``), where Python's ``json`` writes ``1e-07`` and ``1e-05``;
* integers as exact decimal digits at any size (orjson stops at 64 bits; larger ones
  take a slower pure-Python path that writes everything else the same way);
* NaN and ±Infinity refused with :class:`CanonicalJSONError` (orjson alone would
  write ``null``, which would let two different values hash the same).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

from builder.errors import BenchsmithError

__all__ = [
    "HASHING_SCHEME",
    "CanonicalJSONError",
    "canonical_json",
    "content_hash",
    "sha256_hex",
]

HASHING_SCHEME = "canonical-json/1"
"""Name of this encoding, recorded in release manifests (``Manifest.hashing``)."""

_OPTIONS = orjson.OPT_SORT_KEYS


class CanonicalJSONError(BenchsmithError, ValueError):
    """A value has no canonical JSON form (NaN, infinity, an unsupported type, a non-str key).

    Also a :class:`ValueError`, so callers that validate data can catch it as one.
    """


def canonical_json(obj: Any, *, finite: bool = False) -> bytes:
    """The canonical JSON bytes of ``obj`` (see the module docstring for the format).

    ``obj`` is JSON data: dict (str keys), list, tuple, str, int, float, bool, None, plus
    what orjson encodes natively (datetime as ISO 8601, enum as its value, dataclass).
    Raises :class:`CanonicalJSONError` naming the offending value, its path (``$.a[2]``)
    and the fix, for NaN/±Infinity, non-str keys and types orjson cannot encode.
    ``finite=True`` is the caller's word that ``obj`` holds no NaN or ±Infinity (ingest's
    record mapping has replaced them with None): the same bytes, without the search for them.
    """
    try:
        out = orjson.dumps(obj, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # An integer beyond 64 bits, or a value with no JSON form: the slow path
        # encodes the first and names the path of the second.
        return _encode_slow(obj, "$").encode("utf-8")
    # orjson writes NaN and ±Infinity as null, so only output holding "null" can hide one;
    # a flat object of text, ints, bools and nulls (most records) holds no float at all.
    if not finite and not _flat_without_floats(obj) and b"null" in out:
        _refuse_non_finite(obj, "$")
    return out


def sha256_hex(data: bytes | str) -> str:
    """Lowercase hex sha256 of ``data`` (a str is hashed as its UTF-8 bytes); 64 chars."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def content_hash(obj: Any) -> str:
    """Hex sha256 of :func:`canonical_json` of ``obj``: equal for equal data, whatever the
    key order. Raises :class:`CanonicalJSONError` as :func:`canonical_json` does."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


# ----------------------------------------------------------------------------- helpers


def _child(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _non_finite(value: float, path: str) -> CanonicalJSONError:
    return CanonicalJSONError(
        f"{value!r} at {path} has no JSON form (JSON has no NaN or Infinity); "
        "replace it with null or a finite number before hashing"
    )


def _flat_without_floats(obj: Any) -> bool:
    """True for a dict whose values are all str, int, bool or None (exact types): cheaper
    to check than scanning the output of a typical record for "null"."""
    if obj.__class__ is not dict:
        return False
    for value in obj.values():
        kind = value.__class__
        if kind is not str and kind is not int and value is not None and kind is not bool:
            return False
    return True


def _refuse_non_finite(obj: Any, path: str) -> None:
    """Raise for the first NaN/±Infinity inside dicts, lists and tuples of ``obj``."""
    if obj.__class__ is str:
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise _non_finite(obj, path)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if value.__class__ is not str and value is not None:
                _refuse_non_finite(value, _child(path, key))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            if value.__class__ is not str and value is not None:
                _refuse_non_finite(value, _child(path, i))


def _encode_slow(obj: Any, path: str) -> str:
    """The same text as orjson's, for data orjson refuses only because of a large int."""
    if isinstance(obj, str | bool) or obj is None:
        return _leaf(obj, path)
    if isinstance(obj, int):
        return str(int(obj))
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise _non_finite(obj, path)
        return _leaf(obj, path)
    if isinstance(obj, dict):
        bad = next((k for k in obj if not isinstance(k, str)), None)
        if bad is not None:
            raise CanonicalJSONError(
                f"key {bad!r} at {path} has type {type(bad).__name__}; JSON object keys are "
                "strings: convert the key with str() before hashing"
            )
        parts = (
            _leaf(key, path) + ":" + _encode_slow(obj[key], _child(path, key))
            for key in sorted(obj)
        )
        return "{" + ",".join(parts) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_encode_slow(v, _child(path, i)) for i, v in enumerate(obj)) + "]"
    return _leaf(obj, path)


def _leaf(value: Any, path: str) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode("utf-8")
    except orjson.JSONEncodeError as e:
        raise CanonicalJSONError(
            f"{type(value).__name__} value {_short(value)} at {path} has no canonical JSON "
            f"form ({e}); make it plain JSON data (valid UTF-8 text, a finite number, a "
            "list or an object) before hashing"
        ) from None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
