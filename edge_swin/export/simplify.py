"""Graph simplification that keeps the SwinWindowAttention local functions intact.

onnxsim first, onnxslim if onnxsim fails (both keep local functions and their
bodies, checked with onnxsim 0.8.1 and onnxslim 0.1.98); the result is accepted
only if the custom nodes, the function and the graph's inputs/outputs survived,
else the unsimplified model is kept and the reason is recorded.
"""
from __future__ import annotations

import onnx

from edge_swin.plugins.swin_window_attention.contract import attention_nodes


def _signature(model: onnx.ModelProto) -> tuple:
    nodes = len(attention_nodes(model))
    funcs = sorted((f.domain, f.name, len(f.node)) for f in model.functions)
    ios = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    # Q/DQ must survive as they are (a folded weight Q/DQ would silently turn INT8 weights back into float).
    qdq = sum(1 for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear"))
    return nodes, funcs, ios, qdq


def simplify(model: onnx.ModelProto, tools=("onnxsim", "onnxslim")) -> tuple[onnx.ModelProto, dict]:
    """Returns (model, info); info = {"tool": name or None, "attempts": [{"tool", "ok", "error"}]}."""
    before = _signature(model)
    attempts = []
    for tool in tools:
        try:
            if tool == "onnxsim":
                import onnxsim

                out, ok = onnxsim.simplify(model)
                if not ok:
                    raise RuntimeError("onnxsim's own check failed")
            elif tool == "onnxslim":
                import onnxslim

                out = onnxslim.slim(model)
            else:
                raise ValueError(f"unknown simplifier {tool}")
            after = _signature(out)
            if after != before:
                raise RuntimeError(f"changed the custom op, its function or the Q/DQ nodes: {before} -> {after}")
        except Exception as e:  # a simplifier failing is not an export failure: keep the graph as exported
            attempts.append({"tool": tool, "ok": False, "error": f"{type(e).__name__}: {e}"[:500]})
            continue
        attempts.append({"tool": tool, "ok": True, "error": None})
        return out, {"tool": tool, "attempts": attempts}
    return model, {"tool": None, "attempts": attempts}
