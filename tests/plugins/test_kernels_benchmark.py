"""benchmarks/kernels.py: its PyTorch contenders compute what the fused kernel computes; no GPU, no numbers."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("kernels_bench", ROOT / "benchmarks" / "kernels.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["kernels_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("shift", [0, 3])
@pytest.mark.parametrize("sdpa", [False, True])
def test_contenders_match_the_kernel(bench, shift, sdpa):
    """A 14x14 map, C = 64 (2 heads): eager/SDPA geometry equals the kernel's (interpreter), so the timing is fair."""
    from edge_swin.plugins.swin_window_attention.kernels.window_attention import window_attention

    torch.manual_seed(shift)
    hw, C, n = 14, 64, 49
    qkv = torch.randn(2, hw, hw, 3 * C)
    bias = torch.randn(C // 32, n, n)
    mask = bench.shift_mask(hw, hw, 7, shift, "cpu") if shift else None
    kw = dict(H=hw, W=hw, C=C, shift=shift, scale=32 ** -0.5)
    ref = bench.eager_attention(qkv.double(), bias.double(), None if mask is None else mask.double(), sdpa=sdpa, **kw)
    got = window_attention(qkv, torch.zeros(3 * C), bias, mask, mode="fp16", **kw).double()
    assert ((got - ref).abs().max() / ref.abs().max()) < 2e-3
    if shift:  # the mask matters: leaving it out is visibly different
        wrong = bench.eager_attention(qkv.double(), bias.double(), None, sdpa=sdpa, **kw)
        assert ((got - wrong).abs().max() / ref.abs().max()) > 1e-1


def test_no_gpu_no_numbers(bench, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark would measure")
    out = tmp_path / "k.json"
    assert bench.main(["--out", str(out)]) == 0
    assert "not available: needs a CUDA GPU" in capsys.readouterr().out and not out.exists()
