"""The package's layout: no import circle between its modules, no module importing another's private names.

The import graph is read from the source with ``ast``: every ``import`` and ``from ... import``,
at module level and inside functions (a lazy import is still a dependency), relative and absolute.
``from package import name`` is an edge to the module ``package.name`` when there is one, else to
``package``. The parent packages that Python executes on the way to a module (``import a.b.c``
runs ``a/__init__.py``) are not counted as edges: they are the same for every module of a package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

import disco_pyserini

PACKAGE_DIR = Path(disco_pyserini.__file__).parent


class Edge(NamedTuple):
    source: str
    target: str
    line: int


def modules(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package) of every module under ``package_dir``."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, str | None, int]]:
    """(imported module or package, name taken from it or None, line) of every import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                yield source, alias.name, node.lineno


def import_edges(package_dir: Path) -> list[Edge]:
    known = modules(package_dir)
    edges = set()
    for module, (path, is_package) in known.items():
        for source, name, line in _imports(ast.parse(path.read_text(), str(path)), module, is_package):
            target = f"{source}.{name}" if name and f"{source}.{name}" in known else source
            while target and target not in known:  # import a.b.c where only a.b is ours: a.b
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.add(Edge(module, target, line))
    return sorted(edges)


def import_circles(edges: list[Edge]) -> list[list[Edge]]:
    """One circle (its edges in order) for each strongly connected group of modules."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, []).append(edge)
        graph.setdefault(edge.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for edge in graph[node]:
            if edge.target not in index:
                visit(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_shortest_circle(graph, group, min(group)) for group in groups]


def _shortest_circle(graph: dict[str, list[Edge]], group: set[str], start: str) -> list[Edge]:
    """The fewest imports that lead from ``start`` back to itself, breadth first."""
    paths: dict[str, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for edge in graph[node]:
                if edge.target == start:
                    return paths[node] + [edge]
                if edge.target in group and edge.target not in paths:
                    paths[edge.target] = paths[node] + [edge]
                    following.append(edge.target)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected group, so a way back exists")


def describe(circle: list[Edge], package_dir: Path) -> str:
    known = modules(package_dir)
    steps = [f"{edge.source} ({known[edge.source][0].relative_to(package_dir.parent)}:{edge.line})"
             for edge in circle]
    return " -> ".join(steps + [circle[0].source])


def private_imports(package_dir: Path) -> list[str]:
    """``from other import _name`` and ``other._name`` where ``other`` is another module of the package."""
    known = modules(package_dir)
    found = []
    for module, (path, is_package) in known.items():
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(package_dir.parent)
        bound = {}  # local name -> our module it is bound to
        for source, name, line in _imports(tree, module, is_package):
            if source not in known and f"{source}.{name}" not in known:
                continue
            if name is None:
                continue
            if f"{source}.{name}" in known:
                bound[name] = f"{source}.{name}"
            elif name.startswith("_") and not name.startswith("__") and source != module:
                found.append(f"{where}:{line}: imports {name} from {source}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in known:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and bound[node.value.id] != module):
                found.append(f"{where}:{node.lineno}: uses {node.attr} of {bound[node.value.id]}")
    return found


def test_no_import_circle_between_the_modules():
    circles = import_circles(import_edges(PACKAGE_DIR))
    assert not circles, "import circles (module (file:line of its import) -> ...):\n" + "\n".join(
        describe(circle, PACKAGE_DIR) for circle in circles)


def test_no_module_imports_another_modules_private_names():
    assert private_imports(PACKAGE_DIR) == []


def test_the_graph_sees_every_kind_of_import():
    edges = {(edge.source, edge.target) for edge in import_edges(PACKAGE_DIR)}
    assert ("disco_pyserini.search.searcher", "disco_pyserini.io.runs") in edges  # from ..io.runs import
    assert ("disco_pyserini.search.searcher", "disco_pyserini.search.java_runs") in edges  # from . import java_runs
    assert ("disco_pyserini", "disco_pyserini.search.query_encoder") in edges  # inside a function
    assert ("disco_pyserini.search.__main__", "disco_pyserini.commands.pyserini_search") in edges


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "pkg"


@pytest.mark.parametrize("files, circle", [
    ({"__init__.py": "", "a.py": "from .b import x\n", "b.py": "def f():\n    from . import a\n"},
     "pkg.a (pkg/a.py:1) -> pkg.b (pkg/b.py:2) -> pkg.a"),
    ({"__init__.py": "", "s/__init__.py": "", "s/t.py": "import pkg.u as u\n",
      "u.py": "from pkg.s.t import y\n"},
     "pkg.s.t (pkg/s/t.py:1) -> pkg.u (pkg/u.py:1) -> pkg.s.t"),
    ({"__init__.py": "def f():\n    from .a import g\n", "a.py": "from pkg import thing\n"},
     "pkg (pkg/__init__.py:2) -> pkg.a (pkg/a.py:1) -> pkg"),
])
def test_the_check_names_a_circle(tmp_path, files, circle):
    package = _package(tmp_path, files)
    assert [describe(c, package) for c in import_circles(import_edges(package))] == [circle]


def test_the_check_passes_a_package_without_circles_and_catches_private_names(tmp_path):
    package = _package(tmp_path, {"__init__.py": "", "a.py": "from .b import _hidden, shown\n",
                                  "b.py": "import os\n_hidden = shown = 1\n",
                                  "c.py": "from . import b\nfrom .d import __version__\nz = b._hidden + b.shown\n",
                                  "d.py": "__version__ = '1'\n_own = 2\nx = _own\n"})
    assert import_circles(import_edges(package)) == []
    assert private_imports(package) == ["pkg/a.py:1: imports _hidden from pkg.b", "pkg/c.py:3: uses _hidden of pkg.b"]


def test_every_package_says_what_it_does():
    packages = [path for path, is_package in modules(PACKAGE_DIR).values() if is_package]
    assert len(packages) >= 12
    assert [str(path) for path in packages if not ast.get_docstring(ast.parse(path.read_text()))] == []


def test_importing_the_stage_packages_loads_nothing_heavy():
    """The stage packages' __init__ files stay light: torch, transformers, numpy, Pyserini, Java and
    Dask load when a stage runs, not when its package is imported (``--help`` starts none of them)."""
    import subprocess
    import sys

    stages = ["io", "encode", "index", "search", "eval", "distill", "cluster", "pipeline", "datasets", "java",
              "commands"]
    code = ("import sys\n" + "".join(f"import disco_pyserini.{stage}\n" for stage in stages) +
            "print(sorted(m for m in ('torch', 'transformers', 'numpy', 'pyserini', 'jnius', 'dask', 'onnxruntime')"
            " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"
