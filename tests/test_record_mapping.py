"""RecordMapper's checks of single values: the fast paths (short clean strings, finite
numbers) accept exactly what the full check accepts, and every refusal names the field."""

from __future__ import annotations

import math
from typing import Any

import pytest

from builder.hashing import canonical_json
from builder.readers import RawRow
from builder.record_mapping import RecordMapper, RowInvalid
from builder.spec import load_spec
from tests.support.common import SAMPLE_SPEC

SPEC = load_spec(SAMPLE_SPEC)[0]


def _map(fields: dict[str, Any], max_bytes: int = 1000) -> tuple[str, str, str, str]:
    return RecordMapper(SPEC, max_bytes).map(RawRow("line 1", fields))


def _refused(fields: dict[str, Any], max_bytes: int = 1000) -> str:
    with pytest.raises(RowInvalid) as e:
        _map(fields, max_bytes)
    return f"{e.value.field}: {e.value.message}"


BASE = {"package": "pkg", "description": "a tool"}


@pytest.mark.parametrize(
    ("extra", "stored"),
    [
        ({"installed_size": 12}, 12),
        ({"installed_size": 1.5}, 1.5),
        ({"installed_size": -0.0}, -0.0),
        ({"installed_size": float("nan")}, None),
        ({"installed_size": float("inf")}, None),
        ({"installed_size": True}, True),
        ({"installed_size": ""}, None),
        ({"installed_size": [1, float("-inf")]}, [1, None]),
    ],
)
def test_metadata_values_are_stored_finite(extra: dict[str, Any], stored: Any) -> None:
    import orjson

    _, digest, text, data = _map({**BASE, **extra})
    value = orjson.loads(data)["installed_size"]
    assert value == stored and (
        not isinstance(stored, float) or math.copysign(1, value) == math.copysign(1, stored)
    )
    assert text == "a tool"
    # The hash is over every field, the text included, as canonical_json writes them.
    import hashlib

    full = {**orjson.loads(data), "description": text}
    assert digest == hashlib.sha256(canonical_json(full)).hexdigest()


def test_ids_as_stored() -> None:
    assert _map({**BASE, "package": 7})[0] == "7"
    assert _map({**BASE, "package": " spaced "})[0] == " spaced "


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"description": 42}, "description: field 'description' must be a string, got int 42"),
        ({"description": 1.5}, "description: field 'description' must be a string, got float 1.5"),
        ({"description": True}, "description: field 'description' must be a string, got bool True"),
        (
            {"package": 7.0},
            "package: field 'package' must be a string or an integer, got float 7.0",
        ),
        (
            {"package": True},
            "package: field 'package' must be a string or an integer, got bool True",
        ),
        ({"package": "   "}, "package: id field 'package' is empty"),
        ({"package": ""}, "package: field 'package' is empty; give a value"),
        ({"package": "a\x00b"}, "package: field 'package' contains a NUL byte (\\x00); remove it"),
        (
            {"package": "x" * 300},
            "package: field 'package' is 300 bytes, over the limit of 250; "
            "shorten it or raise BENCHSMITH_MAX_FIELD_BYTES",
        ),
    ],
)
def test_values_refused_by_name(change: dict[str, Any], message: str) -> None:
    assert _refused({**BASE, **change}, max_bytes=250) == message


def test_multibyte_text_is_measured_in_bytes() -> None:
    # 62 characters are at most 248 bytes: within a 250-byte limit without encoding.
    assert _map({**BASE, "priority": "€" * 62}, max_bytes=250)[0] == "pkg"
    assert _map({**BASE, "priority": "é" * 125}, max_bytes=250)[0] == "pkg"  # 250 bytes
    assert _refused({**BASE, "priority": "é" * 126}, max_bytes=250) == (
        "priority: field 'priority' is 252 bytes, over the limit of 250; shorten it or raise "
        "BENCHSMITH_MAX_FIELD_BYTES"
    )


def test_the_first_field_at_fault_is_named() -> None:
    # The id (first field of the spec) before the text.
    assert _refused({"package": 7.0, "description": ""}) == (
        "package: field 'package' must be a string or an integer, got float 7.0"
    )
    assert _refused({"package": "pkg", "description": 3, "priority": float("nan")}) == (
        "description: field 'description' must be a string, got int 3"
    )
