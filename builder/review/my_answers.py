"""My answers: an annotator's own current answers, to revisit and revise.

Blind like the queue: every field depends only on what the annotator did and on whether a
reviewer decided the item or it was released, never on anyone else's answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from builder.review._common import bench_in
from builder.review.auth import Actor, annotator_account
from builder.review.consensus import closed_to_annotators
from builder.store.annotations import my_answers as _my_answers
from builder.workspace import Workspace

__all__ = ["MyAnswer", "my_answers"]


@dataclass(frozen=True)
class MyAnswer:
    """One of the annotator's own answers, and nothing of anyone else's: every field depends
    only on what they did and on whether a reviewer decided the item or it was released."""

    item_id: int
    source_id: str
    answer: Any
    flags: list[str]
    comment: str
    created_at: datetime
    revisable: bool
    """Until a reviewer decides the item or it is released (gold items alike)."""
    revised: bool = False
    """True when this answer replaced their earlier one."""

    @property
    def status(self) -> str:
        """``answered``, ``revised`` or ``closed`` (no longer revisable)."""
        return "closed" if not self.revisable else "revised" if self.revised else "answered"


def my_answers(
    ws: Workspace, actor: Actor, *, benchmark: str | None = None, limit: int = 50
) -> list[MyAnswer]:
    """The annotator's current answers, newest first (only their own: labeling is blind)."""
    with ws.db.session() as s:
        actor, uid = annotator_account(s, actor)
        bench, _ = bench_in(s, ws, benchmark)
        assert bench.id is not None
        rows = _my_answers(s, benchmark_id=bench.id, annotator_id=uid, limit=limit)
        closed = closed_to_annotators(s, [(a.item_id, i.status) for a, i, _ in rows])
        return [
            MyAnswer(
                a.item_id,
                sid,
                a.answer,
                list(a.flags),
                a.comment,
                a.created_at,
                revisable=a.item_id not in closed,
                revised=a.supersedes_id is not None,
            )
            for a, i, sid in rows
        ]
