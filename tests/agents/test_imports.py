"""The agents package's import structure: no import cycle (module- and function-level imports
counted), and no lazy imports of the standard library or of the project (only heavy third-party
libraries load inside functions)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"tvm", "transformers", "matplotlib", "ray", "pyvisa", "onnxruntime", "torch", "stable_baselines3",
         "sb3_contrib", "tqdm"}


def modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / "agents").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path) -> list[tuple[ast.AST, list[str], bool]]:
    """(node, imported module names, inside a function) for every import in the file."""
    tree = ast.parse(path.read_text())
    inside = {id(sub) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
              for sub in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.append((node, [a.name for a in node.names], id(node) in inside))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            out.append((node, names, id(node) in inside))
    return out


def test_no_import_cycle_in_agents():
    mods = modules()
    graph = {name: {m for _, names, _ in imports(path) for m in names if m in mods and m != name}
             for name, path in mods.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_no_lazy_stdlib_or_project_imports():
    lazy = []
    for path in modules().values():
        for node, names, inside in imports(path):
            top = names[0].split(".")[0]
            if inside and top not in HEAVY and (top in sys.stdlib_module_names or top in ("agents", "hwsim", "edge")):
                lazy.append(f"{path.relative_to(ROOT)}:{node.lineno}: {names[0]}")
    assert not lazy, lazy
