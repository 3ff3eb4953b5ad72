"""Shifted-window multi-head self-attention (W-MSA / SW-MSA), the one op later stages replace.

Everything a Swin block does between `norm1` and the residual add lives in
`WindowAttention.forward`: cyclic shift, padding to whole windows, window
partition, qkv projection, attention with relative-position bias and shift mask,
output projection, and the way back. QAT wraps `attend`, ONNX export turns the
whole module into one `SwinWindowAttention` node, and the TensorRT plugin runs it.

The geometry helpers are plain functions so tests can check them against a
direct computation.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# Added to the logits of token pairs that come from different regions of a
# shifted window: the value the Swin paper and every released checkpoint use.
MASK_VALUE = -100.0


def to_2tuple(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def window_partition(x: torch.Tensor, window_size: tuple[int, int]) -> torch.Tensor:
    """[B, H, W, C] -> [B * num_windows, wh, ww, C]; H and W must be multiples of the window."""
    B, H, W, C = x.shape
    wh, ww = window_size
    x = x.view(B, H // wh, wh, W // ww, ww, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, wh, ww, C)


def window_reverse(windows: torch.Tensor, window_size: tuple[int, int], feat_size: tuple[int, int]) -> torch.Tensor:
    """Inverse of `window_partition`: [B * num_windows, wh, ww, C] -> [B, H, W, C]."""
    wh, ww = window_size
    H, W = feat_size
    C = windows.shape[-1]
    x = windows.view(-1, H // wh, W // ww, wh, ww, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, H, W, C)


def relative_position_index(window_size: tuple[int, int]) -> torch.Tensor:
    """[N, N] index into the bias table for every (query, key) pair of a window, N = wh * ww."""
    wh, ww = window_size
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)  # 2, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 2 (dy, dx)
    # Shift both offsets to start at 0, then flatten (dy, dx) row-major over a (2wh-1, 2ww-1) table.
    return (rel[..., 0] + wh - 1) * (2 * ww - 1) + (rel[..., 1] + ww - 1)


def padded_size(feat_size: tuple[int, int], window_size: tuple[int, int]) -> tuple[int, int]:
    """Feature-map size rounded up to whole windows."""
    return tuple(-(-f // w) * w for f, w in zip(feat_size, window_size))  # type: ignore[return-value]


def shift_mask(feat_size: tuple[int, int], window_size: tuple[int, int], shift_size: tuple[int, int]) -> torch.Tensor | None:
    """[num_windows, N, N] additive mask for SW-MSA (None for W-MSA).

    After the cyclic shift, a window at the bottom/right edge holds tokens from up
    to four regions that are not neighbours in the image; pairs from different
    regions get MASK_VALUE. Regions are labelled on the padded map, as the
    reference implementation does.
    """
    if not any(shift_size):
        return None
    Hp, Wp = padded_size(feat_size, window_size)
    region = torch.zeros(1, Hp, Wp, 1)
    label = 0
    for hs in ((0, -window_size[0]), (-window_size[0], -shift_size[0]), (-shift_size[0], None)):
        for ws in ((0, -window_size[1]), (-window_size[1], -shift_size[1]), (-shift_size[1], None)):
            region[:, hs[0]:hs[1], ws[0]:ws[1], :] = label
            label += 1
    region = window_partition(region, window_size).flatten(1)  # num_windows, N
    differs = region.unsqueeze(1) != region.unsqueeze(2)
    return torch.zeros(differs.shape).masked_fill(differs, MASK_VALUE)


def fit_window(feat_size: tuple[int, int], window_size, shift: bool) -> tuple[tuple[int, int], tuple[int, int]]:
    """Window and shift for a feature map: a window never exceeds the map, and a map that fits in one window is not shifted."""
    target = to_2tuple(window_size)
    window = tuple(min(f, w) for f, w in zip(feat_size, target))
    shift_size = tuple(0 if (not shift or f <= w) else t // 2 for f, w, t in zip(feat_size, window, target))
    return window, shift_size  # type: ignore[return-value]


class WindowAttention(nn.Module):
    """W-MSA (shift 0) or SW-MSA over a [B, H, W, C] map of fixed size `feat_size`."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        feat_size: tuple[int, int],
        window_size=7,
        shift: bool = False,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.feat_size = to_2tuple(feat_size)
        self.window_size, self.shift_size = fit_window(self.feat_size, window_size, shift)
        self.window_area = self.window_size[0] * self.window_size[1]

        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        table_size = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table_size, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        # Derived from the geometry, never loaded from a checkpoint.
        self.register_buffer("relative_position_index", relative_position_index(self.window_size), persistent=False)
        self.register_buffer("attn_mask", shift_mask(self.feat_size, self.window_size, self.shift_size), persistent=False)

    @property
    def shifted(self) -> bool:
        return any(self.shift_size)

    def relative_position_bias(self) -> torch.Tensor:
        """The bias table gathered to [num_heads, N, N]: what export and the plugin take as an input."""
        N = self.window_area
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(N, N, self.num_heads).permute(2, 0, 1).contiguous()

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Attention inside each window: q, k, v [B*nW, heads, N, head_dim] -> [B*nW, heads, N, head_dim]."""
        attn = self.matmul_qk(q * self.scale, k)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            num_windows = mask.shape[0]
            attn = attn.view(-1, num_windows, self.num_heads, *attn.shape[-2:]) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, *attn.shape[-2:])
        attn = self.attn_drop(attn.softmax(dim=-1))
        return self.matmul_pv(attn, v)

    # The two attention products, apart so INT8 quantization can wrap their inputs (edge_swin.quant.attention).
    def matmul_qk(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return q @ k.transpose(-2, -1)

    def matmul_pv(self, probs: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return probs @ v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        if (H, W) != self.feat_size:
            raise ValueError(f"WindowAttention built for a {self.feat_size} map got {(H, W)}")
        if self.shifted:
            x = torch.roll(x, shifts=(-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
        Hp, Wp = padded_size(self.feat_size, self.window_size)
        x = F.pad(x, (0, 0, 0, Wp - W, 0, Hp - H))
        windows = window_partition(x, self.window_size).view(-1, self.window_area, C)

        qkv = self.qkv(windows).view(-1, self.window_area, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = self.attend(q, k, v, self.relative_position_bias(), self.attn_mask)
        out = out.transpose(1, 2).reshape(-1, self.window_area, C)
        out = self.proj_drop(self.proj(out))

        x = window_reverse(out.view(-1, *self.window_size, C), self.window_size, (Hp, Wp))[:, :H, :W, :]
        if self.shifted:
            x = torch.roll(x, shifts=self.shift_size, dims=(1, 2))
        return x

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.num_heads}, feat={self.feat_size}, window={self.window_size}, shift={self.shift_size}"
