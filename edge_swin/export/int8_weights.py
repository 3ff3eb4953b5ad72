"""Store quantized weights as INT8 initializers: `w_fp32 -> QuantizeLinear -> DequantizeLinear` becomes `w_int8 -> DequantizeLinear`.

Why: the exporter writes each weight quantizer as a Q/DQ pair on the FP32
weight (what the fake-quant model computes), so the "INT8" file carried every
weight in FP32 and was no smaller than the FP32 one. QuantizeLinear of a
constant is a constant; storing its result as int8 is the layout TensorRT's
explicit quantization documents for weights (DQ-only on an int8 initializer)
and ONNX Runtime runs it the same. The numbers do not change: the int8 values
are exactly what QuantizeLinear computes (round half to even, saturate to
[-128, 127], zero point 0 as our quantizers use).

FP8 files (a `float8e4m3fn` zero point) get the same treatment: the weight becomes a float8e4m3fn initializer
(E4M3 of w / scale, round half to even, saturated at +-448, as QuantizeLinear with saturate=1) behind its
DequantizeLinear: a quarter of the FP32 bytes, and the form TensorRT's explicit FP8 quantization reads.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from edge_swin.export.errors import ExportError
from edge_swin.quant.scales import FP8_MAX  # saturation bound of QuantizeLinear to float8e4m3fn (saturate=1)


def _quantize(w: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int) -> np.ndarray:
    if scale.ndim == 1 and scale.size > 1:  # per channel along `axis`
        shape = [1] * w.ndim
        shape[axis] = scale.size
        scale = scale.reshape(shape)
        zero_point = None if zero_point is None else zero_point.reshape(shape)
    zp = 0 if zero_point is None else zero_point.astype(np.int32)
    q = np.rint(w.astype(np.float64) / scale.astype(np.float64)) + zp  # np.rint: round half to even, as ONNX
    return np.clip(q, -128, 127).astype(np.int8)


def _quantize_fp8(w: np.ndarray, scale: np.ndarray, axis: int, name: str) -> onnx.TensorProto:
    """float8e4m3fn initializer of w / scale (per channel along `axis` for a 1-D scale), saturated at +-448."""
    import torch  # its float8_e4m3fn cast rounds half to even, as ONNX QuantizeLinear does

    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * w.ndim
        shape[axis] = scale.size
        scale = scale.reshape(shape)
    q = torch.from_numpy(np.clip(w.astype(np.float32) / scale.astype(np.float32), -FP8_MAX, FP8_MAX))
    raw = q.to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    return onnx.helper.make_tensor(name, onnx.TensorProto.FLOAT8E4M3FN, list(w.shape), raw.tobytes(), raw=True)


def store_int8_weights(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Fold every QuantizeLinear of a float initializer into an int8 initializer; returns (model, folded count)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}

    folded, drop = 0, []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in inits:
            continue
        if any(i and i not in inits for i in node.input[1:]):
            continue  # a scale computed at run time: not a constant, leave it
        users = consumers.get(node.output[0], [])
        if node.output[0] in graph_outputs or not users or any(u.op_type != "DequantizeLinear" for u in users):
            continue
        zp_init = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if zp_init is not None and zp_init.data_type == onnx.TensorProto.FLOAT8E4M3FN:
            w = numpy_helper.to_array(inits[node.input[0]])
            name = f"{node.input[0]}_fp8"
            graph.initializer.append(_quantize_fp8(w, numpy_helper.to_array(inits[node.input[1]]),
                                                   axis if axis >= 0 else axis + w.ndim, name))
            for user in users:
                user.input[0] = name
            drop.append(node)
            folded += 1
            continue
        zp = numpy_helper.to_array(zp_init) if zp_init is not None else None
        if zp is not None and zp.dtype != np.int8:
            raise ExportError(f"weight quantizer {node.name or node.output[0]}: zero point type {zp.dtype}, "
                              "expected int8 (symmetric INT8 is all TensorRT runs)")
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        w = numpy_helper.to_array(inits[node.input[0]])
        q = _quantize(w, numpy_helper.to_array(inits[node.input[1]]), zp, axis if axis >= 0 else axis + w.ndim)
        name = f"{node.input[0]}_int8"
        graph.initializer.append(numpy_helper.from_array(q, name))
        for user in users:
            user.input[0] = name
        drop.append(node)
        folded += 1
    for node in drop:
        graph.node.remove(node)
    # Float weights nothing reads any more (the Q nodes were their only consumers) go too.
    still_read = {i for n in graph.node for i in n.input} | {i for f in model.functions for n in f.node for i in n.input}
    for t in list(graph.initializer):
        if t.name not in still_read and t.name not in graph_outputs:
            graph.initializer.remove(t)
    return model, folded


def feed_fp8_weights_to_nodes(model: onnx.ModelProto, nodes) -> int:
    """The FP8 SwinWindowAttention nodes take their weights (inputs 1 and 3) as the float8e4m3fn initializers
    themselves: a `DequantizeLinear(w_fp8)` in front of them is bypassed (and dropped when nothing else reads it),
    since the node's body dequantizes them. Returns how many inputs were rewired; ExportError if a weight is not
    such a pair (the plugin would see float weights and take the node for an INT8 one)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    rewired, drop = 0, []
    for node in nodes:
        for idx in (1, 3):
            dq = producer.get(node.input[idx])
            source = inits.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if source is None or source.data_type != onnx.TensorProto.FLOAT8E4M3FN:
                raise ExportError(f"FP8 node {node.name}: input {idx} is not a DequantizeLinear of a float8e4m3fn "
                                  "weight; the weights must be quantized by the swin_fp8 recipe")
            node.input[idx] = source.name
            drop.append(dq)
            rewired += 1
    still_read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for dq in {id(d): d for d in drop}.values():
        if dq.output[0] not in still_read:
            graph.node.remove(dq)
    return rewired
