"""Which ONNX operators the TVM 0.27 Relax ONNX frontend converts, by domain and name.

The frontend looks converters up by ``op_type`` alone. Its table mixes standard operators with a few
of ONNX Runtime's ``com.microsoft`` contrib operators, and its ``Attention`` converter implements the
contrib ``com.microsoft.Attention``: a standard ``Attention`` (opset 23) sent there fails with
``KeyError: 'num_heads'``. :func:`check_onnx_ops` therefore checks (domain, op) pairs, before conversion.
"""

from __future__ import annotations

from typing import Any

from edge.errors import UnsupportedOperator
from edge.onnx_converters import LOCAL_CONVERTERS

STANDARD_DOMAINS = ("", "ai.onnx")
MS_DOMAIN = "com.microsoft"
# the contrib operators the frontend's table implements (with the contrib semantics)
MS_CONVERTED = frozenset({"Attention", "FastGelu", "BiasGelu", "MatMulInteger16", "SkipLayerNormalization",
                          "EmbedLayerNormalization"})
# standard operators whose name the frontend maps to a contrib converter with other semantics
STANDARD_SHADOWED = frozenset({"Attention"})
HANDLED_BY_GRAPH = frozenset({"If", "Constant"})  # handled by the importer itself, not the table
ONNX_TIP = ("Replace the operator with a supported equivalent, re-export at another opset, or register an "
            "ONNX rewrite in edge.onnx_rewrites.REWRITES.")


def _tables() -> tuple[frozenset[str], frozenset[str]]:
    import onnx.defs
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    converted = frozenset(_get_convert_map()) | frozenset(LOCAL_CONVERTERS)
    standard = frozenset(s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in STANDARD_DOMAINS)
    return converted, standard


def is_supported(domain: str, op: str, converted: frozenset[str], standard: frozenset[str]) -> bool:
    """True when the frontend converts ``op`` of ``domain`` with that domain's semantics."""
    if domain in STANDARD_DOMAINS:
        if op in HANDLED_BY_GRAPH:
            return True
        return op in converted and op in standard and op not in STANDARD_SHADOWED
    if domain == MS_DOMAIN:
        return op in MS_CONVERTED and op in converted
    return False


def check_onnx_ops(graph: Any) -> None:
    """Raise :class:`UnsupportedOperator` for every ONNX node (subgraphs included) whose (domain, op) the
    Relax ONNX frontend cannot convert, with the nodes that use it."""
    converted, standard = _tables()
    missing: dict[str, list[str]] = {}

    def visit(g: Any, prefix: str) -> None:
        for i, node in enumerate(g.node):
            name = f"{prefix}{node.name or f'#{i}'}"
            if not is_supported(node.domain, node.op_type, converted, standard):
                label = node.op_type if node.domain in STANDARD_DOMAINS else f"{node.domain}.{node.op_type}"
                missing.setdefault(label, []).append(name)
            for attr in node.attribute:
                if attr.HasField("g"):
                    visit(attr.g, f"{name}/{attr.name}/")
                for sub in attr.graphs:
                    visit(sub, f"{name}/{attr.name}/")

    visit(graph, "")
    if missing:
        raise UnsupportedOperator("ONNX", missing, ONNX_TIP)
