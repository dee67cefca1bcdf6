"""The project's import graph, read from the source (module-level and function-level imports).

``python tools/import_graph.py`` prints every import cycle and every lazy (in-function) import of a
standard-library or project module; tests/test_structure.py holds the tree to none of either.
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("hwsim", "physical", "edge", "agents")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, where, and whether it runs inside a function."""

    source: str
    target: str
    line: int
    lazy: bool


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every Python module of the four packages, by dotted name."""
    found = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


@functools.cache
def extension_modules(root: Path = ROOT) -> frozenset[str]:
    """The C extensions of the four packages (by their ``.c`` sources), which import no project module."""
    return frozenset(".".join(path.relative_to(root).with_suffix("").parts)
                     for pkg in PACKAGES for path in (root / pkg).rglob("*.c"))


def _absolute(module: str | None, level: int, source: str, is_package: bool) -> str:
    if level == 0:
        return module or ""
    base = source.split(".") if is_package else source.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _project_target(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a project module (a module or a package); None for a C
    extension, a leaf of the graph."""
    if name in extension_modules():
        return None
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports(root: Path = ROOT) -> list[Import]:
    """Every import in the four packages, with its target's absolute dotted name."""
    modules = module_files(root)
    leaves = modules.keys() | extension_modules(root)
    found: list[Import] = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        lazy_nodes = {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                      for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            lazy = id(node) in lazy_nodes
            if isinstance(node, ast.Import):
                found += [Import(source, a.name, node.lineno, lazy) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node.module, node.level, source, is_package)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.append(Import(source, sub if sub in leaves else base, node.lineno, lazy))
    return found


def _type_checking_lines(root: Path = ROOT) -> set[tuple[str, int]]:
    """(module, line) of imports under ``if TYPE_CHECKING:``, which never run."""
    out = set()
    for source, path in module_files(root).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                out |= {(source, n.lineno) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> project modules it imports (at run time, at any level), without self edges."""
    modules = module_files(root)
    skip = _type_checking_lines(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports(root):
        target = _project_target(imp.target, modules)
        if target and target != imp.source and (imp.source, imp.line) not in skip:
            edges[imp.source].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


# third-party libraries that ``import hwsim`` loads anyway: importing them lazily saves nothing
CORE = frozenset({"numpy", "serial"})


def heavy_reach(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the third-party libraries beyond :data:`CORE` that importing it loads (module-level
    imports, followed through project modules)."""
    modules = module_files(root)
    skip = _type_checking_lines(root)
    direct: dict[str, set[str]] = {m: set() for m in modules}
    deps: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports(root):
        if imp.lazy or (imp.source, imp.line) in skip:
            continue
        target = _project_target(imp.target, modules)
        top = imp.target.split(".")[0]
        if target:
            deps[imp.source].add(target)
        elif top not in sys.stdlib_module_names and top not in CORE and top != "__future__":
            direct[imp.source].add(top)
    reach = {m: set(v) for m, v in direct.items()}
    changed = True
    while changed:
        changed = False
        for m in modules:
            for d in deps[m]:
                if not reach[d] <= reach[m]:
                    reach[m] |= reach[d]
                    changed = True
    return reach


def lazy_light_imports(root: Path = ROOT) -> list[Import]:
    """In-function imports that load nothing heavy: the standard library, :data:`CORE`, or project
    modules whose imports stay within those. Lazy imports are for heavy third-party libraries only."""
    modules = module_files(root)
    reach = heavy_reach(root)
    out, seen = [], set()
    for imp in imports(root):
        if not imp.lazy or (imp.source, imp.line, imp.target) in seen:
            continue
        seen.add((imp.source, imp.line, imp.target))
        top = imp.target.split(".")[0]
        project = _project_target(imp.target, modules)
        if project is not None:
            light = not reach[project]
        else:
            light = top in sys.stdlib_module_names or top in CORE
        if light:
            out.append(imp)
    return out


def main() -> int:
    """Print the cycles and the light lazy imports; exit 1 if there are any."""
    found = cycles(graph())
    for comp in found:
        print("cycle:", " <-> ".join(comp))
    lazy = lazy_light_imports()
    for imp in lazy:
        print(f"lazy import: {imp.source}:{imp.line} imports {imp.target}")
    print(f"{len(found)} cycles, {len(lazy)} lazy imports of stdlib or project modules")
    return 1 if found or lazy else 0


if __name__ == "__main__":
    sys.exit(main())
