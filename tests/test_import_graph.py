"""The import graph: data flows one way, so no two parts of the package import each other.

A part is a subpackage (qnntraps/harness, ...) or a top-level module (qnntraps/instance.py, ...).
Every import counts, at any depth in a module (function-level and TYPE_CHECKING ones too); only
the package's facade (qnntraps/__init__.py, __main__.py) may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import qnntraps

PACKAGE = Path(qnntraps.__file__).parent
FACADE = {"__init__", "__main__"}


def _part(module: str) -> str | None:
    """qnntraps.harness.runner -> harness; qnntraps.instance -> instance; else None."""
    parts = module.split(".")
    if parts[0] != "qnntraps" or len(parts) < 2:
        return None
    return parts[1]


def import_graph() -> dict[str, dict[str, set[str]]]:
    """part -> {imported part -> files that import it}."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) == 1 and path.stem in FACADE:
            continue
        source = relative.parts[0] if len(relative.parts) > 1 else path.stem
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = _part(name)
                exists = (PACKAGE / str(target)).is_dir() or (PACKAGE / f"{target}.py").is_file()
                if target and target != source and exists:
                    graph.setdefault(source, {}).setdefault(target, set()).add(str(relative))
    return graph


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_part_of_the_package_imports_another_that_imports_it_back():
    graph = import_graph()
    assert "simulators" in graph and "instance" in graph["harness"]  # the scan sees imports
    problems = []
    for component in cycles(graph):
        edges = [
            f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})"
            for a in component
            for b in component
            if b in graph.get(a, {})
        ]
        problems.append("; ".join(edges))
    assert not problems, "import cycles: " + " | ".join(problems)


def test_the_model_imports_no_simulator():
    graph = import_graph()
    assert "simulators" not in graph.get("model", {})
    assert "instance" not in graph.get("simulators", {})
