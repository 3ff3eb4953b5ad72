"""convert(model, "fp8"): the FP8 runtime (the FP8 node, fp8 GEMMs for the other quantized layers) against the
modelopt FP8 fake-quant model, its custom ops under opcheck, and torch.compile tracing them in one graph.

The kernels run under Triton's interpreter here. Every quantization is modelopt's (e4m3, round half to even,
per-tensor amax / 448; kernels/fp8.py; the node and each GEMM match their fake-quant modules to fp16 precision:
tests/plugins/test_fp8_node.py), so what differs from the fake-quant model is fp16 io (the activations between
the kernels and the biases are fp16): a value that fp16 rounding moves across an e4m3 midpoint lands one step
(1/16 of its magnitude) away, and on this random-weight swin_nano such flips cascade. The bar is the fake-quant
model's own sensitivity: its logits under input noise of fp16's size (2**-11). Measured (printed with -s): the
runtime 0.095 of the logit range from the fake-quant model, the fake-quant model 0.082 from itself under that
noise, 0.123 from FP32.
"""
from __future__ import annotations

import pytest
import torch

from edge_swin.errors import EdgeSwinError
from edge_swin.runtime import convert
from edge_swin.runtime.modules import Fp8Linear, Fp8PatchConv, FusedWindowAttention
from tests.runtime.test_runtime_convert import _rel


def test_fp8_runtime_matches_fake_quant(nano, nano_fp8, images):
    runtime = convert(nano_fp8, "fp8")
    kinds = [type(m) for m in runtime.modules()]
    assert kinds.count(FusedWindowAttention) == 4 and kinds.count(Fp8PatchConv) == 1
    assert kinds.count(Fp8Linear) == 4 * 2 + 1  # fc1 + fc2 per block, one patch merging (Fp8PatchConv excluded)
    assert all(m.fp8 for m in runtime.modules() if isinstance(m, FusedWindowAttention))
    noise = 1 + 2.0 ** -11 * torch.randn(images.shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y, ref, fp32 = runtime(images), nano_fp8(images), nano(images)
        sensitivity = _rel(nano_fp8(images * noise), ref)  # the fake-quant model under fp16-sized input noise
    print(f"fp8 runtime vs fake quant: {_rel(y, ref):.3f} of the logit range; fake quant under 2**-11 input noise: "
          f"{sensitivity:.3f}; fake quant vs FP32: {_rel(ref, fp32):.3f}")
    # no class check: at this error no image's top-2 margin is decided (assert_same_class_where_decided would
    # test nothing); the node's exactness is held by tests/plugins/test_fp8_node.py
    assert y.dtype == torch.float32 and _rel(y, ref) < 1.5 * sensitivity


def test_fp8_needs_an_fp8_model(nano, nano_int8, nano_fp8):
    with pytest.raises(EdgeSwinError, match="swin_fp8 recipe; this one is int8"):
        convert(nano_int8, "fp8")
    with pytest.raises(EdgeSwinError, match="quantized for it"):
        convert(nano, "fp8")
    with pytest.raises(EdgeSwinError, match="swin_int8 recipe; this one is fp8"):
        convert(nano_fp8, "int8")
    with pytest.raises(EdgeSwinError, match="dtype=torch.float16"):
        convert(nano_fp8, "fp8", dtype=torch.float32)


def test_fp8_ops_opcheck(nano_fp8):
    runtime = convert(nano_fp8, "fp8")
    node = next(m for m in runtime.modules() if isinstance(m, FusedWindowAttention) and m.mask is not None)
    x = torch.randn(1, 8, 8, 64, generator=torch.Generator().manual_seed(0)).half()
    scales = [getattr(node, f"scale_bits_{i}").view(torch.float32) for i in range(8)]
    torch.library.opcheck(torch.ops.edge_swin.window_attention_fp8.default,
                          (x, node.qkv_w, node.qkv_b, node.proj_w, node.proj_b, node.rel_bias,
                           node.mask, node.shift, node.scale, scales))
    lin = next(m for m in runtime.modules() if type(m) is Fp8Linear)
    xl = torch.randn(3, lin.weight.shape[1], generator=torch.Generator().manual_seed(1)).half()
    torch.library.opcheck(torch.ops.edge_swin.linear_fp8.default,
                          (xl, lin.weight, lin.bias, lin.x_scale_bits.view(torch.float32),
                           lin.w_scale_bits.view(torch.float32)))


def test_torch_compile_traces_the_fp8_ops_without_a_graph_break(nano_fp8, images):
    from torch._dynamo.backends.common import aot_autograd

    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return gm

    runtime = convert(nano_fp8, "fp8")
    torch._dynamo.reset()
    compiled = torch.compile(runtime, backend=aot_autograd(fw_compiler=record), fullgraph=True)
    with torch.no_grad():
        y = compiled(images[:1])
        eager = runtime(images[:1])
    assert len(graphs) == 1
    targets = [str(n.target) for n in graphs[0].graph.nodes if n.op == "call_function"]
    assert sum(t.startswith("edge_swin.window_attention_fp8") for t in targets) == 4
    assert sum(t.startswith("edge_swin.linear_fp8") for t in targets) == 4 * 2 + 2
    torch.testing.assert_close(y, eager, rtol=0, atol=0)
