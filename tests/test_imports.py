"""Every module imports on its own in a fresh interpreter; ``builder/`` has no import cycle.

A module that only imports after some other module was imported first hides a cycle or a
missing import; a fresh process per module is the only honest check (clearing
``sys.modules`` leaves C extensions and ``sys.path`` changes behind).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("builder", "review_ui")
# Scripts, not modules: Streamlit runs the app and its pages, Alembic runs the migrations
# folder (env.py refuses to run outside it), and __main__ runs the CLI when imported.
SKIP_DIRS = ("review_ui/pages", "review_ui/app_pages", "builder/store/migrations")
SKIP_FILES = ("review_ui/app.py",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if (
                "__pycache__" in rel
                or path.name == "__main__.py"
                or rel in SKIP_FILES
                or any(rel.startswith(d + "/") for d in SKIP_DIRS)
            ):
                continue
            found[_module_name(path)] = path
    return found


def _import_alone(module: str) -> tuple[str, int, str]:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return module, proc.returncode, proc.stderr


def test_every_module_imports_alone() -> None:
    modules = sorted(_modules())
    assert "builder.cli" in modules and "review_ui.session" in modules
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(_import_alone, modules))
    failed = [f"{m} (exit {rc}):\n{err.strip()[-1500:]}" for m, rc, err in results if rc != 0]
    assert not failed, "modules that fail to import on their own:\n\n" + "\n\n".join(failed)


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: not in functions, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            elif isinstance(node, ast.If):
                test = node.test
                name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", "")
                if name != "TYPE_CHECKING":
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody):
                    visit(block)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.With | ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules (of ``modules``) its top-level imports load.

    ``from pkg import sub`` counts as an edge to ``pkg.sub`` alone when ``sub`` is a module:
    Python runs ``pkg/__init__`` first in any case, so counting it would make every package
    whose ``__init__`` re-exports a submodule look cyclic.
    """
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            subs = {f"{base}.{a.name}" for a in node.names} & modules.keys()
            edges.update(subs)
            if len(subs) < len(node.names):
                edges.add(base)
        graph[name] = {m for m in edges if m in modules and m != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``a → b → … → a``) per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles = []
    for group in groups:
        start = min(group)
        # Breadth-first from start back to start, inside the group: the shortest cycle.
        paths = {start: [start]}
        frontier = [start]
        cycle: list[str] | None = None
        while frontier and cycle is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & group):
                    if w == start:
                        cycle = [*paths[v], start]
                        break
                    if w not in paths:
                        paths[w] = [*paths[v], w]
                        nxt.append(w)
                if cycle:
                    break
            frontier = nxt
        cycles.append(cycle or sorted(group))
    return cycles


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_cli_has_no_import_cycle() -> None:
    graph = import_graph(_modules(("builder",)))
    assert graph["builder.cli.app"] >= {"builder.cli.users", "builder.cli.release"}
    cli_cycles = [c for c in find_cycles(graph) if any(m.startswith("builder.cli") for m in c)]
    assert not cli_cycles, "\n".join(" → ".join(c) for c in cli_cycles)
    assert not any("builder.cli.app" in deps for m, deps in graph.items() if m != "builder.cli")


def test_builder_has_no_import_cycle() -> None:
    cycles = find_cycles(import_graph(_modules(("builder",))))
    assert not cycles, "import cycles in builder/:\n" + "\n".join(" → ".join(c) for c in cycles)
