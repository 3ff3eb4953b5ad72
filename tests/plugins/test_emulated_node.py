"""The whole plugin algorithm on a CPU: one SwinWindowAttention node through the three Triton launches
(edge_swin.plugins.swin_window_attention.emulate, Triton's interpreter) against the PyTorch module it replaces.

FP16 (the FP16 export's node: fp16 io, fp16 weights): relative error max |y - ref| / max |ref| < 2e-3
against the float module in float64 on the same fp16 input. What remains is fp16 rounding: weights,
the qkv and attention workspaces and y are fp16 (measured 0.7e-3 .. 1.0e-3).

INT8 (the INT8 export's node: fp32 io, or fp16 io as in an FP16+INT8 engine; weights on the int8 grid,
eight fp32 scales; int8 q/k/v and attention-output workspaces) against the modelopt
fake-quant module (QuantWindowAttention, max-calibrated). Both compute the same integers except where
a value lands within float rounding of a rounding boundary: the module sums its qkv/proj matmuls in fp32
(and runs torch's softmax), the kernels sum exactly in int32 and round once, so the two qkv results differ
by ~1e-6 and a k value 3e-5 of a step from a .5 tie rounds one way in the module and the other in the
node (seen: 1 flip among 8192 k values). One flip of q or of the proj input touches one token; one of
k, v or P touches the queries of one window, through a softmax that P's own rounding mostly absorbs.
So the tolerance has two parts:
  * agreement: at least 90% of the tokens equal the module's to float precision (1e-5 of max |y|);
    a wrong scale, mask, bias or index moves nearly every token (the broken-on-purpose tests);
  * flips stay small: max |y - ref| <= 0.5 * max |ref - fp32 module|, half the quantization error
    the module itself makes.
Measured (printed with -s): 0 to 2 tokens off (0 to 3%) per case, max |y - ref| 0 to 0.25 of the
quantization error; blocks without a flip agree to ~5e-7 of max |y|.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from edge_swin.plugins.swin_window_attention.emulate import node_inputs_of, run_module, run_node
from tests.export.helpers import make_block, make_model
from tests.plugins.node_checks import (
    BLOCKS,
    SWIN_T_STAGE1,
    assert_int8_close,
    exact_for,
    int8_compare,
    rel_err,
    rounded_to,
    seeded,
)

REPO = Path(__file__).resolve().parents[2]

def _fp16_error(block, x) -> float:
    x16 = x.half()
    y = run_module(block, x16)
    assert y.dtype == torch.float16 and not y.isnan().any(), "NaN poison left in y: a token was not written"
    with torch.no_grad():
        ref = copy.deepcopy(block).double()(x16.double())
    return rel_err(y, ref)


# ----------------------------------------------------------------------------------------------- FP16


@pytest.mark.parametrize("case", BLOCKS, ids=[c[0] for c in BLOCKS])
def test_fp16_node_matches_module(case):
    name, feat, window, shift, dim, heads, batch = case
    block = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=1)
    assert block.shifted == shift
    err = _fp16_error(block, seeded((batch, *feat, dim), seed=2))
    print(f"{name}: fp16 rel err {err:.2e}")
    assert err < 2e-3


@pytest.fixture(scope="module")
def nano_blocks():
    """The default demo model (swin_nano_patch4_window4_32): each attention block and the input it gets."""
    model = make_model("swin_nano", seed=3)
    captured = []
    hooks = [m.register_forward_hook(lambda m, inp, out: captured.append((m, inp[0].detach())))
             for m in model.attention_modules()]
    with torch.no_grad():
        model(seeded((2, 3, 32, 32), seed=4))
    for h in hooks:
        h.remove()
    return captured


def test_nano_model_shapes(nano_blocks):
    """8x8 then 4x4 maps, window 4, C 64 / 128: W-MSA, SW-MSA, then two W-MSA (a 4x4 map is not shifted)."""
    geometry = [(tuple(x.shape[1:]), m.window_size, m.shift_size) for m, x in nano_blocks]
    assert geometry == [((8, 8, 64), (4, 4), (0, 0)), ((8, 8, 64), (4, 4), (2, 2)),
                        ((4, 4, 128), (4, 4), (0, 0)), ((4, 4, 128), (4, 4), (0, 0))]


def test_fp16_nano_model_blocks(nano_blocks):
    errs = [_fp16_error(m, x) for m, x in nano_blocks]
    print("swin_nano blocks: fp16 rel err " + ", ".join(f"{e:.2e}" for e in errs))
    assert max(errs) < 2e-3


@pytest.mark.slow
def test_fp16_swin_t_stage1_block():
    """One Swin-T stage-1 SW-MSA block (56x56, C 96, 3 heads, window 7, shift 3) at batch 1: ~16 s here."""
    name, feat, window, shift, dim, heads, batch = SWIN_T_STAGE1
    block = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=5)
    err = _fp16_error(block, seeded((batch, *feat, dim), seed=6))
    print(f"{name}: fp16 rel err {err:.2e}")
    assert err < 2e-3


def test_broken_mask_and_bias_are_caught():
    """Deliberately wrong node inputs: the comparison must fail for each of them."""
    block = make_block(dim=64, heads=2, feat=(9, 11), window=4, shift=True, seed=7)
    x = seeded((1, 9, 11, 64), seed=8).half()
    with torch.no_grad():
        ref = copy.deepcopy(block).double()(x.double())
    tensors, attrs = node_inputs_of(block, x)
    assert rel_err(run_node(*tensors, **attrs), ref) < 2e-3
    # node order: 0 x, 1 qkv_w, 2 qkv_b, 3 proj_w, 4 proj_b, 5 rel_bias, 6 mask
    breaks = {"mask windows off by one": (6, tensors[6].roll(1, dims=0)),
              "bias heads reversed": (5, tensors[5].flip(0)),
              "qkv bias dropped (padded tokens would read zeros)": (2, torch.zeros_like(tensors[2]))}
    for what, (i, wrong) in breaks.items():
        err = rel_err(run_node(*tensors[:i], wrong, *tensors[i + 1:], **attrs), ref)
        print(f"{what}: rel err {err:.2f}")
        assert err > 2e-2, what
    unshifted = {**attrs, "shift_size": [0, 0]}
    assert rel_err(run_node(*tensors, **unshifted), ref) > 2e-2, "shift ignored"


# ----------------------------------------------------------------------------------------------- INT8


@pytest.fixture(scope="module")
def quant():
    import edge_swin.quant as q  # modelopt's import is slow (seconds): once per module

    return q


def _int8_check(name, qblock, x, fp32_block, io=torch.float32):
    """The INT8 node (int8 workspaces) with `io` tensors against the fake-quant module on the same io-rounded x and
    parameters (fp16 io: otherwise the fp16 biases alone move ~10% of the tokens by a flip)."""
    x = x.to(io).float()
    y = run_module(qblock, x.to(io), io=io)
    qblock, fp32_block = rounded_to(qblock, io), rounded_to(fp32_block, io)
    assert y.dtype == io and not y.isnan().any(), "NaN poison left in y: a token was not written"
    with torch.no_grad():
        c = int8_compare(y, qblock(x), fp32_block(x), exact_for(io))
    assert_int8_close(f"{name} ({str(io).replace('torch.', '')} io)", c)


@pytest.mark.parametrize("case", BLOCKS, ids=[c[0] for c in BLOCKS])
def test_int8_node_matches_fake_quant_module(quant, case):
    name, feat, window, shift, dim, heads, batch = case
    fp32 = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=11)
    qblock = quant.quantize_block(copy.deepcopy(fp32), seeded((8, *feat, dim), seed=12))
    _int8_check(name, qblock, seeded((batch, *feat, dim), seed=13), fp32)


@pytest.mark.parametrize("case", BLOCKS[1:3], ids=[c[0] for c in BLOCKS[1:3]])
def test_int8_fp16_io_node_matches_fake_quant_module(quant, case):
    """The INT8 node of an FP16+INT8 engine: fp16 x, weights, biases and y, fp32 scales, int8 workspaces."""
    name, feat, window, shift, dim, heads, batch = case
    fp32 = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=11)
    qblock = quant.quantize_block(copy.deepcopy(fp32), seeded((8, *feat, dim), seed=12))
    _int8_check(name, qblock, seeded((batch, *feat, dim), seed=13), fp32, io=torch.float16)


def test_int8_nano_model_blocks(quant, nano_blocks):
    for i, (m, x) in enumerate(nano_blocks):
        qblock = quant.quantize_block(copy.deepcopy(m), x)
        _int8_check(f"swin_nano block {i}", qblock, x, m)


@pytest.mark.slow
def test_int8_swin_t_stage1_block(quant):
    name, feat, window, shift, dim, heads, batch = SWIN_T_STAGE1
    fp32 = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=14)
    qblock = quant.quantize_block(copy.deepcopy(fp32), seeded((2, *feat, dim), seed=15))
    _int8_check(name, qblock, seeded((batch, *feat, dim), seed=16), fp32)


def test_int8_wrong_scales_are_caught(quant):
    """Deliberately wrong: k and v scales swapped, or the softmax scale doubled: the agreement check fails."""
    fp32 = make_block(dim=64, heads=2, feat=(9, 11), window=4, shift=True, seed=17)
    qblock = quant.quantize_block(copy.deepcopy(fp32), seeded((8, 9, 11, 64), seed=18))
    x = seeded((2, 9, 11, 64), seed=19)
    with torch.no_grad():
        ref, ref_fp32 = qblock(x), fp32(x)
    tensors, attrs = node_inputs_of(qblock, x)
    scales = attrs["int8_scales"]           # qkv_x, qkv_w, q, k, softmax, v, proj_x, proj_w
    assert_int8_close("correct scales", int8_compare(run_node(*tensors, **attrs), ref, ref_fp32))
    for what, wrong in {"k/v scales swapped": [*scales[:3], scales[5], scales[4], scales[3], *scales[6:]],
                        "softmax scale doubled": [*scales[:4], 2 * scales[4], *scales[5:]]}.items():
        c = int8_compare(run_node(*tensors, **{**attrs, "int8_scales": wrong}), ref, ref_fp32)
        print(f"{what}: {100 * c['exact_tokens']:.1f}% of tokens exact, max err {c['err'] / c['qerr']:.2f} of the "
              "quantization error")
        with pytest.raises(AssertionError):
            assert_int8_close(what, c)


# ----------------------------------------------------------------------------------------------- GPU

_GPU_SCRIPT = textwrap.dedent("""
    import copy, json, sys, torch
    sys.path.insert(0, sys.argv[1])
    from edge_swin.plugins.swin_window_attention.emulate import run_module
    from tests.export.helpers import make_block
    from tests.plugins.node_checks import BLOCKS, SWIN_T_STAGE1, EXACT_FP16_IO, int8_compare, rounded_to
    import edge_swin.quant as quant
    out = {}
    for name, feat, window, shift, dim, heads, batch in BLOCKS + [SWIN_T_STAGE1]:
        gen = torch.Generator().manual_seed(21)
        block = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=20).cuda()
        x = torch.randn(batch, *feat, dim, generator=gen).cuda()
        y = run_module(block, x.half())
        with torch.no_grad():
            ref = copy.deepcopy(block).double()(x.half().double())
        fp16 = float((y.double() - ref).abs().max() / ref.abs().max())
        qblock = quant.quantize_block(copy.deepcopy(block), torch.randn(8, *feat, dim, generator=gen).cuda())
        with torch.no_grad():
            qref = qblock(x)
            fp32_ref = block(x)
        y8 = run_module(qblock, x)
        x16 = x.half().float()
        with torch.no_grad():
            qref16, fp32_ref16 = rounded_to(qblock, torch.float16)(x16), rounded_to(block, torch.float16)(x16)
        y8h = run_module(qblock, x.half(), io=torch.float16)
        out[name] = {"fp16_rel": fp16, "int8": int8_compare(y8, qref, fp32_ref),
                     "int8_fp16io": int8_compare(y8h, qref16, fp32_ref16, EXACT_FP16_IO),
                     "nan": bool(y.isnan().any() or y8.isnan().any() or y8h.isnan().any())}
    print(json.dumps(out))
""")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the JIT kernels on the device)")
def test_gpu_jit_kernels_match_module():
    """The same emulated nodes with the JIT-compiled kernels on the GPU (a subprocess: this process's kernels are
    the interpreter's, chosen when TRITON_INTERPRET was set at import)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", _GPU_SCRIPT, str(REPO)], env=env, capture_output=True, text=True, check=False,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, r in results.items():
        print(f"GPU {name}: fp16 rel err {r['fp16_rel']:.2e}")
        assert not r["nan"] and r["fp16_rel"] < 2e-3, name
        assert_int8_close(f"GPU {name}", r["int8"])
        assert_int8_close(f"GPU {name} (fp16 io)", r["int8_fp16io"])
