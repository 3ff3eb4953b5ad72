"""INT8 export with an FP16 graph (high_precision_dtype="fp16", modelopt's name): what a strongly typed INT8 engine
(TensorRT 11, TensorRT-RTX) runs in FP16 instead of FP32.

The graph: input and output float16; the main graph's Q/DQ on float16 tensors with float16 scales (opset 19);
each SwinWindowAttention node takes float16 tensors (inputs 0-6) and the float32 scales (7-14) and its body casts
to float32 around its Q/DQ. Numbers: ONNX Runtime's CPU kernels run the file (fp16 Q/DQ, MatMul, LayerNorm,
...) against the fake-quant PyTorch model in float32: the difference is the FP16 rounding of the activations, so
it is bounded by 3% of the largest logit (as the pipeline's export stage requires; measured 0.4-1.3% here, where
this random model's logits are ~0.16) and top-1 must agree.
TensorRT-RTX parses and builds it (from the function body: no plugin here).
"""
from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto
from torch.utils.data import DataLoader, TensorDataset

from edge_swin.export import DOMAIN, OP_TYPE, ExportError, export_onnx
from pipelines.stages.export import MAX_RELATIVE_ERROR
from tests.helpers import needs_trtrtx


def ort_run(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # Q/DQ as float arithmetic
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="module")
def nano():
    """(fp32, int8) swin_nano, max-calibrated on 16 seeded random images with the swin_int8 placement."""
    import edge_swin.quant as quant
    from edge_swin.models import create_swin

    torch.manual_seed(0)
    fp32 = create_swin("swin_nano", num_classes=10).eval()
    model = copy.deepcopy(fp32)
    calib = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    loader = DataLoader(TensorDataset(calib, torch.zeros(16, dtype=torch.long)), batch_size=16)
    quant.calibrate(model, loader, "max", progress=False)
    return fp32, model.eval()


@pytest.fixture(scope="module")
def fp16_graph(nano, tmp_path_factory):
    return export_onnx(nano[1], tmp_path_factory.mktemp("int8fp16") / "nano_int8_fp16.onnx", precision="int8",
                       dynamic_batch=True, high_precision_dtype="fp16")


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    out = {v.name: v.type.tensor_type.elem_type for v in values}
    out.update({t.name: t.data_type for t in model.graph.initializer})
    return out


def test_graph_is_fp16_around_int8(nano, fp16_graph):
    model = onnx.load(str(fp16_graph.path))
    assert fp16_graph.opset == 19 and fp16_graph.report["high_precision_dtype"] == "fp16"
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [TensorProto.FLOAT16]
    assert [o.type.tensor_type.elem_type for o in model.graph.output] == [TensorProto.FLOAT16]
    types = _types(model)
    nodes = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    assert len(nodes) == 4
    for node in nodes:
        assert [types[i] for i in node.input[:7]] == [TensorProto.FLOAT16] * 7, node.name
        assert [types[i] for i in node.input[7:]] == [TensorProto.FLOAT] * 8, node.name
        assert types[node.output[0]] == TensorProto.FLOAT16
    # the main graph's Q/DQ quantize fp16 tensors with fp16 scales; weights stay int8 initializers
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq and all(types[n.input[1]] == TensorProto.FLOAT16 for n in qdq)
    assert fp16_graph.report["int8_weights"] == 1 + 1 + 4 * 4
    # no float32 compute outside the function bodies
    float_ops = [n.op_type for n in model.graph.node
                 if any(types.get(o) == TensorProto.FLOAT for o in n.output)]
    assert float_ops == [], float_ops
    body = model.functions[0]
    assert [n.op_type for n in body.node[:7]] == ["Cast"] * 7 and body.node[-1].op_type == "CastLike"


@pytest.mark.parametrize("batch", [1, 8])
def test_onnx_runtime_matches_the_fake_quant_model(nano, fp16_graph, batch):
    fp32, int8 = nano
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(30 + batch))
    with torch.no_grad():
        ref, ref32 = int8(x).numpy(), fp32(x).numpy()
    out = ort_run(fp16_graph.path, x.numpy().astype(np.float16))
    assert out.dtype == np.float16
    err = float(np.abs(out.astype(np.float32) - ref).max())
    rel = err / float(np.abs(ref).max())
    print(f"swin_nano batch {batch}, INT8 with an FP16 graph: max|ORT - fake-quant| {err:.2e} ({rel:.2e} of max|logit|); "
          f"quantization error max|fake-quant - FP32| {float(np.abs(ref - ref32).max()):.2e}")
    assert rel <= MAX_RELATIVE_ERROR["int8_fp16"], (err, rel)
    assert (out.argmax(1) == ref.argmax(1)).all()


def test_fp16_graph_errors(nano, tmp_path):
    fp32, int8 = nano
    with pytest.raises(ExportError, match="high_precision_dtype='fp16' is the float type of an INT8 graph"):
        export_onnx(fp32, tmp_path / "a.onnx", precision="fp32", high_precision_dtype="fp16")
    with pytest.raises(ExportError, match="use one of fp32, fp16"):
        export_onnx(int8, tmp_path / "b.onnx", precision="int8", high_precision_dtype="bf16")
    with pytest.raises(ExportError, match="opset 18: an INT8 graph in FP16 needs opset >= 19"):
        export_onnx(int8, tmp_path / "c.onnx", precision="int8", high_precision_dtype="fp16", opset=18)
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.trtrtx
@needs_trtrtx
def test_trtrtx_parses_and_builds_the_fp16_graph(fp16_graph, tmp_path):
    """Strongly typed (TensorRT-RTX always is): the network's input is HALF, the Q/DQ are there. Built the way users
    build, with edge_swin.trt.builder.build_engine for the rtx target (the layer counts from its report)."""
    from collections import Counter

    from edge_swin.trt.builder import build_engine

    built = build_engine(fp16_graph.path, tmp_path / "nano_int8_fp16.engine", "rtx", precision="int8", quiet=True)
    types = Counter(row["type"] for row in built.layers["layers"])
    qdq = built.layers["qdq_layers"]
    print(f"TensorRT-RTX INT8 swin_nano with an FP16 graph: built in {built.metadata['built']['seconds']:.1f} s, "
          f"layers {dict(types)}, Q/DQ {qdq}")
    assert built.engine.stat().st_size > 0
    assert qdq["quantize"] >= 6 * 4 and qdq["dequantize"] >= 8 * 4
    assert types["CAST"] >= 8 * 4  # the node bodies' casts to float32 and back
