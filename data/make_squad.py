"""Build ``data/squad_debian.jsonl.gz``: extractive (SQuAD v2 style) questions on the corpus.

For packages of ``data/debian_packages.jsonl.gz`` (see ``make_sample.py`` and
``data/README.md`` for its source and licence) one templated question each, whose
``context`` is the package's real description (the synopsis line, then the long
description). The template is chosen per package:

* "Which programming language is P written in?" — when the description says
  "written in <Word>" (answerable: the word);
* "Which licence is P under?" — when the description never mentions a licence
  (``licen[cs]e``, GPL, BSD, MIT, Apache): **unanswerable** from the context; packages
  whose description does mention one are skipped for this template;
* "What does P provide?" — otherwise (answerable: the synopsis line).

A third of the packages (by the sha256 of their name) get the licence question, so
about one item in three is unanswerable. Each row: ``id`` (``package:kind``),
``package``, ``question``, ``context``, ``question_type`` (provide / language /
licence) and ``expected_answer`` (the span this script expects, ``""`` for
unanswerable), which the spec does not read: answers come from annotators; tests and
demos compare against it.

Run from the repository root (standard library only, Python 3.11+)::

    python3 data/make_squad.py          # writes data/squad_debian.jsonl.gz

Options: ``--corpus``, ``--out``, ``--size`` (default 600). Byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
LICENCE = re.compile(r"licen[cs]e|\bGPL|\bLGPL|\bBSD\b|\bMIT\b|\bApache\b", re.IGNORECASE)
WRITTEN_IN = re.compile(r"\bwritten in ([A-Z][A-Za-z0-9+#]*(?: [A-Z][a-z]+)?)")


def _bucket(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big") % 3


def question_for(pkg: dict[str, object]) -> dict[str, str] | None:
    """The row for one corpus record, or None when it has no usable description."""
    name = str(pkg["package"])
    context = str(pkg.get("description") or "").strip()
    synopsis = context.split("\n", 1)[0].strip()
    if not synopsis or "\n" not in context:
        return None
    lang = WRITTEN_IN.search(context)
    if _bucket(name) == 0 and not LICENCE.search(context):
        kind, question, expected = "licence", f"Which licence is {name} under?", ""
    elif lang is not None:
        kind, question = "language", f"Which programming language is {name} written in?"
        expected = lang.group(1)
    else:
        kind, question, expected = "provide", f"What does {name} provide?", synopsis
    return {
        "id": f"{name}:{kind}",
        "package": name,
        "question": question,
        "context": context,
        "question_type": kind,
        "expected_answer": expected,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--corpus", type=Path, default=HERE / "debian_packages.jsonl.gz")
    ap.add_argument("--out", type=Path, default=HERE / "squad_debian.jsonl.gz")
    ap.add_argument("--size", type=int, default=600)
    args = ap.parse_args()
    with gzip.open(args.corpus, "rt", encoding="utf-8") as f:
        packages = [json.loads(line) for line in f]
    rows = [r for r in map(question_for, packages) if r is not None]
    # Every package with a "written in" phrase, then the others in sha256 order.
    rows.sort(
        key=lambda r: (
            r["question_type"] != "language",
            hashlib.sha256(r["id"].encode()).hexdigest(),
        )
    )
    rows = sorted(rows[: args.size], key=lambda r: r["id"])
    data = b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in rows)
    with open(args.out, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(data)
    kinds = {
        k: sum(r["question_type"] == k for r in rows) for k in ("provide", "language", "licence")
    }
    print(f"wrote {len(rows)} questions to {args.out} ({kinds})")


if __name__ == "__main__":
    main()
