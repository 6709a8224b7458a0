"""BenchmarkSpec validation and the generated JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builder.errors import SpecError
from builder.schemas import SCHEMA_DIR, SCHEMAS, render
from builder.spec import BenchmarkSpec, load_spec
from tests.support.common import SAMPLE_SPEC


def _write(tmp_path: Path, **changes: object) -> Path:
    spec = yaml.safe_load(SAMPLE_SPEC.read_text())
    spec.pop("guidelines")
    for dotted, value in changes.items():
        node = spec
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_sample_spec_loads_with_guidelines() -> None:
    spec, guidelines = load_spec(SAMPLE_SPEC)
    assert spec.name == "debian-sections"
    assert spec.task.type == "classification"
    assert "libs" in spec.task.labels
    assert guidelines and "section" in guidelines.lower()
    assert spec.fields[:2] == ["package", "description"]


def test_unknown_field_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, curation__sise=300)
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert "unknown field 'curation.sise'; remove it or check its spelling" in str(e.value)


def test_bad_slug(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as e:
        load_spec(_write(tmp_path, name="Debian Sections"))
    assert (
        "name 'Debian Sections' is not a slug; use lowercase letters, digits and single "
        "dashes, e.g. 'debian-sections'"
    ) in str(e.value)


def test_duplicate_labels(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as e:
        load_spec(_write(tmp_path, task__labels=["libs", "net", "libs", "doc", "net"]))
    assert "task.labels: duplicate labels ['libs', 'net']; list each label once" in str(e.value)


def test_split_shares_must_sum_to_one(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="split shares must sum to 1, got 0.9"):
        load_spec(_write(tmp_path, release__splits={"test": 0.7, "dev": 0.2}))


def test_missing_guidelines_file(tmp_path: Path) -> None:
    path = _write(tmp_path, guidelines="nope.md")
    with pytest.raises(SpecError, match="guidelines file 'nope.md' not found"):
        load_spec(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist; pass --spec PATH"):
        load_spec(tmp_path / "absent.yaml")


def test_input_field_missing_from_source() -> None:
    spec, _ = load_spec(SAMPLE_SPEC)
    with pytest.raises(SpecError) as e:
        spec.check_source_fields(["package", "section"], where="x.csv")
    assert "x.csv: input field(s) ['description'] named by the spec are missing" in str(e.value)


def test_spec_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    a, _ = load_spec(_write(tmp_path))
    b = BenchmarkSpec.model_validate(a.model_dump())
    assert a.spec_hash() == b.spec_hash()
    c = BenchmarkSpec.model_validate({**a.model_dump(), "title": "other"})
    assert c.spec_hash() != a.spec_hash()


def test_spec_hash_is_the_shared_content_hash(tmp_path: Path) -> None:
    """One encoding for every hash (builder.hashing), over the fields not left at their
    defaults (migration 0004 rehashed stored specs that way)."""
    from builder.hashing import canonical_json, content_hash

    a, _ = load_spec(_write(tmp_path))
    b = BenchmarkSpec.model_validate({**a.model_dump(), "title": "Catégorie “x”"})
    assert b.spec_hash() == content_hash(b.model_dump(mode="json", exclude_defaults=True))
    assert "Catégorie “x”".encode() in canonical_json(b.model_dump(mode="json"))


def test_a_new_spec_field_left_at_its_default_keeps_the_hash(tmp_path: Path) -> None:
    """A spec written before a field existed hashes like the same spec read today, so
    ``init`` and ``releases reindex`` still recognise it after an upgrade."""
    a, _ = load_spec(_write(tmp_path))
    dumped = a.model_dump(mode="json")
    older = {**dumped, "review": {k: v for k, v in dumped["review"].items() if k != "gold_every"}}
    assert BenchmarkSpec.model_validate(older).spec_hash() == a.spec_hash()
    # Writing a default out explicitly means the same spec; changing it does not.
    assert BenchmarkSpec.model_validate(dumped).spec_hash() == a.spec_hash()
    changed = {**dumped, "review": {**dumped["review"], "gold_every": 3}}
    assert BenchmarkSpec.model_validate(changed).spec_hash() != a.spec_hash()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_files_are_fresh(name: str) -> None:
    """schemas/ is generated; regenerate with `python -m builder.schemas` when this fails."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.exists(), f"{path} missing; run python -m builder.schemas"
    assert path.read_text() == render(name), f"{path} is stale; run python -m builder.schemas"


def test_every_schema_is_generated() -> None:
    render("benchmark")  # loads optional registrations
    on_disk = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert on_disk == set(SCHEMAS)
