"""Build the bundled conversation corpus ``data/support-conversations.jsonl.gz``.

Source: the English YAML files of the PyPI package ``chatterbot-corpus`` 1.3.3 (BSD licence,
https://github.com/gunthercox/chatterbot-corpus), read straight from its wheel; the package
is not a dependency of benchsmith. Each YAML conversation (a list of lines, the first one
asked by the user, then alternating) becomes one record::

    {"id": "tech_support-0001", "dialog": [{"role": "user", "content": "…"},
     {"role": "assistant", "content": "…"}, …], "topic": "tech support", "turns": 2}

``topic`` is the file's first category. Records are written sorted by id, gzip with a
zero mtime, so the output is byte-for-byte reproducible from the same wheel.

How to rerun (from the repository root)::

    .venv/bin/pip download --no-deps chatterbot-corpus==1.3.3 -d /tmp/cbc
    .venv/bin/python data/make_conversations.py /tmp/cbc/chatterbot_corpus-1.3.3-py2.py3-none-any.whl

Needs PyYAML (a benchsmith dependency) and the standard library.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

DEFAULT_OUT = Path(__file__).resolve().parent / "support-conversations.jsonl.gz"
PREFIX = "chatterbot_corpus/data/english/"


def conversations(wheel: Path) -> list[dict[str, Any]]:
    """Every English conversation of the wheel as a record (see the module docstring)."""
    out: list[dict[str, Any]] = []
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith(PREFIX) and n.endswith(".yml"))
        if not names:
            raise SystemExit(f"{wheel}: no {PREFIX}*.yml inside; is it chatterbot-corpus?")
        for name in names:
            doc = yaml.safe_load(zf.read(name).decode("utf-8"))
            stem = Path(name).stem
            topic = str(doc["categories"][0]).strip().lower()
            for n, lines in enumerate(doc.get("conversations") or [], start=1):
                if not isinstance(lines, list):
                    # trivia.yml #14 is one string (a missing "- " in the YAML): not a dialog.
                    print(f"skipped {name} #{n}: not a list of lines", file=sys.stderr)
                    continue
                dialog = [
                    {"role": "user" if i % 2 == 0 else "assistant", "content": str(line).strip()}
                    for i, line in enumerate(lines)
                ]
                out.append(
                    {
                        "id": f"{stem}-{n:04d}",
                        "dialog": dialog,
                        "topic": topic,
                        "turns": len(dialog),
                    }
                )
    out.sort(key=lambda r: r["id"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="chatterbot_corpus-1.3.3-py2.py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    records = conversations(args.wheel)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        for r in records:
            gz.write(json.dumps(r, ensure_ascii=False, sort_keys=False).encode("utf-8") + b"\n")
    args.out.write_bytes(buf.getvalue())
    topics = sorted({r["topic"] for r in records})
    print(f"wrote {args.out}: {len(records)} conversations, {len(topics)} topics: {topics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
