"""FP8 (E4M3) export of `swin_fp8`-calibrated models: standard ONNX Q/DQ that ONNX Runtime runs on a CPU,
parity with the fake-quant PyTorch model, the inlined copy, and the TensorRT-RTX build.

Parity bound, as for INT8 (test_int8_export.py): ORT computes x / scale where modelopt computes
x * (448 / amax), so a value within an ulp of an E4M3 rounding boundary may land one FP8 step apart; the model
error must stay small against the quantization error itself (<= 15% of max |fake-quant - FP32|, measured ~7%
on this seed) and <= 1% of max |logit|.
"""
from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from edge_swin.export import ExportError, export_onnx
from edge_swin.plugins.swin_window_attention.contract import INT8_INPUTS
from tests.export.helpers import make_block
from tests.helpers import needs_trtrtx

NUM_CLASSES = 10
FP8 = onnx.TensorProto.FLOAT8E4M3FN


def ort_run(path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


@pytest.fixture(scope="module")
def quant():
    import edge_swin.quant as q  # modelopt's import is slow: once per module

    return q


@pytest.fixture(scope="module")
def nano(quant):
    """(fp32, fp8) swin_nano, max-calibrated on 16 seeded random images with the swin_fp8 recipe."""
    from edge_swin.models import create_swin

    torch.manual_seed(0)
    fp32 = create_swin("swin_nano", num_classes=NUM_CLASSES).eval()
    model = copy.deepcopy(fp32)
    calib = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    quant.calibrate(model, DataLoader(TensorDataset(calib, torch.zeros(16, dtype=torch.long)), batch_size=16),
                    "max", recipe="swin_fp8", progress=False)
    return fp32, model.eval()


@pytest.fixture(scope="module")
def nano_onnx(nano, tmp_path_factory):
    return export_onnx(nano[1], tmp_path_factory.mktemp("fp8") / "nano_fp8.onnx", precision="fp8", dynamic_batch=True)


def _qdq_nodes(mp: onnx.ModelProto):
    graphs = [mp.graph.node, *(f.node for f in mp.functions)]
    return [n for g in graphs for n in g if n.op_type in ("QuantizeLinear", "DequantizeLinear")]


def test_fp8_file_is_standard_qdq(nano_onnx):
    mp = onnx.load(str(nano_onnx.path))
    assert nano_onnx.opset >= 19
    assert not [n for n in mp.graph.node if n.domain == "trt" or "FP8" in n.op_type]  # no modelopt TRT_FP8* ops
    inits = {t.name: t for t in mp.graph.initializer}
    consts = {n.output[0]: n.attribute[0].t for f in mp.functions for n in f.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    zero_points = [n.input[2] for n in _qdq_nodes(mp)]
    assert zero_points and all((inits.get(z) or consts[z]).data_type == FP8 for z in zero_points)
    body = [n for n in mp.functions[0].node if n.op_type == "QuantizeLinear"]
    assert len(body) == 6  # qkv input, q, k, softmax, v, proj input
    assert len(mp.functions[0].input) == len(INT8_INPUTS)  # the same 15-input signature as INT8
    fp8_weights = [t for t in mp.graph.initializer if t.data_type == FP8 and len(t.dims) >= 2]
    assert len(fp8_weights) >= 1 + 4 * 4 + 1  # patch embedding, qkv/proj/fc1/fc2 of 4 blocks, patch merging
    assert nano_onnx.report["fp8"]["qdq"].startswith("float8e4m3fn")
    # the node takes its weights as the e4m3 initializers themselves (how the plugin tells FP8 from INT8), per tensor
    nodes = [n for n in mp.graph.node if n.op_type == "SwinWindowAttention"]
    assert len(nodes) == 4 and all(inits[n.input[i]].data_type == FP8 for n in nodes for i in (1, 3))
    assert all(not inits[n.input[i]].dims == [] and len(inits[n.input[j]].dims) == 0 for n in nodes
               for i, j in ((1, 8), (3, 14)))


def test_onnxruntime_runs_fp8_like_fake_quant(nano, nano_onnx):
    fp32, model = nano
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref, float_ref = model(x).numpy(), fp32(x).numpy()
    out = ort_run(nano_onnx.path, x)
    err, quant_err = np.abs(out - ref).max(), np.abs(ref - float_ref).max()
    print(f"FP8 ORT vs fake quant {err:.2e}; fake quant vs FP32 {quant_err:.2e}; max |logit| {np.abs(ref).max():.3f}")
    assert quant_err > 0  # the FP8 model is not the FP32 one
    assert err <= 0.15 * quant_err
    assert err <= 0.01 * np.abs(ref).max()
    assert (out.argmax(1) == ref.argmax(1)).all()


def test_inlined_copy_runs_the_same(nano_onnx, tmp_path):
    from edge_swin.trt.builder import onnx_for_parser

    inlined = tmp_path / "nano_fp8.inlined.onnx"
    inlined.write_bytes(onnx_for_parser(nano_onnx.path, inline_functions=True))
    assert not onnx.load(str(inlined)).functions
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    np.testing.assert_allclose(ort_run(inlined, x), ort_run(nano_onnx.path, x), rtol=0, atol=1e-5)


def test_fp8_block_matches_fake_quant(quant, tmp_path):
    """One padded, shifted block: the node's FP8 body against the fake-quant block."""
    blk = make_block(feat=(7, 9), window=4, shift=True, seed=3)
    blk = quant.quantize_block(blk, torch.randn(8, 7, 9, blk.dim, generator=torch.Generator().manual_seed(4)),
                               recipe="swin_fp8")
    res = export_onnx(blk, tmp_path / "blk_fp8.onnx", precision="fp8")
    x = torch.randn(1, 7, 9, blk.dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ref = blk(x).numpy()
    out = ort_run(res.path, x)
    assert np.abs(out - ref).max() <= 0.02 * np.abs(ref).max()


def test_precision_must_match_the_quantizers(nano, tmp_path):
    with pytest.raises(ExportError, match="quantizers are FP8.*precision='fp8'"):
        export_onnx(nano[1], tmp_path / "x.onnx", precision="int8")
    with pytest.raises(ExportError, match="needs opset >= 19"):
        export_onnx(nano[1], tmp_path / "x.onnx", precision="fp8", opset=18)
    with pytest.raises(ExportError, match="needs a modelopt-quantized"):
        export_onnx(nano[0], tmp_path / "x.onnx", precision="fp8")
    assert not list(tmp_path.iterdir())  # no half-written artifact


@pytest.mark.trtrtx
@needs_trtrtx
def test_trtrtx_builds_the_fp8_file(nano, tmp_path):
    """The FP16-graph FP8 file (what a strongly typed FP8 engine is built from) parses and builds on a CPU."""
    from edge_swin.trt.builder import build_engine

    res = export_onnx(nano[1], tmp_path / "nano_fp8_fp16.onnx", precision="fp8", dynamic_batch=True,
                      high_precision_dtype="fp16")
    built = build_engine(res.path, tmp_path / "nano_fp8.engine", "rtx", precision="fp8", quiet=True)
    counts = built.layers["counts"]
    print(f"TensorRT-RTX FP8: layers {counts}, engine {built.metadata['engine']['bytes']} bytes")
    assert counts.get("fp8", 0) >= 4 * 4  # the GEMMs outside the nodes and inside their inlined bodies
    assert counts.get("fp16", 0) > 0 and "int8" not in counts
