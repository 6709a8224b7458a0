"""Conversation fields: a list of ``{role, content}`` turns (support transcripts, chats).

A field is a conversation when the spec says so (``source.field_kinds: {dialog: conversation}``).
Every reader delivers one the same way after :func:`check_turns`:

- jsonl: a native JSON list, ``[{"role": "customer", "content": "Hi"}, …]``;
- csv: the cell holds that list JSON-encoded (:func:`parse_cell`);
- parquet: a ``list<struct<role: string, content: string>>`` column (:func:`is_arrow_type`).

``role`` is any non-empty string (``user``, ``assistant``, ``agent``, ``customer`` are common),
``content`` any string (it may be empty). Embedding, exact and near-duplicate removal, PII and
contamination scans all work on the *role-tagged* text, :func:`to_text`: one ``role: content``
line per turn joined with ``\\n``, so two conversations with the same turns are exact
duplicates and the same contents under other roles are not. Releases keep the list
(Parquet ``list<struct<role, content>>``, :func:`arrow_type`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from builder.domain import FieldKind
from builder.errors import IngestError

if TYPE_CHECKING:
    import pyarrow as pa

    from builder.spec import BenchmarkSpec

__all__ = [
    "MAX_ROLE_CHARS",
    "MAX_TURNS",
    "ConversationError",
    "Turn",
    "arrow_type",
    "check_turns",
    "conversation_fields",
    "is_arrow_type",
    "parse_cell",
    "redact_turns",
    "to_text",
]

MAX_TURNS = 1000
"""Most turns one conversation may have."""
MAX_ROLE_CHARS = 100
"""Longest role name, in characters."""

Turn = dict[str, str]
"""One turn: ``{"role": str, "content": str}`` (exactly these two keys)."""

_KEYS = ("role", "content")
_FIX = 'write the field as a list of turns like [{"role": "customer", "content": "Hi"}]'


class ConversationError(IngestError):
    """A conversation field's value is not a valid list of turns; the message names the
    field, the turn (1-based, with its 0-based index) and the fix. Ingest prefixes it with
    ``file: line N:``."""


def conversation_fields(spec: BenchmarkSpec) -> frozenset[str]:
    """Names of the spec's fields of kind ``conversation`` (``source.field_kinds``)."""
    return frozenset(
        name for name, kind in spec.source.field_kinds.items() if kind is FieldKind.conversation
    )


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _turn_at(i: int, n: int) -> str:
    return f"turn {i + 1} of {n} (index {i})"


def check_turns(value: Any, field: str, *, max_bytes: int) -> list[Turn]:
    """``value`` as a validated list of turns (new dicts with exactly ``role`` and ``content``).

    ``max_bytes`` bounds the UTF-8 size of the role-tagged text (:func:`to_text`).
    Raises :class:`ConversationError` for: not a list; an empty list; more than
    :data:`MAX_TURNS` turns; a turn that is not an object, lacks ``role`` or ``content``,
    has another key, a non-string or empty role, a role over :data:`MAX_ROLE_CHARS`
    characters or with a line break, a non-string content, a NUL byte; a conversation
    whose role-tagged text is over ``max_bytes``.
    """
    if not isinstance(value, list):
        raise ConversationError(
            f"field {field!r} is a conversation and must be a list of turns, got "
            f"{_kind(value)} {_short(value)}; {_FIX}"
        )
    n = len(value)
    if n == 0:
        raise ConversationError(f"field {field!r} is an empty conversation; give at least one turn")
    if n > MAX_TURNS:
        raise ConversationError(
            f"field {field!r} has {n:,} turns, over the limit of {MAX_TURNS:,}; split the "
            "conversation"
        )
    out: list[Turn] = []
    size = 0
    for i, turn in enumerate(value):
        at = f"field {field!r} {_turn_at(i, n)}"
        if not isinstance(turn, dict):
            raise ConversationError(
                f"{at} must be an object with role and content, got {_kind(turn)} "
                f"{_short(turn)}; {_FIX}"
            )
        for key in _KEYS:
            if turn.get(key) is None:
                raise ConversationError(
                    f"{at} has no {key!r}; give every turn a role and a content"
                )
        extra = sorted(str(k) for k in turn if k not in _KEYS)
        if extra:
            raise ConversationError(
                f"{at} has key(s) {extra} besides role and content; drop them or keep them "
                "in a metadata field"
            )
        role, content = turn["role"], turn["content"]
        if not isinstance(role, str):
            raise ConversationError(
                f"{at}: 'role' must be a string, got {_kind(role)} {_short(role)}"
            )
        if not role.strip():
            raise ConversationError(f"{at}: 'role' is empty; name who speaks (e.g. 'customer')")
        if len(role) > MAX_ROLE_CHARS or "\n" in role or "\r" in role:
            raise ConversationError(
                f"{at}: 'role' {_short(role)} must be one line of at most {MAX_ROLE_CHARS} "
                "characters; the text goes in 'content'"
            )
        if not isinstance(content, str):
            raise ConversationError(
                f"{at}: 'content' must be a string, got {_kind(content)} {_short(content)}"
            )
        if "\x00" in role or "\x00" in content:
            raise ConversationError(f"{at} contains a NUL byte (\\x00); remove it")
        size += len(role.encode("utf-8", "surrogatepass")) + 2
        size += len(content.encode("utf-8", "surrogatepass")) + 1
        if size - 1 > max_bytes:
            raise ConversationError(
                f"field {field!r} is over the limit of {max_bytes:,} bytes of role-tagged text "
                f"by {_turn_at(i, n)}; shorten the conversation or raise "
                "BENCHSMITH_MAX_FIELD_BYTES"
            )
        out.append({"role": role, "content": content})
    return out


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_cell(cell: Any, field: str) -> Any:
    """A CSV cell's JSON-encoded list of turns, decoded (check it with :func:`check_turns`).

    Raises :class:`ConversationError` when the cell is not valid JSON.
    """
    if not isinstance(cell, str):
        return cell
    try:
        return orjson.loads(cell)
    except orjson.JSONDecodeError as e:
        raise ConversationError(
            f"field {field!r} is a conversation but its cell is not valid JSON ({e.msg} at "
            f"column {e.colno}); {_FIX}, JSON-encoded in the cell"
        ) from None


def to_text(turns: Sequence[Turn]) -> str:
    """The role-tagged text of ``turns``: ``"role: content"`` per turn, joined with ``\\n``.

    This is what is embedded, deduplicated and scanned for PII and contamination.
    """
    return "\n".join(f"{t['role']}: {t['content']}" for t in turns)


def redact_turns(turns: Sequence[Turn]) -> list[Turn]:
    """``turns`` with personal data in each role and content replaced by placeholders
    (:func:`builder.curate.pii.redact`, turn by turn), for a redacting curation."""
    from builder.curate.pii import redact

    return [{"role": redact(t["role"]), "content": redact(t["content"])} for t in turns]


def arrow_type() -> pa.DataType:
    """``list<struct<role: string, content: string>>``: a conversation column in a release."""
    import pyarrow as pa

    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def is_arrow_type(t: pa.DataType) -> bool:
    """True when a Parquet column of type ``t`` can hold conversations: a (large) list of
    structs whose fields include ``role`` and ``content`` (their values are checked per row)."""
    import pyarrow as pa

    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return False
    item = t.value_type
    return bool(pa.types.is_struct(item)) and {"role", "content"} <= {
        item.field(i).name for i in range(item.num_fields)
    }
