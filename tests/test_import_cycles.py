"""No import cycles among tunebench's modules (library and plugin), counting imports inside functions.

A function-level import hides a cycle from Python (it runs late, after both modules loaded) but not from a
reader: the two modules still depend on each other and cannot be understood, moved or tested apart. So
every `import` and `from ... import` anywhere in a module counts, except under `if TYPE_CHECKING:`
(never executed). An import names the module it executes: `from tunebench.a import b` is an edge to
`tunebench.a.b` when that is a module, else to `tunebench.a` (its `__init__`). The implicit import of a
parent package is not an edge: `__init__` re-exporting its children would otherwise be a "cycle".

Packages count too: with every module folded into its package (`tunebench.engines.hf` into
`tunebench.engines`; a top-level module is its own node), no two packages import each other, directly or
round a loop. Two packages that import each other cannot be read, moved or tested apart either (engines
calling scoring's model code while scoring opened engines was one).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Package name -> its folder: the library, and the pytest plugin (installed as tunebench_pytest).
PACKAGES = {"tunebench": ROOT / "src" / "tunebench", "tunebench_pytest": ROOT / "plugins"}


def _modules() -> dict[str, Path]:
    """Return module name -> file for every module of the library and the plugin."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Return every import statement in `tree`, at any depth, except those under `if TYPE_CHECKING:`."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Return the tunebench modules that `node`, found in `module`, executes."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    targets = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in known:
            targets.add(f"{base}.{alias.name}")
        elif base in known:
            targets.add(base)
    return targets


def import_graph() -> dict[str, set[str]]:
    """Return module -> the tunebench modules it imports anywhere in its body."""
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        edges = set()
        for node in _import_nodes(tree):
            edges |= _targets(node, name, is_package, known)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one cycle (a path that comes back to its start) per strongly connected group of modules."""
    groups = _strongly_connected(graph)
    return [_cycle_in(group, graph) for group in groups if len(group) > 1]


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """Return the shortest cycle through the group's first module (breadth-first inside the group)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & group):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle in strongly connected group {sorted(group)}")


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Return package -> the packages it imports: each module folded into its package under the root one."""
    folded: dict[str, set[str]] = {}
    for module, edges in graph.items():
        node = _package_of(module)
        folded.setdefault(node, set()).update(_package_of(e) for e in edges)
    return {node: edges - {node} for node, edges in folded.items()}


def _package_of(module: str) -> str:
    # tunebench.engines.hf -> tunebench.engines; tunebench.config -> itself; the root package -> itself.
    return ".".join(module.split(".")[:2])


def test_no_import_cycles_among_tunebench_modules():
    found = cycles(import_graph())
    assert not found, "import cycles (function-level imports count):\n" + "\n".join(" -> ".join(c) for c in found)


def test_graph_sees_function_level_and_relative_imports(tmp_path):
    """The detector itself: a cycle hidden in a function, through a relative import, is found."""
    source = "import x.b\ndef f():\n    from .c import thing\nif TYPE_CHECKING:\n    import x.d\n"
    tree = ast.parse(source)
    known = {"x", "x.a", "x.b", "x.c", "x.d"}
    edges = set().union(*(_targets(n, "x.a", False, known) for n in _import_nodes(tree)))
    assert edges == {"x.b", "x.c"}
    graph = {"x.a": edges, "x.b": set(), "x.c": {"x.a"}, "x.d": set(), "x": set()}
    assert cycles(graph) == [["x.a", "x.c", "x.a"]]


def test_no_import_cycles_among_tunebench_packages():
    found = cycles(package_graph(import_graph()))
    assert not found, "package import cycles (modules folded into packages):\n" + "\n".join(
        " -> ".join(c) for c in found
    )


def test_package_graph_folds_modules_into_their_packages():
    """The detector: modules that form no cycle can still make their packages import each other."""
    graph = {"t.a.x": {"t.b.y"}, "t.b.y": set(), "t.b.z": {"t.a.w"}, "t.a.w": set(), "t.c": {"t.a.x"}}
    assert package_graph(graph) == {"t.a": {"t.b"}, "t.b": {"t.a"}, "t.c": {"t.a"}}
    assert cycles(graph) == []
    assert cycles(package_graph(graph)) == [["t.a", "t.b", "t.a"]]
