"""Names, URLs and specs at the edges: nothing resolves outside the registry or the cache,
unusable registry URLs and filesystem failures are one ``Error:`` line, specs with
multiplying YAML aliases are refused at once, and errors never echo a huge value."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import IntegrityError, ReleaseError, SpecError, shown
from builder.release.cache import cache_path
from builder.release.manifest import MANIFEST_NAME
from builder.release.pull import load_release, pull_release
from builder.release.refs import parse_release_ref
from builder.release.registry import Registry
from builder.release.registry_fs import RegistryAccessError
from builder.release.snapshot import publish_release, yank_release
from builder.release.staging import PUBLISHED_MODE
from builder.spec import load_spec
from builder.workspace import Workspace
from tests.support.common import SAMPLE_SPEC, Cli
from tests.support.releases import LEAD, NAME

FIXTURES = Path(__file__).parent / "fixtures" / "specs"
NAME_RULE = (
    "is not a slug; use lowercase letters, digits and single dashes (at most 64 characters), "
    "e.g. debian-sections"
)
VERSION_RULE = (
    "is not a semantic version; use X.Y.Z such as 1.0.0 (numbers without leading zeros, "
    "no prefix or suffix)"
)


def _name_error(ref: str, name: str) -> str:
    return f"release reference {shown(ref)}: benchmark name {shown(name)} {NAME_RULE}"


def _version_error(ref: str, version: str) -> str:
    return f"release reference {shown(ref)}: version {shown(version)} {VERSION_RULE}"


# Path traversal and its disguises: each is refused, naming the part that is wrong.
BAD_NAMES = [
    "../../x/evil",
    "a/../a",
    "debian-sections/../debian-sections",
    "/etc/passwd",
    "/tmp",
    "..",
    ".",
    "a\\..\\b",
    "..\\..\\evil",
    "a\x00b",
    "%2e%2e",
    "%2e%2e%2fevil",
    "\u2024\u2024",  # one dot leader ×2, looks like ".."
    "\uff0e\uff0e\uff0fevil",  # fullwidth "../evil"
    "debian\u2010sections",  # a hyphen that is not "-"
    "Debian-Sections",
    "dеbian",  # Cyrillic е
    "a--b",
    "-a",
    "a-",
    "a b",
    "a\nb",
    "~",
    "x" * 65,
]
BAD_VERSIONS = [
    "../1.0.0",
    "1.0.0/../../x",
    "1.0.0\n..",
    "1.0.0\x00",
    "1.0",
    "01.0.0",
    "v1.0.0",
    "1.0.0-rc1",
    "١.0.0",  # Arabic-Indic digit one
    "1.0.0/",
    "%2e%2e",
    "..",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_in_refs_are_refused_with_the_exact_message(name: str) -> None:
    ref = f"{name}@1.0.0"
    with pytest.raises(ReleaseError) as e:
        parse_release_ref(ref)
    stripped = name.strip()
    assert str(e.value) == _name_error(ref, stripped)


@pytest.mark.parametrize("version", BAD_VERSIONS)
def test_bad_versions_in_refs_are_refused_with_the_exact_message(version: str) -> None:
    ref = f"{NAME}@{version}"
    with pytest.raises(ReleaseError) as e:
        parse_release_ref(ref)
    assert str(e.value) == _version_error(ref, version.strip())


def test_the_exact_message_for_the_reported_refs() -> None:
    with pytest.raises(ReleaseError) as e:
        parse_release_ref("../../x/evil@1.0.0")
    assert str(e.value) == (
        "release reference '../../x/evil@1.0.0': benchmark name '../../x/evil' is not a slug; "
        "use lowercase letters, digits and single dashes (at most 64 characters), "
        "e.g. debian-sections"
    )
    assert parse_release_ref(f" {NAME}@1.2.3 ") == (NAME, "1.2.3")
    assert parse_release_ref(NAME) == parse_release_ref(f"{NAME}@") == (NAME, "latest")
    # Library calls take names and versions exactly: no trailing newline, no other digits.
    from builder.release.manifest import parse_version
    from builder.release.refs import check_name

    for v in ("1.0.0\n", " 1.0.0", "١.٠.٠"):
        with pytest.raises(ReleaseError, match="is not a semantic version"):
            parse_version(v)
    with pytest.raises(ReleaseError, match="is not a slug"):
        check_name(f"{NAME}\n")


_names = st.from_regex(r"\A[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}\Z")
_versions = st.from_regex(r"\A(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\Z")
_junk = st.sampled_from(["..", "/", "\\", "\x00", "%2e", "\u2024", "\uff0e", "@", " ", "\n", "~"])
_refs = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, v: f"{n}@{v}", _names, _versions),
    st.builds(lambda n, v: f"{n}@{v}", st.text(max_size=20), st.text(max_size=12)),
    st.builds(
        lambda n, j, k, v: f"{j}{n}{k}@{v}",
        _names,
        _junk,
        st.sampled_from(["", "/..", "/"]),
        _versions,
    ),
    st.builds(lambda n, j, v: f"{n}@{v}{j}", _names, _junk, _versions),
    st.sampled_from([f"{n}@1.0.0" for n in BAD_NAMES] + [f"{NAME}@{v}" for v in BAD_VERSIONS]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref=_refs)
def test_any_ref_that_parses_stays_inside_the_registry_and_the_cache(
    ref: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.getbasetemp() / "prop"
    registry, cache = root / "registry", root / "cache"
    try:
        name, version = parse_release_ref(ref)
    except ReleaseError as e:
        assert str(e).startswith(f"release reference {shown(ref)}")
        assert len(str(e)) < 400
        return
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in name)
    if version == "latest":
        version = "1.0.0"
    for path in (
        Registry(str(registry)).path(name, version, MANIFEST_NAME),
        str(cache_path(cache, str(registry), name, version)),
    ):
        full = Path(path).resolve()
        assert full.is_relative_to(registry.resolve()) or full.is_relative_to(cache.resolve())
        assert ".." not in Path(path).parts


def test_library_entry_points_refuse_bad_names_before_touching_anything(tmp_path: Path) -> None:
    reg_dir, cache = tmp_path / "registry", tmp_path / "cache"
    reg = Registry(str(reg_dir))
    msg = f"benchmark name '../x' {NAME_RULE}"
    for call in (
        lambda: pull_release("../x", "1.0.0", registry=reg, cache_dir=cache),
        lambda: load_release("../x", "1.0.0", registry=reg, cache_dir=cache),
        lambda: reg.versions("../x"),
        lambda: reg.exists("../x", "1.0.0"),
        lambda: reg.yank_info("../x", "1.0.0"),
        lambda: reg.yank("../x", "1.0.0", reason="r", by="b"),
        lambda: reg.read_manifest("../x", "1.0.0"),
        lambda: reg.remove("../x", "1.0.0"),
        lambda: cache_path(cache, reg.url, "../x", "1.0.0"),
    ):
        with pytest.raises(ReleaseError) as e:
            call()
        assert str(e.value).endswith(msg)
    with pytest.raises(
        ReleaseError, match=r"^pull_release: version '\.\./1\.0\.0' is not a semantic"
    ):
        pull_release(NAME, "../1.0.0", registry=reg, cache_dir=cache)
    with pytest.raises(ReleaseError, match="is not a plain name inside the registry"):
        reg.read_bytes(NAME, "1.0.0", "../../../etc/passwd")
    with pytest.raises(ReleaseError, match="is not a plain name inside the registry"):
        reg.path(NAME, "1.0.0", "data\\x")
    assert not reg_dir.exists() and not cache.exists()


def test_a_symlink_out_of_the_registry_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    reg_dir = tmp_path / "registry"
    reg_dir.mkdir()
    (reg_dir / "evil").symlink_to(outside, target_is_directory=True)
    reg = Registry(str(reg_dir))
    with pytest.raises(ReleaseError, match=r"resolves to .*elsewhere.*, outside the registry"):
        reg.yank("evil", "1.0.0", reason="r", by="b")
    assert list(outside.iterdir()) == []
    assert reg.names() == []


def test_a_manifest_that_does_not_match_its_folder_is_refused(rel_ws: Workspace) -> None:
    result = publish_release(rel_ws, actor=LEAD)
    reg = Registry(rel_ws.settings.registry)
    folder = Path(result.url)
    moved = folder.parent.parent / "other-name" / "1.0.0"
    moved.parent.mkdir()
    os.rename(folder, moved)
    with pytest.raises(
        IntegrityError, match=r"describes debian-sections@1\.0\.0; the folder was moved"
    ):
        reg.read_manifest("other-name", "1.0.0")
    with pytest.raises(IntegrityError):
        pull_release("other-name", "1.0.0", registry=reg, cache_dir=rel_ws.settings.cache_dir)
    # A manifest must name a slug: one naming a path is invalid whatever its hash says.
    raw = json.loads((moved / MANIFEST_NAME).read_text())
    raw["name"] = "../x"
    from builder.release.manifest import Manifest

    with pytest.raises(ValueError, match="is not a benchmark name"):
        Manifest.model_validate(raw)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_cli_pull_with_a_traversal_ref_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    env = {"BENCHSMITH_HOME": str(tmp_path / "ws"), "BENCHSMITH_DATABASE_URL": "",
           "BENCHSMITH_REGISTRY": str(tmp_path / "a" / "registry"),
           "BENCHSMITH_CACHE": str(tmp_path / "a" / "cache")}  # fmt: skip
    before = _tree(tmp_path)
    out = cli("pull", "../../x/evil@1.0.0", env=env)
    assert out.exit_code == 1
    assert out.stderr == f"Error: {_name_error('../../x/evil@1.0.0', '../../x/evil')}\n"
    assert out.stdout == ""
    assert _tree(tmp_path) == before


def test_cli_yank_with_a_traversal_ref_writes_nothing(cli: Cli, rel_ws: Workspace) -> None:
    publish_release(rel_ws, actor=LEAD)
    env = {"BENCHSMITH_HOME": str(rel_ws.settings.home), "BENCHSMITH_REGISTRY": rel_ws.settings.registry,
           "BENCHSMITH_CACHE": str(rel_ws.settings.cache_dir), "BENCHSMITH_USER": LEAD}  # fmt: skip
    registry = Path(rel_ws.settings.registry)
    before = _tree(registry.parent)
    for ref in ("a/../a@1.0.0", f"{NAME}/../{NAME}@1.0.0", f"{NAME}@1.0.0/../1.0.0"):
        out = cli("releases", "yank", ref, "--reason", "bad", env=env)
        assert out.exit_code == 1, out.output
        assert out.stderr.startswith(f"Error: release reference {shown(ref)}: ")
        assert out.stderr.count("\n") == 1
    assert _tree(registry.parent) == before
    assert not list(registry.rglob("*.yanked.json"))
    assert Registry(str(registry)).yank_info(NAME, "1.0.0") is None


@pytest.mark.parametrize(
    "url", ["ftp://x", "zip://x", "http://example.invalid/reg", "sftp://h/x", "github://a:b@c/"]
)
def test_unsupported_registry_schemes_are_one_line_listing_the_working_ones(
    cli: Cli, tmp_path: Path, url: str
) -> None:
    env = {"BENCHSMITH_HOME": str(tmp_path / "ws"), "BENCHSMITH_CACHE": str(tmp_path / "cache")}
    scheme = url.split("://")[0]
    for args in (["pull", f"{NAME}@1.0.0"], ["releases", "list"]):
        out = cli(*args, "--registry", url, env=env)
        assert out.exit_code == 1
        assert out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
        assert out.stderr.startswith(
            f"Error: registry {url!r}: scheme '{scheme}://' is not supported for a registry; "
            "use one of: a folder path, file://, memory://"
        )
        assert "Traceback" not in out.output
    assert not (tmp_path / "cache").exists()


def test_an_object_store_without_its_package_names_the_package(cli: Cli, tmp_path: Path) -> None:
    import importlib.util

    # The eval extra (inspect-ai) pulls in s3fs, so use a store whose package is absent here.
    assert importlib.util.find_spec("adlfs") is None, "pick a scheme whose package is absent"
    out = cli(
        "releases", "list", "--registry", "az://bucket/reg", env={"BENCHSMITH_HOME": str(tmp_path)}
    )
    assert out.exit_code == 1 and out.stderr.count("\n") == 1
    assert out.stderr.startswith(
        "Error: registry 'az://bucket/reg': az:// needs the adlfs package, which is not installed; "
        "install it (pip install adlfs) or use one of: a folder path, file://, memory://"
    )


@pytest.mark.parametrize(
    ("exc", "fix"),
    [
        (PermissionError(13, "Permission denied"), "check that the folder is readable"),
        (ConnectionError("connection reset by peer"), "check the URL, the network"),
        (TimeoutError("timed out"), "check the URL, the network"),
    ],
)
def test_filesystem_failures_are_one_error_line_naming_the_url(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: OSError, fix: str
) -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    url = "memory://benchsmith-refs-failing/registry"
    reg = Registry(url)
    reg.fs.pipe_file(reg.path(NAME, "1.0.0", MANIFEST_NAME), b"{}")

    def boom(*_a: Any, **_k: Any) -> Any:
        raise exc

    monkeypatch.setattr(MemoryFileSystem, "ls", boom)
    monkeypatch.setattr(MemoryFileSystem, "cat_file", boom)
    env = {"BENCHSMITH_HOME": str(tmp_path / "ws"), "BENCHSMITH_CACHE": str(tmp_path / "cache")}
    for args in (["releases", "list"], ["pull", f"{NAME}@1.0.0"], ["pull", f"{NAME}@latest"]):
        out = cli(*args, "--registry", url, env=env)
        assert out.exit_code == 1, out.output
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.output, out.output
        assert out.stderr.startswith(f"Error: registry {url!r}: cannot ")
        assert fix in out.stderr
    with pytest.raises(RegistryAccessError) as e:
        reg.names()
    assert isinstance(e.value, OSError)  # a pull from the cache still tolerates it


def test_billion_laughs_spec_is_refused_fast_with_a_short_message(cli: Cli, tmp_path: Path) -> None:
    spec = FIXTURES / "billion-laughs.yaml"
    assert spec.stat().st_size < 1000
    started = time.perf_counter()
    with pytest.raises(SpecError) as e:
        load_spec(spec)
    assert time.perf_counter() - started < 1.0
    message = str(e.value)
    assert message == (
        f"{spec}: YAML aliases refused: line 15: alias *c brings the document's aliases to "
        "1,729 nodes once expanded, over the limit of 1,000 (nested aliases that multiply — a "
        "'billion laughs' — are refused); write the values out or use fewer aliases"
    )
    started = time.perf_counter()
    out = cli(
        "init",
        "--spec",
        spec,
        env={"BENCHSMITH_HOME": str(tmp_path / "ws"), "BENCHSMITH_DATABASE_URL": ""},
    )
    assert time.perf_counter() - started < 5.0
    assert out.exit_code == 1 and out.stderr == f"Error: {message}\n"
    assert len(out.output) < 500


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: &a [*a]\n", "refers to the node it is inside"),
        ("a: &a {b: *a}\n", "refers to the node it is inside"),
        ("x: &x 1\ny: [" + ", ".join(["*x"] * 101) + "]\n", "more than 100 aliases"),
    ],
)
def test_self_nesting_and_too_many_aliases_are_refused(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=why):
        load_spec(path)


def test_a_few_plain_aliases_still_work() -> None:
    from builder.yamlsafe import load_yaml

    text = "base: &b {x: 1, y: [a, b]}\nc: {<<: *b, z: 3}\nd: [*b, *b]\n"
    assert load_yaml(text, where="t.yaml") == {
        "base": {"x": 1, "y": ["a", "b"]},
        "c": {"x": 1, "y": ["a", "b"], "z": 3},
        "d": [{"x": 1, "y": ["a", "b"]}, {"x": 1, "y": ["a", "b"]}],
    }


def test_a_long_bad_value_is_truncated_in_the_error(tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load(SAMPLE_SPEC.read_text())
    raw["name"] = "Not A Slug " * 10_000
    raw["task"]["type"] = "x" * 50_000
    raw["release"] = {"license": ["y" * 1000] * 1000}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as e:
        load_spec(path)
    message = str(e.value)
    assert len(message) < 2000, message[:3000]
    assert "… (110000 chars)" in message and "… (50000 chars)" in message
    assert "… (1000 items)" in message


def test_the_yank_marker_is_readable_by_everyone(rel_ws: Workspace) -> None:
    publish_release(rel_ws, actor=LEAD)
    yank_release(rel_ws, NAME, "1.0.0", reason="bad labels", actor=LEAD)
    marker = Path(rel_ws.settings.registry, NAME, "1.0.0.yanked.json")
    mode = stat.S_IMODE(marker.stat().st_mode)
    assert mode == PUBLISHED_MODE
    release_file = Path(rel_ws.settings.registry, NAME, "1.0.0", MANIFEST_NAME)
    assert stat.S_IMODE(release_file.stat().st_mode) == mode
    assert mode & stat.S_IROTH and not mode & stat.S_IWOTH


def test_an_unreadable_or_damaged_yank_marker_is_a_clear_error(
    rel_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fsspec.implementations.local import LocalFileSystem

    publish_release(rel_ws, actor=LEAD)
    yank_release(rel_ws, NAME, "1.0.0", reason="bad labels", actor=LEAD)
    reg = Registry(rel_ws.settings.registry)
    marker = Path(reg.path(NAME, "1.0.0.yanked.json"))
    real = LocalFileSystem.cat_file

    def denied(self: Any, path: str, *a: Any, **k: Any) -> Any:
        if str(path).endswith(".yanked.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(self, path, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(LocalFileSystem, "cat_file", denied)
        with pytest.raises(ReleaseError) as e:
            reg.yank_info(NAME, "1.0.0")
        assert not isinstance(e.value, OSError)  # a pull must not take it for "offline"
        assert str(e.value) == (
            f"{NAME}@1.0.0 in {reg.url}: the yank marker {marker} exists but cannot be read "
            f"(permission denied); ask whoever yanked it to make it readable (chmod 0444 "
            f"{marker}) — until then treat the version as yanked"
        )
        with pytest.raises(ReleaseError, match="cannot be read"):
            pull_release(NAME, "1.0.0", registry=reg, cache_dir=rel_ws.settings.cache_dir)
    marker.chmod(0o644)
    marker.write_text("[1, 2")
    with pytest.raises(IntegrityError, match=r"the yank marker .* is damaged"):
        reg.yank_info(NAME, "1.0.0")


def test_a_remote_read_that_fails_midway_is_a_registry_error() -> None:
    url = "memory://benchsmith-refs-midway/registry"
    reg = Registry(url)
    reg.fs.pipe_file(reg.path(NAME, "1.0.0", "data", "test.jsonl"), b"x" * 100)
    with reg.open(NAME, "1.0.0", "data/test.jsonl") as f:
        assert f.read(10) == b"x" * 10

        def broken(*_a: Any) -> bytes:
            raise ConnectionResetError("connection reset by peer")

        f._f.read = broken  # type: ignore[attr-defined]
        with pytest.raises(RegistryAccessError) as e:
            f.read(10)
    assert str(e.value).startswith(f"registry {url!r}: cannot read a release file from it (")
