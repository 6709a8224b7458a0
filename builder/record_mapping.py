"""One raw row → one record row: validation against the spec, then the content hash.

:class:`RecordMapper` is what ingest runs on its reading thread for every row (and the
Label Studio / Argilla readers through ingest); a row it refuses raises :class:`RowInvalid`
with the place and the reason, which ingest reports or writes to the rejects file.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from builder import conversation
from builder import media as media_mod
from builder.choices import choice_list_problem
from builder.conversation import conversation_fields
from builder.hashing import canonical_json
from builder.readers import RawRow
from builder.spec import BenchmarkSpec
from builder.textio import id_text

__all__ = ["MappedRecord", "RecordMapper", "RowInvalid"]

MappedRecord = tuple[str, str, str, str]
"""A record row as :meth:`RecordMapper.map` builds it: (source id, content hash, text, data),
``data`` the canonical JSON text of the row's fields without the text (see ``map``)."""


def _finite(value: Any) -> Any:
    """``value`` with every NaN/±Infinity inside lists and dicts replaced by None.

    Ingest has always stored non-finite floats as null (orjson's encoding of them);
    canonical_json refuses them, so they become None before hashing: same bytes as before.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class RowInvalid(Exception):
    """A row refused: where it was, the field (None: the whole row), why, the raw line."""

    def __init__(self, where: str, field: str | None, message: str, raw: str | None = None):
        super().__init__(message)
        self.where, self.field, self.message, self.raw = where, field, message, raw


_SCALARS = (str, int, float, bool)


class RecordMapper:
    """Validates one raw row against the spec and builds a record row."""

    def __init__(
        self,
        spec: BenchmarkSpec,
        max_bytes: int,
        *,
        cells_are_text: bool = False,
        image_dir: Path | None = None,
        media: Path | None = None,
    ) -> None:
        self.spec = spec
        # Image fields (builder.media): paths are relative to image_dir; stored under media.
        self.images = media_mod.image_fields(spec)
        self.image_dir, self.media = image_dir or Path("."), media
        self.max_bytes = max_bytes
        # Conversation fields (builder.conversation); a CSV cell holds one JSON-encoded.
        self.conversations = conversation_fields(spec)
        self.cells_are_text = cells_are_text
        self.id_field = spec.source.id_field
        self.text_field = spec.source.text_field
        self.required = spec.required_fields
        self.fields = spec.fields
        # Each field with the kind of check it takes, in spec order, so the first problem
        # reported is the first field's: None for a plain value, "id" for the id and text
        # fields (a number there takes the full check: only an id may be one, an int).
        kinds = {
            **dict.fromkeys([f for f in (self.id_field, self.text_field) if f], "id"),
            **dict.fromkeys(self.images, "image"),
            **dict.fromkeys(self.conversations, "turns"),
        }
        self._checks = [(name, kinds.get(name)) for name in self.fields]
        # A str of n chars has at most 4n UTF-8 bytes: at or under this it cannot be too big.
        self._quarter = max_bytes // 4

    def _value(self, where: str, name: str, value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            value = None
        if value is None or value == "":
            if name in self.required:
                what = "empty" if value == "" else "missing"
                raise RowInvalid(where, name, f"field {name!r} is {what}; give a value")
            return None
        if isinstance(value, str):
            if "\x00" in value:
                raise RowInvalid(
                    where, name, f"field {name!r} contains a NUL byte (\\x00); remove it"
                )
            # Encoding is only needed near the limit: a str of n chars has at most 4n bytes.
            size = len(value)
            if size * 4 > self.max_bytes:
                size = len(value.encode("utf-8", "surrogatepass"))
            if size > self.max_bytes:
                raise RowInvalid(
                    where,
                    name,
                    f"field {name!r} is {size:,} bytes, over the limit of {self.max_bytes:,}; "
                    "shorten it or raise BENCHSMITH_MAX_FIELD_BYTES",
                )
        elif name in (self.id_field, self.text_field) and not (
            name == self.id_field and isinstance(value, int) and not isinstance(value, bool)
        ):
            kind = "a string or an integer" if name == self.id_field else "a string"
            raise RowInvalid(
                where, name, f"field {name!r} must be {kind}, got {type(value).__name__} {value!r}"
            )
        elif isinstance(value, float):
            return value if math.isfinite(value) else None
        elif not isinstance(value, _SCALARS):
            value = _finite(value)
            if name in self.spec.task.input_fields:
                try:
                    canonical_json(value)
                except ValueError:
                    raise RowInvalid(
                        where, name, f"field {name!r} is not JSON-serialisable"
                    ) from None
        return value

    def _conversation(self, where: str, name: str, value: Any, present: bool) -> Any:
        if value is None or value == "":
            if name in self.required:
                what = "missing" if not present else ("empty" if value == "" else "null")
                raise RowInvalid(
                    where, name, f"conversation field {name!r} is {what}; give a list of turns"
                )
            return None
        try:
            if self.cells_are_text:
                value = conversation.parse_cell(value, name)
            return conversation.check_turns(value, name, max_bytes=self.max_bytes)
        except conversation.ConversationError as e:
            raise RowInvalid(where, name, str(e)) from None

    def _image(self, where: str, name: str, value: Any, present: bool) -> Any:
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            if name in self.required:
                what = "missing" if not present else "empty"
                raise RowInvalid(where, name, f"image field {name!r} is {what}; give an image path")
            return None
        if self.media is None:
            raise RowInvalid(where, name, f"image field {name!r} needs a workspace media store")
        try:
            return media_mod.ingest_image(value, base_dir=self.image_dir, root=self.media)
        except media_mod.ImageError as e:
            raise RowInvalid(where, name, f"image field {name!r} {e}") from None

    def map(self, row: RawRow) -> MappedRecord:
        """The record row for ``row``; raises :class:`RowInvalid` for a row the spec refuses."""
        assert row.fields is not None
        raw = row.fields
        where = row.where
        data: dict[str, Any] = {}
        quarter = self._quarter
        for name, kind in self._checks:
            value: Any = raw.get(name)
            # Fast path for the common cases (a short, clean string; a finite number);
            # everything else, including every error, goes through the full check in _value.
            if kind is None or kind == "id":
                cls = value.__class__
                if cls is str:
                    if value and len(value) <= quarter and "\x00" not in value:
                        data[name] = value
                        continue
                elif kind is None and (cls is int or (cls is float and math.isfinite(value))):
                    data[name] = value
                    continue
                if name not in raw and name in self.required:
                    raise RowInvalid(
                        where,
                        name,
                        f"field {name!r} is missing; every row needs the spec's id, text and "
                        "input fields",
                    )
                data[name] = self._value(where, name, value)
            elif kind == "turns":
                data[name] = self._conversation(where, name, value, name in raw)
            else:
                data[name] = self._image(where, name, value, name in raw)
        if self.id_field:
            sid = data[self.id_field] if self.id_field in data else raw.get(self.id_field)
            if not (
                sid.__class__ is str and len(sid) <= quarter and "\x00" not in sid and sid.strip()
            ):
                # Not a short, clean, non-blank string: the full check (and its errors).
                sid = self._value(where, self.id_field, sid)
                if sid is None or (isinstance(sid, str) and not sid.strip()):
                    raise RowInvalid(where, self.id_field, f"id field {self.id_field!r} is empty")
            source_id = str(id_text(sid))
        else:
            # A migrated task keeps its tool's id (Label Studio task id, Argilla record id).
            source_id = row.source_id or ""
        choices = self.spec.task.choices_field
        if choices is not None:
            problem = choice_list_problem(choices, data.get(choices))
            if problem is not None:
                raise RowInvalid(row.where, choices, problem)
        text = data[self.text_field]
        if self.text_field in self.conversations and text is not None:
            text = conversation.to_text(text)
        if self.text_field in self.images and text is not None:
            text = media_mod.image_text(text)
        if not isinstance(text, str) or not text.strip():
            raise RowInvalid(
                row.where,
                self.text_field,
                f"text field {self.text_field!r} is empty or whitespace; give the text",
            )
        try:
            # Every value above has been through a check that turns NaN/±Infinity into None.
            payload = canonical_json(data, finite=True)
        except ValueError as e:
            raise RowInvalid(row.where, None, f"row is not valid JSON data ({e})") from None
        digest = hashlib.sha256(payload).hexdigest()
        # The hash covers every field; the text is stored once, in ``text``: ``data`` leaves
        # out a text field equal to it (readers put it back: builder.store.pool.with_text).
        if data.get(self.text_field) == text:
            del data[self.text_field]  # ``data`` is this call's own dict
            payload = canonical_json(data, finite=True)
        return (source_id or digest, digest, text, payload.decode("utf-8"))
