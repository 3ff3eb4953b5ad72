"""The runtime's custom ops: registration (opcheck), arithmetic, and torch.compile tracing them in one graph."""
from __future__ import annotations

import pytest
import torch

import edge_swin.runtime.ops  # noqa: F401  (registers torch.ops.edge_swin.*)
from edge_swin.quant.scales import QParams, fake_quant
from edge_swin.models.window_attention import WindowAttention


def _block(shift: bool) -> WindowAttention:
    torch.manual_seed(3)
    block = WindowAttention(64, 2, (8, 8), window_size=4, shift=shift).eval()
    with torch.no_grad():
        block.relative_position_bias_table.normal_(0, 1)
    return block


def _fp16_args(block, x):
    from edge_swin.runtime.modules import FusedWindowAttention

    node = FusedWindowAttention(block, x.dtype)
    return (x, node.qkv_w, node.qkv_b, node.proj_w, node.proj_b, node.rel_bias, node.mask, node.shift, node.scale)


@pytest.mark.parametrize("shift", [False, True], ids=["w-msa", "sw-msa"])
def test_window_attention_op_matches_the_block(shift):
    block = _block(shift)
    x = torch.randn(2, 8, 8, 64, generator=torch.Generator().manual_seed(0))
    y = torch.ops.edge_swin.window_attention(*_fp16_args(block, x))
    with torch.no_grad():
        ref = block(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert float((y - ref).abs().max() / ref.abs().max()) < 2e-3  # fp16 products; measured ~3e-4


def test_window_attention_op_opcheck():
    """Schema, fake (meta) implementation and dispatch registration, on fp16 tensors (the io the runtime uses)."""
    block = _block(True)
    x = torch.randn(1, 8, 8, 64, generator=torch.Generator().manual_seed(0)).half()
    torch.library.opcheck(torch.ops.edge_swin.window_attention.default, _fp16_args(block, x))


def _quantized_block():
    import modelopt.torch.quantization as mtq

    import edge_swin.quant as quant

    block = _block(True)
    cfg = quant.swin_int8_config()
    cfg = {**cfg, "quant_cfg": [{**e, "quantizer_name": e["quantizer_name"].replace("*.attn.", "")}
                                for e in cfg["quant_cfg"]]}
    quant.insert_quantizers(block, cfg)
    calib = torch.randn(4, 8, 8, 64, generator=torch.Generator().manual_seed(1))
    mtq.calibrate(block, algorithm="max", forward_loop=lambda m: m(calib))
    return block.eval()


def test_window_attention_int8_op_opcheck_and_fake_quant_parity():
    from edge_swin.quant.scales import block_scales
    from edge_swin.runtime.modules import FusedWindowAttention

    block = _quantized_block()
    node = FusedWindowAttention(block, torch.float32, block_scales(block))
    x = torch.randn(1, 8, 8, 64, generator=torch.Generator().manual_seed(0))
    scales = [getattr(node, f"scale_bits_{i}").view(torch.float32) for i in range(8)]
    args = (x, node.qkv_w, node.qkv_b, node.proj_w, node.proj_b, node.rel_bias, node.mask, node.shift, node.scale,
            scales)
    torch.library.opcheck(torch.ops.edge_swin.window_attention_int8.default, args)
    y = node(x)
    with torch.no_grad():
        ref = block(x)
    # The kernels reproduce modelopt's integers; a token whose value sits on a rounding tie may differ by one
    # step somewhere inside (tests/plugins holds the exact-token share), so: within 2% of the output range.
    assert float((y - ref).abs().max() / ref.abs().max()) < 2e-2


def _linear_case(seed=0, k=48, n=40):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 5, k, generator=gen)
    w = torch.randn(n, k, generator=gen) / k ** 0.5
    b = torch.randn(n, generator=gen)
    xq = QParams(x.abs().max() / 127, None)
    wq = QParams(w.abs().amax(dim=1) / 127, 0)
    return x, w, b, xq, wq


def test_linear_int8_is_the_fake_quant_linear():
    """int8 x int8 -> int32 GEMM = F.linear of the fake-quantized operands, up to float32 rounding."""
    from edge_swin.runtime.modules import Int8Linear

    x, w, b, xq, wq = _linear_case()
    y = Int8Linear(w, b, xq, wq, torch.float32)(x)
    ref = torch.nn.functional.linear(fake_quant(x, xq), fake_quant(w, wq), b)
    assert float((y - ref).abs().max()) <= 1e-5 * float(ref.abs().max())


def test_linear_int8_opcheck():
    from edge_swin.runtime.modules import Int8Linear

    x, w, b, xq, wq = _linear_case(k=64, n=32)
    lin = Int8Linear(w, b, xq, wq, torch.float16)
    args = (x.half(), lin.weight, lin.bias, lin.x_scale_bits.view(torch.float32), lin.w_scale_bits.view(torch.float32))
    torch.library.opcheck(torch.ops.edge_swin.linear_int8.default, args)


def test_torch_compile_traces_the_nodes_without_a_graph_break(nano, images):
    """fullgraph=True fails on any graph break; the ATen graph (built on fake tensors) holds our four nodes."""
    from torch._dynamo.backends.common import aot_autograd

    from edge_swin.runtime import convert

    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return gm

    runtime = convert(nano, "fp16")
    torch._dynamo.reset()
    compiled = torch.compile(runtime, backend=aot_autograd(fw_compiler=record), fullgraph=True)
    with torch.no_grad():
        y = compiled(images[:1])
        eager = runtime(images[:1])
    assert len(graphs) == 1
    targets = [str(n.target) for n in graphs[0].graph.nodes if n.op == "call_function"]
    assert sum(t.startswith("edge_swin.window_attention") for t in targets) == len(nano.attention_modules()) == 4
    torch.testing.assert_close(y, eager, rtol=0, atol=0)  # the same kernels on the same inputs
