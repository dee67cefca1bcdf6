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
from edge.onnx_rewrites import constant_value

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


def wrong_form(node: Any, graph: Any) -> str | None:
    """Why the frontend converts this node of ``graph`` wrongly in a way ONNX Runtime shares (so that
    verification cannot catch it), or None. Known: cubic ``Resize`` downsampling by scales, whose TVM
    kernel differs from the ONNX definition in every coordinate mode (the conformance bench: four cases
    refused by verification, and align_corners, where ONNX Runtime gives the same wrong values)."""
    if node.op_type != "Resize" or node.domain not in STANDARD_DOMAINS:
        return None
    mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "nearest")
    scales = constant_value(graph, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if mode == "cubic" and scales is not None and scales.size and float(scales.min()) < 1.0:
        return "cubic, downsampling by scales"
    return None


def check_onnx_ops(graph: Any) -> None:
    """Raise :class:`UnsupportedOperator` for every ONNX node (subgraphs included) whose (domain, op) the
    Relax ONNX frontend cannot convert, or converts wrongly (:func:`wrong_form`), with the nodes that use
    it."""
    converted, standard = _tables()
    missing: dict[str, list[str]] = {}

    def visit(g: Any, prefix: str) -> None:
        for i, node in enumerate(g.node):
            name = f"{prefix}{node.name or f'#{i}'}"
            if not is_supported(node.domain, node.op_type, converted, standard):
                label = node.op_type if node.domain in STANDARD_DOMAINS else f"{node.domain}.{node.op_type}"
                missing.setdefault(label, []).append(name)
            elif (why := wrong_form(node, g)) is not None:
                missing.setdefault(f"{node.op_type} ({why})", []).append(name)
            for attr in node.attribute:
                if attr.HasField("g"):
                    visit(attr.g, f"{name}/{attr.name}/")
                for sub in attr.graphs:
                    visit(sub, f"{name}/{attr.name}/")

    visit(graph, "")
    if missing:
        raise UnsupportedOperator("ONNX", missing, ONNX_TIP)
