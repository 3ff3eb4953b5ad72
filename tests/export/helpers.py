"""Small seeded blocks and models, an ORT runner and an error metric for tests/export."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from edge_swin.models.registry import create_swin
from edge_swin.models.window_attention import WindowAttention



def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Seeded weights large enough that attention is sharp, so bias, mask and window mistakes show."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "relative_position_bias_table" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 2.0)
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / p.shape[-1] ** 0.5))
            elif name.endswith("weight"):  # norms
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
    return model.eval()


def make_block(dim=32, heads=2, feat=(8, 8), window=4, shift=False, seed=0) -> WindowAttention:
    return randomize_(WindowAttention(dim, heads, feat, window, shift=shift), seed)


def make_model(name="swin_nano", seed=0):
    return randomize_(create_swin(name, num_classes=10), seed)


def ort_run(path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def rel_err(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())
