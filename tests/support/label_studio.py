"""A Label Studio JSON export made in the test, in Label Studio's own format (Export → JSON)."""

from __future__ import annotations

from typing import Any

TEXT_KEYS = ("package", "description", "priority", "version", "installed_size", "homepage")
"""The sample corpus' fields a task's ``data`` holds."""


def choices_result(label: str, rid: str = "r1") -> dict[str, Any]:
    """A ``<Choices name="section">`` result picking ``label``."""
    return {"id": rid, "from_name": "section", "to_name": "text", "type": "choices",
            "origin": "manual", "value": {"choices": [label]}}  # fmt: skip


def textarea_result(text: str) -> dict[str, Any]:
    """A ``<TextArea name="note">`` result holding ``text``."""
    return {"id": "t1", "from_name": "note", "to_name": "text", "type": "textarea",
            "origin": "manual", "value": {"text": [text]}}  # fmt: skip


def _annotation(
    aid: int, task: int, by: Any, result: list[Any], cancelled: bool = False
) -> dict[str, Any]:
    """One annotation as Label Studio exports it (Export → JSON)."""
    return {
        "id": aid, "completed_by": by, "result": result, "was_cancelled": cancelled,
        "ground_truth": False, "created_at": "2025-03-09T22:16:08.728353Z",
        "updated_at": "2025-03-09T22:16:08.728378Z", "draft_created_at": None,
        "lead_time": 4.288, "prediction": {}, "result_count": len(result), "unique_id": f"u-{aid}",
        "import_id": None, "last_action": None, "bulk_created": False, "task": task,
        "project": 7, "updated_by": by if isinstance(by, int) else by["id"], "parent_prediction": None,
        "parent_annotation": None, "last_created_by": None,
    }  # fmt: skip


def _task(tid: int, row: dict[str, Any], annotations: list[Any]) -> dict[str, Any]:
    return {
        "id": tid, "annotations": annotations, "file_upload": "packages.json", "drafts": [],
        "predictions": [{"id": tid * 10, "model_version": "tfidf-0.1", "score": 0.4,
                         "result": [choices_result("misc", "p1")], "created_ago": "3 hours"}],
        "data": {k: row[k] for k in TEXT_KEYS}, "meta": {}, "created_at": "2025-03-09T21:52:49Z",
        "updated_at": "2025-03-09T22:16:08Z", "inner_id": tid - 100, "total_annotations": len(annotations),
        "cancelled_annotations": sum(a["was_cancelled"] for a in annotations),
        "total_predictions": 1, "comment_count": 0, "unresolved_comment_count": 0,
        "last_comment_updated_at": None, "project": 7, "updated_by": None, "comment_authors": [],
    }  # fmt: skip


BEN = {"id": 2, "first_name": "Ben", "last_name": "", "email": "Ben@Example.org"}
"""A newer export names the annotator with their e-mail."""


def ls_export(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Label Studio export of six packages: two annotators (user 1 by id, user 2 with an
    e-mail), a third whose annotation was cancelled, a disagreement with a textarea note,
    a taxonomy answer, a task with predictions only and one with only a cancelled answer."""
    s = [str(r["section"]) for r in rows]
    return [
        _task(101, rows[0], [_annotation(1, 101, 1, [choices_result(s[0])]),
                             _annotation(2, 101, BEN, [choices_result(s[0])])]),
        _task(102, rows[1], [_annotation(3, 102, 1, [choices_result(s[1])]),
                             _annotation(4, 102, BEN, [choices_result("misc"), textarea_result("maybe misc?")])]),
        _task(103, rows[2], [_annotation(5, 103, 1, [choices_result(s[2])]),
                             _annotation(6, 103, 3, [], cancelled=True),
                             _annotation(7, 103, BEN, [choices_result(s[2])])]),
        _task(104, rows[3], [_annotation(8, 104, 1, [{"id": "x", "from_name": "tree", "to_name": "text",
                                                      "type": "taxonomy", "origin": "manual",
                                                      "value": {"taxonomy": [["software", s[3]]]}}]),
                             _annotation(9, 104, BEN, [choices_result(s[3])])]),
        _task(105, rows[4], []),
        _task(106, rows[5], [_annotation(10, 106, 3, [], cancelled=True)]),
    ]  # fmt: skip
