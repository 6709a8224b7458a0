"""Build ``data/mcq_debian.jsonl.gz``: multiple-choice questions from the bundled corpus.

For every package of ``data/debian_packages.jsonl.gz`` (see ``make_sample.py`` and
``data/README.md`` for its source and licence) one question: "Which Debian section does
package X belong to?", with four choices: the package's true archive section and three
other sections of the corpus, drawn and shuffled with a random generator seeded by the
sha256 of the package name (so every row is reproducible on its own). Each row also
carries ``subject``, the section's family (libraries, programming, desktop, network,
system, documentation, science, other; the table below), for evaluation slices, and
``true_answer``, the letter of the true section, which the spec does not read (the
answer comes from annotators; tests and demos compare against it).

Run from the repository root (standard library only, Python 3.11+)::

    python3 data/make_mcq.py            # writes data/mcq_debian.jsonl.gz

Options: ``--corpus``, ``--out``. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
LETTERS = "ABCD"

FAMILIES: dict[str, tuple[str, ...]] = {
    "libraries": ("libs", "libdevel", "oldlibs", "introspection"),
    "programming": (
        "devel",
        "debug",
        "vcs",
        "interpreters",
        "python",
        "perl",
        "ruby",
        "rust",
        "golang",
        "haskell",
        "java",
        "javascript",
        "lisp",
        "ocaml",
        "php",
        "cli-mono",
        "gnu-r",
        "gnustep",
        "zope",
    ),
    "desktop": ("x11", "gnome", "kde", "xfce", "fonts", "graphics", "video", "sound", "games"),
    "network": ("net", "web", "httpd", "mail", "comm", "news"),
    "system": (
        "admin",
        "utils",
        "shells",
        "kernel",
        "otherosfs",
        "misc",
        "metapackages",
        "tasks",
        "embedded",
        "database",
        "editors",
        "text",
    ),
    "documentation": ("doc", "tex", "localization"),
    "science": ("science", "math", "electronics", "hamradio", "education"),
}
"""Section family → sections ("other" for a section listed nowhere)."""
FAMILY = {section: family for family, sections in FAMILIES.items() for section in sections}


def question(record: dict[str, object], sections: list[str]) -> dict[str, object]:
    """One multiple-choice row for a corpus record (``sections``: every section, sorted)."""
    name = str(record["package"])
    truth = str(record["section"])
    rng = random.Random(hashlib.sha256(name.encode("utf-8")).hexdigest())
    choices = [truth, *rng.sample([s for s in sections if s != truth], 3)]
    rng.shuffle(choices)
    return {
        "id": name,
        "question": f"Which Debian section does package {name} belong to?",
        "description": record["description"],
        "choices": choices,
        "subject": FAMILY.get(truth, "other"),
        "true_answer": LETTERS[choices.index(truth)],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=HERE / "debian_packages.jsonl.gz")
    ap.add_argument("--out", type=Path, default=HERE / "mcq_debian.jsonl.gz")
    args = ap.parse_args(argv)
    with gzip.open(args.corpus, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    sections = sorted({str(r["section"]) for r in records})
    rows = [question(r, sections) for r in sorted(records, key=lambda r: str(r["package"]))]
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in rows)
    # mtime=0 and no file name in the header: the same bytes on every run.
    with (
        open(args.out, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out,
    ):
        out.write(body.encode("utf-8"))
    print(f"wrote {len(rows)} questions to {args.out}")


if __name__ == "__main__":
    main()
