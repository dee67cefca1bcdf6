"""The project's structure: no import cycles, lazy imports only for heavy third-party libraries (ruff runs in
.ci/run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
import_graph = sys.modules.setdefault("import_graph", importlib.util.module_from_spec(spec))
spec.loader.exec_module(import_graph)


def test_the_import_graph_has_no_cycle():
    assert import_graph.cycles(import_graph.graph()) == []


def test_the_checker_sees_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "hwsim"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from hwsim.b import g\n\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from hwsim.a import f\n    return f\n")
    for other in import_graph.PACKAGES[1:]:
        (tmp_path / other).mkdir()
        (tmp_path / other / "__init__.py").write_text("")
    assert import_graph.cycles(import_graph.graph(tmp_path)) == [["hwsim.a", "hwsim.b"]]
    lazy = import_graph.lazy_light_imports(tmp_path)
    assert [(i.source, i.target) for i in lazy] == [("hwsim.b", "hwsim.a")]


def test_lazy_imports_are_for_heavy_libraries_only():
    lazy = [f"{i.source}:{i.line} imports {i.target}" for i in import_graph.lazy_light_imports()]
    assert lazy == []
