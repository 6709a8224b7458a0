"""Build the bundled sample corpus ``data/debian_packages.jsonl.gz``.

The corpus is a deterministic sample of about 5,000 binary packages from
Debian 12 "bookworm", component ``main``, architecture ``amd64`` (plus the
``Architecture: all`` packages listed there).  It joins the APT ``Packages``
list with the ``Translation-en`` list on ``Description-md5`` and writes one JSON
record per package (fields: package, description, section, priority, version,
installed_size, homepage), gzip-compressed and sorted by package name.

Sampling keeps whole *families* of packages (``libfoo1``, ``libfoo-dev``,
``libfoo-doc``, ``foo-utils``, ``python3-foo`` ...) so natural near-duplicates
stay in the corpus, and tops up rare sections so that every section of the
archive appears at least a few times.  See ``data/README.md`` for details.

How to rerun (Debian/Ubuntu host with APT pointing at a bookworm mirror)::

    apt-get update -o Acquire::Languages=en        # as root; fetches Translation-en
    python3 data/make_sample.py                    # from the repository root

Options: ``--lists-dir`` (default /var/lib/apt/lists), ``--packages`` and
``--translations`` (explicit list files, any compression apt-helper reads),
``--out``, ``--size`` (default 5000) and ``--seed`` (default 13).  The output is
byte-for-byte reproducible for the same input lists, size and seed; the lists
themselves change whenever Debian publishes a point release, so a rerun on a
later date may select slightly different packages.

Standard library only (Python 3.11+); the lists are decompressed by
``/usr/lib/apt/apt-helper cat-file``, which handles .lz4/.xz/.gz/.zst/plain.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

APT_HELPER = "/usr/lib/apt/apt-helper"
DEFAULT_LISTS_DIR = Path("/var/lib/apt/lists")
DEFAULT_OUT = Path(__file__).resolve().parent / "debian_packages.jsonl.gz"
SUITE = "bookworm"
COMPONENT = "main"
ARCH = "amd64"

#: Families bigger than this are trimmed to a contiguous (by name) run.
MAX_FAMILY = 25
#: Every section present in the archive gets at least this many packages
#: (or all of them, when the archive has fewer).
MIN_PER_SECTION = 8

SECTION_PREFIXES = ("contrib/", "non-free/", "non-free-firmware/")

# Name prefixes that mark a language ecosystem rather than the project itself.
FAMILY_PREFIXES = (
    "python3-",
    "python-",
    "golang-",
    "r-cran-",
    "r-bioc-",
    "r-other-",
    "librust-",
    "libghc-",
    "node-",
    "ruby-",
    "php-",
    "ocaml-",
    "libocaml-",
    "elpa-",
    "gir1.2-",
    "fonts-",
    "lib",
)
# Name suffixes that mark a split binary package of the same project.
FAMILY_SUFFIXES = (
    "-dev",
    "-doc",
    "-docs",
    "-dbg",
    "-dbgsym",
    "-common",
    "-data",
    "-bin",
    "-utils",
    "-tools",
    "-examples",
    "-prof",
    "-perl",
    "-java",
    "-ocaml",
    "-plugins",
    "-plugin",
    "-runtime",
    "-static",
    "-headers",
    "-tests",
)
TRAILING_VERSION = re.compile(r"[-.+~0-9]+$")


# --------------------------------------------------------------------------
# reading the lists


def find_list(lists_dir: Path, kind: str) -> Path:
    """Return the bookworm/main list of ``kind`` ("Packages" or "Translation-en")."""
    if kind == "Packages":
        pattern = f"*_dists_{SUITE}_{COMPONENT}_binary-*_Packages*"
    else:
        pattern = f"*_dists_{SUITE}_{COMPONENT}_i18n_{kind}*"
    found = sorted(p for p in lists_dir.glob(pattern) if p.is_file())
    if kind == "Packages":
        preferred = [p for p in found if f"_binary-{ARCH}_" in p.name]
        found = preferred or found
    if not found:
        raise SystemExit(
            f"no {kind} list for {SUITE}/{COMPONENT} in {lists_dir}; "
            "run `apt-get update -o Acquire::Languages=en` first"
        )
    return found[0]


#: sha256 of the decompressed content of every list read, for provenance.
DIGESTS: dict[Path, str] = {}


def cat_file(path: Path) -> Iterator[str]:
    """Yield the decompressed lines of an APT list file via apt-helper.

    The sha256 of the decompressed bytes is recorded in :data:`DIGESTS`; it
    matches the ``SHA256`` entry for the uncompressed list in the suite's
    ``InRelease`` file.
    """
    digest = hashlib.sha256()
    with subprocess.Popen([APT_HELPER, "cat-file", str(path)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            digest.update(raw)
            yield raw.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"apt-helper cat-file {path} failed with {proc.returncode}")
    DIGESTS[path] = digest.hexdigest()


def release_info(lists_dir: Path) -> str:
    """``Version`` and ``Date`` of the suite's InRelease file, if it is there."""
    found = sorted(lists_dir.glob(f"*_dists_{SUITE}_InRelease")) + sorted(
        lists_dir.glob(f"*_dists_{SUITE}_Release")
    )
    if not found:
        return "unknown (no InRelease file found)"
    fields: dict[str, str] = {}
    for line in found[0].read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("Suite", "Codename", "Version", "Date") and key not in fields:
            fields[key] = value.strip()
        if line.startswith(("MD5Sum:", "SHA256:")):
            break
    return ", ".join(f"{k} {v}" for k, v in fields.items()) + f" ({found[0].name})"


