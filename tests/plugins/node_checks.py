"""What the node tests share (CPU emulation and the GPU harness): the blocks they run, seeded inputs, and the
INT8 comparison against modelopt's fake-quant module (tests/plugins/test_emulated_node.py explains the tolerance)."""
from __future__ import annotations

import copy

import torch

# (name, feature map, window, shift, dim, heads, batch): W-MSA, SW-MSA, a map that needs padding on both
# axes (9x11, window 4: 12x12 padded, shifted), and the 4x4 map of swin_nano's stage 2 at its width.
BLOCKS = [
    ("wmsa_8x8", (8, 8), 4, False, 64, 2, 2),
    ("swmsa_8x8", (8, 8), 4, True, 64, 2, 2),
    ("swmsa_padded_9x11", (9, 11), 4, True, 64, 2, 2),
    ("wmsa_4x4_c128", (4, 4), 4, False, 128, 4, 2),
]
SWIN_T_STAGE1 = ("swin_t_stage1_swmsa", (56, 56), 7, True, 96, 3, 1)


def seeded(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def rel_err(y, ref) -> float:
    return float((y.double() - ref.double()).abs().max() / ref.double().abs().max())


EXACT = 1e-5          # float-rounding agreement, relative to max |y| (no-flip blocks measure ~5e-7)
# fp16 io: y is rounded to fp16 once (2**-11 relative) and the biases and rel_bias arrive fp16-rounded
EXACT_FP16_IO = 1e-3
MIN_EXACT_TOKENS = 0.9
MAX_FLIP_ERROR = 0.5  # of the module's own quantization error


def int8_compare(y, ref, ref_fp32, exact=EXACT) -> dict:
    diff = (y.double() - ref.double()).abs()
    scale = float(ref.abs().max())
    return {"exact_tokens": float((diff.amax(dim=-1) <= exact * scale).double().mean()),
            "err": float(diff.max()), "rel": float(diff.max()) / scale,
            "qerr": float((ref.double() - ref_fp32.double()).abs().max())}


def assert_int8_close(name, c):
    print(f"{name}: int8 node vs fake-quant: {100 * c['exact_tokens']:.1f}% of tokens exact, max err {c['err']:.2e} "
          f"({c['rel']:.1e} of max|y|, {c['err'] / c['qerr']:.2f} of the quantization error {c['qerr']:.2e})")
    assert c["exact_tokens"] >= MIN_EXACT_TOKENS, name
    assert c["err"] <= MAX_FLIP_ERROR * c["qerr"], name


def exact_for(io) -> float:
    return EXACT if io == torch.float32 else EXACT_FP16_IO


def rounded_to(module, io):
    """A copy whose biases and relative-position table went through `io` and back: the float values an FP16
    graph holds. Weights stay: the node gets them on the int8 grid, which fp16 holds exactly (|w / s| <= 127 is
    off by at most 127 * 2**-11 < 0.5 after the rounding), and their quantizers derive scales from them."""
    module = copy.deepcopy(module)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not name.endswith("weight"):
                p.copy_(p.to(io).float())
    return module


def quantize_block_fp8(block, calib_x):
    """A bare WindowAttention with FP8 E4M3 quantizers at the INT8 placement's sites, max-calibrated (in place;
    eval): the `swin_fp8` recipe where edge_swin.quant has it, else modelopt's FP8_DEFAULT_CFG quantizer settings
    (E4M3, per tensor, weights too) on the swin_int8 block placement."""
    import modelopt.torch.quantization as mtq

    from edge_swin.quant.config import RECIPES, get_recipe

    if "swin_fp8" in RECIPES:
        config = get_recipe("swin_fp8").block_config()
    else:
        fp8 = {"num_bits": (4, 3), "axis": None}
        config = get_recipe("swin_int8").block_config()
        config = {**config, "quant_cfg": [{**e, "cfg": dict(fp8)} if "cfg" in e else e for e in config["quant_cfg"]]}
    mtq.quantize(block, config, forward_loop=None)
    mtq.calibrate(block, algorithm="max", forward_loop=lambda m: m(calib_x))
    return block.eval()
