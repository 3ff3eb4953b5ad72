"""The graph report written beside every exported file (`<name>.report.json`)."""
from __future__ import annotations

import os
from collections import Counter

import onnx

from edge_swin.plugins.swin_window_attention.contract import DOMAIN, OP_TYPE, attention_nodes


def _qdq_pairs(nodes) -> int:
    """QuantizeLinear nodes whose output feeds a DequantizeLinear (the Q/DQ pairs TensorRT fuses into INT8)."""
    dq_inputs = Counter(n.input[0] for n in nodes if n.op_type == "DequantizeLinear")
    return sum(dq_inputs.get(n.output[0], 0) for n in nodes if n.op_type == "QuantizeLinear")


def _key(n) -> str:
    return f"{n.domain}::{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type


def graph_report(model: onnx.ModelProto, path: str | os.PathLike | None = None) -> dict:
    g = model.graph
    funcs = {f"{f.domain}::{f.name}": f for f in model.functions}
    calls = attention_nodes(model)

    def shape(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    def dtype(v):
        return onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)

    body_nodes = [n for f in model.functions for n in f.node]
    return {
        "file": os.fspath(path) if path else None,
        "file_bytes": os.path.getsize(path) if path and os.path.exists(path) else model.ByteSize(),
        "ir_version": model.ir_version,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "inputs": [{"name": v.name, "shape": shape(v), "dtype": dtype(v)} for v in g.input],
        "outputs": [{"name": v.name, "shape": shape(v), "dtype": dtype(v)} for v in g.output],
        "nodes": len(g.node),
        "nodes_by_type": dict(sorted(Counter(_key(n) for n in g.node).items())),
        "custom_op_type": f"{DOMAIN}::{OP_TYPE}",
        "custom_op_count": len(calls),
        "custom_op_nodes": [
            {"name": n.name, "inputs": len([i for i in n.input if i]),
             **{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}} for n in calls],
        "qdq_pairs": _qdq_pairs(g.node),
        "qdq_pairs_in_functions": _qdq_pairs(body_nodes),
        # weights stored as int8 initializers read by a DequantizeLinear (no Q node: the quantization is done)
        "int8_weights": sum(1 for t in g.initializer if t.data_type == onnx.TensorProto.INT8
                            and any(n.op_type == "DequantizeLinear" and n.input[0] == t.name for n in g.node)),
        "fp8_weights": sum(1 for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT8E4M3FN
                           and any(n.op_type == "DequantizeLinear" and n.input[0] == t.name for n in g.node)),
        "functions": {k: {"nodes": len(f.node), "opsets": {(o.domain or "ai.onnx"): o.version for o in f.opset_import},
                          "nodes_by_type": dict(sorted(Counter(_key(n) for n in f.node).items()))}
                      for k, f in funcs.items()},
        "initializers": len(g.initializer),
        "initializer_bytes": sum(t.ByteSize() for t in g.initializer),
    }


def format_report(report: dict) -> str:
    top = ", ".join(f"{k} {v}" for k, v in sorted(report["nodes_by_type"].items(), key=lambda kv: -kv[1])[:8])
    return (f"{report['file']}: {report['file_bytes'] / 1e6:.2f} MB, {report['nodes']} nodes ({top}), "
            f"{report['custom_op_count']} x {report['custom_op_type']}, Q/DQ pairs {report['qdq_pairs']} "
            f"(+{report['qdq_pairs_in_functions']} in functions), opsets {report['opsets']}")