def stanzas(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Parse deb822 stanzas; continuation lines are kept verbatim after a newline."""
    fields: dict[str, str] = {}
    last = ""
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t":
            if last:
                fields[last] += "\n" + line
        else:
            key, _, value = line.partition(":")
            last = key.strip()
            fields[last] = value.strip()
    if fields:
        yield fields


# --------------------------------------------------------------------------
# Debian version comparison (dpkg's algorithm), to resolve duplicate stanzas


def _order(ch: str) -> int:
    if ch == "~":
        return -1
    if ch.isdigit():
        return 0
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """Negative, zero or positive as Debian version ``a`` is <, == or > ``b``."""

    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.partition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, revision

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return ea - eb
    return _compare_part(ua, ub) or _compare_part(ra, rb)


# --------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class Record:
    package: str
    description: str
    section: str
    priority: str
    version: str
    installed_size: int
    homepage: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "package": self.package,
                "description": self.description,
                "section": self.section,
                "priority": self.priority,
                "version": self.version,
                "installed_size": self.installed_size,
                "homepage": self.homepage,
            },
            ensure_ascii=False,
        )


def clean_description(description_en: str) -> str:
    """Short description + "\\n" + long description without Debian's formatting.

    Each long-description line loses its one leading space and lines of a lone
    "." become blank lines.  Lines indented further (verbatim text) keep the
    extra indentation.  A package without a long description yields only the
    short description.
    """
    short, _, long_raw = description_en.partition("\n")
    out: list[str] = []
    for line in long_raw.split("\n"):
        if not line:
            continue
        body = line[1:] if line[0] in " \t" else line
        out.append("" if body.strip() == "." else body.rstrip())
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    long_text = "\n".join(out)
    short = short.strip()
    return f"{short}\n{long_text}" if long_text else short


def clean_section(section: str) -> str:
    for prefix in SECTION_PREFIXES:
        if section.startswith(prefix):
            return section[len(prefix) :]
    return section


def load_translations(path: Path) -> dict[str, str]:
    """Map Description-md5 to Description-en."""
    out: dict[str, str] = {}
    for st in stanzas(cat_file(path)):
        md5 = st.get("Description-md5")
        text = st.get("Description-en")
        if md5 and text:
            out[md5] = text
    return out


def load_records(
    packages: Path, translations: dict[str, str]
) -> tuple[list[Record], collections.Counter[str]]:
    """Join Packages with Translation-en; return records and a count of what was dropped."""
    dropped: collections.Counter[str] = collections.Counter()
    best: dict[str, tuple[str, dict[str, str]]] = {}
    for st in stanzas(cat_file(packages)):
        name = st.get("Package", "")
        version = st.get("Version", "")
        if not name:
            continue
        if name in best:
            dropped["older duplicate stanza"] += 1
            if compare_versions(version, best[name][0]) <= 0:
                continue
        best[name] = (version, st)
    records: list[Record] = []
    for name, (version, st) in best.items():
        text = translations.get(st.get("Description-md5", ""))
        if not text:
            dropped["no English description"] += 1
            continue
        size = st.get("Installed-Size", "")
        if not size.isdigit():
            dropped["no Installed-Size"] += 1
            continue
        section = clean_section(st.get("Section", ""))
        if not section:
            dropped["no Section"] += 1
            continue
        records.append(
            Record(
                package=name,
                description=clean_description(text),
                section=section,
                priority=st.get("Priority", ""),
                version=version,
                installed_size=int(size),
                homepage=st.get("Homepage", ""),
            )
        )
    records.sort(key=lambda r: r.package)
    return records, dropped


# --------------------------------------------------------------------------
# sampling


def family_stem(name: str) -> str:
    """A project stem shared by the binary packages of one family.

    ``libfoo1``, ``libfoo-dev``, ``libfoo-doc``, ``foo-utils`` and
    ``python3-foo`` all map to ``foo``; ``librust-foo+bar-dev`` to ``foo``.
    Collisions only make a family larger, which is harmless here.
    """
    stem = name.split("+", 1)[0]
    for prefix in FAMILY_PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix) + 1:
            stem = stem[len(prefix) :]
            break
    changed = True
    while changed:
        changed = False
        for suffix in FAMILY_SUFFIXES:
            if stem.endswith(suffix) and len(stem) > len(suffix) + 1:
                stem = stem[: -len(suffix)]
                changed = True
        trimmed = TRAILING_VERSION.sub("", stem)
        if trimmed and trimmed != stem:
            stem = trimmed
            changed = True
    return stem or name


def sample(records: list[Record], size: int, seed: int) -> list[Record]:
    """Pick whole families at random until ``size``, then top up rare sections."""
    rng = random.Random(seed)
    families: dict[str, list[Record]] = collections.defaultdict(list)
    for rec in records:
        families[family_stem(rec.package)].append(rec)
    for stem, members in families.items():
        if len(members) > MAX_FAMILY:
            start = rng.randrange(len(members) - MAX_FAMILY + 1)
            families[stem] = members[start : start + MAX_FAMILY]

    order = sorted(families)
    rng.shuffle(order)
    chosen: set[str] = set()
    total = 0
    for stem in order:
        if total >= size:
            break
        chosen.add(stem)
        total += len(families[stem])

    in_archive = collections.Counter(r.section for r in records)
    in_sample = collections.Counter(r.section for s in chosen for r in families[s])
    for section in sorted(in_archive):
        want = min(MIN_PER_SECTION, in_archive[section])
        for stem in order:  # same seeded order, so the top-up is deterministic
            if in_sample[section] >= want:
                break
            if stem not in chosen and any(r.section == section for r in families[stem]):
                chosen.add(stem)
                in_sample.update(r.section for r in families[stem])
    return sorted((r for s in chosen for r in families[s]), key=lambda r: r.package)


def write_jsonl_gz(rows: list[Record], out: Path) -> None:
    """Write gzip JSONL with a fixed header (no name, mtime 0) so output is reproducible."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with (
        tmp.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        for rec in rows:
            gz.write((rec.to_json() + "\n").encode("utf-8"))
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists-dir", type=Path, default=DEFAULT_LISTS_DIR)
    parser.add_argument(
        "--packages", type=Path, help="Packages list (default: found in --lists-dir)"
    )
    parser.add_argument(
        "--translations", type=Path, help="Translation-en list (default: found in --lists-dir)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)

    packages = args.packages or find_list(args.lists_dir, "Packages")
    translations_path = args.translations or find_list(args.lists_dir, "Translation-en")
    print(f"release:        {release_info(args.lists_dir)}")
    print(f"Packages:       {packages}")
    print(f"Translation-en: {translations_path}")

    translations = load_translations(translations_path)
    records, dropped = load_records(packages, translations)
    for path, digest in DIGESTS.items():
        print(f"sha256 (decompressed) {path.name}: {digest}")
    print(f"archive: {len(records)} packages with an English description")
    for reason, n in sorted(dropped.items()):
        print(f"  dropped {n}: {reason}")

    rows = sample(records, args.size, args.seed)
    ids = [r.package for r in rows]
    assert len(ids) == len(set(ids)), "duplicate package ids"
    assert all(r.package and r.description and r.section for r in rows)
    write_jsonl_gz(rows, args.out)

    sections = collections.Counter(r.section for r in rows)
    families = len({family_stem(r.package) for r in rows})
    print(f"\nwrote {args.out} ({args.out.stat().st_size} bytes)")
    print(f"records: {len(rows)}  families: {families}  sections: {len(sections)}")
    for section, n in sorted(sections.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {section:<14} {n:5d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
