"""No import cycles among the modules of `functions/riskgate`.

Every module is parsed (never imported) and each `import riskgate.…` / `from riskgate… import …` it
holds becomes an edge of the graph module → imported riskgate module; the test fails naming every cycle.

Function-level imports count as much as module-level ones. An import moved into a function still runs,
and the modules still depend on each other: it only defers the cycle to the first call, where it breaks
when either module is loaded first from an unexpected place. (The cycle issue 12 named,
`services/integrations → services/notifications → services/response_policies → services/integrations`,
was closed by exactly such an import inside `send_test_message`.) Imports under `if TYPE_CHECKING:` do
not count: they never run.

An import names its target module: `from riskgate.services import integrations` is an edge to
`riskgate.services.integrations` when that is a module, else to the package `riskgate.services` (the
name is an attribute of the package). Edges to the parent packages that Python initialises on the way
are not drawn: a package's `__init__` that imports its own submodules is the usual shape, not a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "functions"
PACKAGE = "riskgate"

Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((PACKAGE_ROOT / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement below `node`, at any depth, but those only type checkers see."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _imports(ast.Module(body=child.orelse, type_ignores=[]))
        elif isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        else:
            yield from _imports(child)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # `from . import x` in a package's __init__ is relative to the package itself.
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_modules(module: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The riskgate modules `module` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            source = _absolute(module, is_package, node)
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                for alias in node.names
            ]
        found.update(target for target in targets if target in known and target != module)
    return found


def import_graph() -> Graph:
    found = modules()
    known = set(found)
    return {
        module: imported_modules(module, path.read_text(encoding="utf-8"), path.name == "__init__.py", known)
        for module, path in found.items()
    }


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle for each strongly connected component of more than one module (Tarjan), given as a
    path through it that comes back to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_through(graph, component) for component in components]


def _cycle_through(graph: Graph, component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth first, inside the component)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & component):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle in the component {sorted(component)}")


def test_the_graph_sees_function_level_imports() -> None:
    source = (
        "import riskgate.a\n"
        "from riskgate import b\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from riskgate import c\n"
        "def f():\n"
        "    from riskgate.d import name\n"
    )
    known = {"riskgate.a", "riskgate.b", "riskgate.c", "riskgate.d", "riskgate.x"}
    found = imported_modules("riskgate.x", source, False, known)
    assert found == {"riskgate.a", "riskgate.b", "riskgate.d"}


def test_cycles_are_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_covers_the_package() -> None:
    graph = import_graph()
    assert "riskgate.services.integrations" in graph
    assert "riskgate.domain.versions" in graph["riskgate.adapters.directory"]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles among riskgate modules:\n" + "\n".join(
        " → ".join(cycle) for cycle in found
    )
