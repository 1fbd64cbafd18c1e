"""The import graph of netcalc, lazy imports (inside functions) included: no cycle, and the
executor imports nothing of netcalc outside netcalc/executor/.

Every module is parsed with `ast` (nothing is imported); `from . import x` and `from .a import b`
are resolved against the module's package, and `from pkg import name` counts as importing
`pkg.name` when that is a module, else `pkg` itself. Importing `a.b.c` also runs the packages on
the way, so it is an edge to `a.b` as well — except to the importing module's own packages (which
have started running before it) and to `netcalc` itself, whose `__init__.py` holds only the version
and imports nothing (a test checks that it stays so).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "netcalc"


def module_names() -> dict[str, Path]:
    """Every module of netcalc by dotted name (a package by its own name, not `.__init__`)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(node: ast.AST, module: str, is_package: bool, known: set) -> list[str]:
    """The netcalc modules one import statement makes Python run."""
    found: list[str] = []
    if isinstance(node, ast.Import):
        found = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            base_parts = package[: len(package) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        found = [base]
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in known:
                found.append(sub)
    # the module's own packages have started running before it does: importing from them is no edge
    mine = module.split(".")
    own = {".".join(mine[:i]) for i in range(1, len(mine) + 1)}
    out = []
    for name in found:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            prefix = ".".join(parts[:i])
            if prefix in known and prefix not in own and prefix != "netcalc":
                out.append(prefix)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the netcalc modules it imports, anywhere in its text."""
    modules = module_names()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_targets(node, name, is_package, known))
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a module importing itself),
    by Tarjan's algorithm (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        out.append(sorted(component))
    return out


def test_the_walker_sees_lazy_and_relative_imports():
    """The walker itself: a lazy relative import inside a function is an edge (cli imports the
    signal module only inside its commands), and `from . import x` names the module x."""
    graph = import_graph()
    assert "netcalc.signal" in graph["netcalc.cli"]  # `from .signal import advise` inside a command
    assert "netcalc.render" in graph["netcalc.cli"]  # `from . import render`
    assert "netcalc.executor.kernels" in graph["netcalc.executor.run"]  # `from .kernels import KERNELS`
    assert "netcalc.layers.base" in graph["netcalc.layers.conv"]  # `from .base import …` inside netcalc.layers
    assert "netcalc.layers" not in graph["netcalc.layers.conv"]  # its own package: running already
    assert "netcalc.layers" in graph["netcalc.analyze"]  # `from .layers.base import …` runs layers/__init__ too


def test_the_cycle_finder_finds_a_cycle():
    """A hand-made graph a → b → c → a plus d → a: one cycle {a, b, c}; d is not in it."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_root_package_imports_nothing():
    """What makes leaving out the edge to `netcalc` (run by every import of netcalc.x) sound."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles (lazy imports included):\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_the_executor_imports_only_itself():
    """netcalc/executor/ is an independent path (its figures check the engine's): it imports only
    the standard library, NumPy and its own modules, never the rest of netcalc."""
    graph = import_graph()
    bad = {
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name.startswith("netcalc.executor")
        for target in targets
        if not target.startswith("netcalc.executor")
    }
    assert not bad, sorted(bad)
