"""The node's launch sequence is written once (edge_swin.plugins.swin_window_attention.launch.run_node): the CPU
emulation and the PyTorch runtime ops both go through it, and its hook sees each of the three launches (what the
GPU suite's per-launch timing uses). Triton's interpreter runs the kernels here (tests/plugins/conftest.py)."""
from __future__ import annotations

import pytest
import torch

import edge_swin.runtime.ops  # noqa: F401  (registers torch.ops.edge_swin.*)
from edge_swin.plugins.swin_window_attention import emulate, launch
from tests.export.helpers import make_block

B, HW, C, HEADS, WINDOW, SHIFT = 1, 8, 64, 2, 4, 2


def _node(int8: bool, io=torch.float16):
    """(tensors 0-6, shift, scale, scales) of a small SW-MSA node; INT8 scales plausible, not calibrated."""
    from edge_swin.runtime.modules import FusedWindowAttention

    block = make_block(dim=C, heads=HEADS, feat=(HW, HW), window=WINDOW, shift=True)
    x = torch.randn(B, HW, HW, C, generator=torch.Generator().manual_seed(0)).to(io)
    node = FusedWindowAttention(block, io)
    tensors = [x, node.qkv_w, node.qkv_b, node.proj_w, node.proj_b, node.rel_bias, node.mask]
    scales = None
    if int8:
        one = lambda v: torch.tensor([v], dtype=torch.float32)  # noqa: E731
        scales = [one(0.03), torch.full((3 * C,), 0.002), one(0.02), one(0.02), one(1 / 127), one(0.02), one(0.02),
                  torch.full((C,), 0.002)]
    return tensors, tuple(node.shift), float(node.scale), scales


@pytest.fixture
def spy(monkeypatch):
    """launch.run_node wrapped: each call recorded (with its scales), then run for real."""
    calls, real = [], launch.run_node

    def recorded(*args, **kwargs):
        calls.append(kwargs.get("scales") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(launch, "run_node", recorded)
    return calls


def test_emulation_and_runtime_ops_run_the_one_launch_sequence(spy):
    """emulate.run_node, torch.ops.edge_swin.window_attention and window_attention_int8 all call launch.run_node
    (the spy sees each call), and give what it gives."""
    tensors, shift, scale, _ = _node(int8=False)
    emulated = emulate.run_node(*tensors, num_heads=HEADS, window_size=(WINDOW, WINDOW), shift_size=shift,
                                scale=scale)
    assert spy == [False]
    op = torch.ops.edge_swin.window_attention(*tensors, list(shift), scale)
    assert spy == [False, False]
    assert torch.equal(emulated, op)

    tensors, shift, scale, scales = _node(int8=True)
    emulated = emulate.run_node(*tensors, num_heads=HEADS, window_size=(WINDOW, WINDOW), shift_size=shift,
                                scale=scale, int8_scales=scales)
    op = torch.ops.edge_swin.window_attention_int8(*tensors, list(shift), scale, scales)
    assert spy == [False, False, True, True]
    assert torch.equal(emulated, op)


@pytest.mark.parametrize("int8,io", [(False, torch.float16), (True, torch.float16), (True, torch.float32)],
                         ids=["fp16", "int8-fp16io", "int8-fp32io"])
def test_the_hook_sees_each_launch_with_its_workspace(int8, io):
    """The hook gets the three launches in order; their outputs are the workspaces the plugin allocates (fp16 for
    the FP16 node, int8 for the INT8 node) and y in the io type. A hook that runs each launch twice (as a timer
    does) changes nothing."""
    tensors, shift, scale, scales = _node(int8, io)
    seen = []

    def timed(name, run):
        run()  # a timer's extra run
        out = run()
        seen.append((name, tuple(out.shape), out.dtype))
        return out

    y = launch.run_node(*tensors, shift=shift, scale=scale, scales=scales, launch_hook=timed)
    workspace = torch.int8 if int8 else torch.float16
    tokens = B * HW * HW
    assert seen == [("qkv_linear", (tokens, 3 * C), workspace), ("attention", (tokens, C), workspace),
                    ("proj_linear", (tokens, C), io)]
    assert [name for name, _, _ in seen] == list(launch.LAUNCHES)
    assert y.shape == (B, HW, HW, C) and y.dtype == io
    assert torch.equal(y, launch.run_node(*tensors, shift=shift, scale=scale, scales=scales))


def test_the_next_launch_reads_what_the_hook_returns():
    """The hook's output is the workspace the next launch reads: a zero attention output leaves y = proj_b."""
    tensors, shift, scale, _ = _node(int8=False)

    def zero_attention(name, run):
        out = run()
        return torch.zeros_like(out) if name == "attention" else out

    y = launch.run_node(*tensors, shift=shift, scale=scale, launch_hook=zero_attention)
    proj_b = tensors[4]
    assert torch.allclose(y.float(), proj_b.float().expand_as(y), atol=1e-3)


def test_bad_modes_and_scales_are_refused():
    tensors, shift, scale, scales = _node(int8=True)
    with pytest.raises(ValueError, match="8 scale inputs"):
        launch.run_node(*tensors, shift=shift, scale=scale, scales=scales[:7])
    with pytest.raises(ValueError, match="takes no scales"):
        launch.run_node(*tensors, shift=shift, scale=scale, scales=scales, mode="fp16")
    with pytest.raises(ValueError, match="kernels run fp16, int8"):
        launch.run_node(*tensors, shift=shift, scale=scale, mode="bf16")
    with pytest.raises(ValueError, match="needs the node's 8 scale inputs"):
        launch.run_node(*tensors, shift=shift, scale=scale, mode="int8")
