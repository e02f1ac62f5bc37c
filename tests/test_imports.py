"""The package's import graph has no circle: reading and reporting results sit below the benchmark that makes
them, and nothing points back up.

Read statically with :mod:`ast`, so that it sees every import: at module level, inside functions and under
``if TYPE_CHECKING``. A relative import is resolved against the module's package; ``from . import x`` points at
the module ``x`` where there is one, else at the package's ``__init__``. Importing ``a.b`` is not counted as
importing the package ``a`` (Python runs ``a/__init__.py`` first, but that is a fact of packages, not a
dependency the code chose).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lampinn"


def module_files(root: Path = PACKAGE) -> dict[str, Path]:
    """Every ``lampinn/*.py`` and ``lampinn/pde/*.py`` by its dotted module name (a package by its own name)."""
    out = {}
    for path in sorted([*root.glob("*.py"), *root.glob("pde/*.py")]):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` (source ``path``) imports anywhere in its code."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()

    def add(target: str) -> None:
        while target and target not in known:  # a name inside a module: the module
            target = target.rpartition(".")[0]
        if target:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    found.discard(name)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle ``[a, b, ..., a]`` through every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
            visit(v)
    out = []
    for group in groups:  # a shortest way back to the group's first module, within the group
        start = min(group)
        paths, queue = {start: [start]}, [start]
        while queue:
            v = queue.pop(0)
            for w in sorted(graph[v] & group):
                if w == start:
                    out.append(paths[v] + [start])
                    queue = []
                    break
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    queue.append(w)
    return sorted(out)


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = module_files(root)
    return {name: imports(name, path, set(files)) for name, path in files.items()}


def test_the_package_imports_no_circle():
    found = circles(graph())
    assert not found, "import circles in lampinn: " + "; ".join(" -> ".join(c) for c in found)


def test_the_graph_sees_every_kind_of_import():
    g = graph()
    assert {"lampinn.core", "lampinn.methods", "lampinn.provenance", "lampinn.report"} <= g["lampinn.benchmark"]
    assert "lampinn.methods" in g["lampinn.results"]  # inside a function
    assert "lampinn.core" in g["lampinn.results"]  # under TYPE_CHECKING too
    assert {"lampinn.nn", "lampinn.loss"} <= g["lampinn.pde.base"]  # two dots
    assert "lampinn.pde.designs" in g["lampinn.affinity"] and "lampinn.pde" in g["lampinn.health"]
    assert "lampinn.settings" in g["lampinn.benchmark"]  # from . import settings: the module, not the package
    assert "lampinn" not in g["lampinn.benchmark"]


def test_a_circle_is_named(tmp_path):
    root = tmp_path / "lampinn"
    (root / "pde").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from . import b\n")
    (root / "b.py").write_text("def g():\n    from .pde.c import h\n")
    (root / "pde" / "__init__.py").write_text("")
    (root / "pde" / "c.py").write_text("import lampinn.a\nfrom .. import settings\n")
    g = graph(root)
    assert g["lampinn.pde.c"] == {"lampinn.a", "lampinn"}  # no module settings: the package
    assert circles(g) == [["lampinn.a", "lampinn.b", "lampinn.pde.c", "lampinn.a"]]
