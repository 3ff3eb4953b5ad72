"""Swin Transformer V1 (Liu et al., 2021): patch partition, shifted-window blocks, patch merging, head.

Feature maps are NHWC between modules. Parameter names follow timm's
`swin_transformer.py` (patch merging at the start of stages 1..3, `head.fc`),
so timm state dicts load as they are and Microsoft's are renamed by
`edge_swin.models.checkpoint`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from edge_swin.errors import EdgeSwinError
from edge_swin.models.window_attention import WindowAttention, to_2tuple


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class PatchEmbed(nn.Module):
    """Non-overlapping patch partition + linear embedding: [B, C, H, W] -> [B, H/p, W/p, D]."""

    def __init__(self, img_size: tuple[int, int], patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.grid_size = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans or tuple(x.shape[-2:]) != self.img_size:
            raise EdgeSwinError(
                f"input of shape {tuple(x.shape)} does not fit this model, which takes [batch, {self.in_chans}, "
                f"{self.img_size[0]}, {self.img_size[1]}]: resize/crop images to {self.img_size[0]}x{self.img_size[1]} "
                f"(edge_swin.data.eval_transform does) or create the model with img_size={tuple(x.shape[-2:])}"
            )
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """2x2 neighbourhood -> one token: [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), out_dim]."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        H, W = x.shape[1:3]
        # Channel order x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2], as the released weights expect.
        x = x.view(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.norm(x))


class SwinBlock(nn.Module):
    """x + (S)W-MSA(LN(x)), then x + MLP(LN(x)), on a [B, H, W, C] map."""

    def __init__(self, dim: int, num_heads: int, feat_size: tuple[int, int], window_size, shift: bool,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, feat_size, window_size, shift, qkv_bias, attn_drop, drop)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class SwinStage(nn.Module):
    """Optional patch merging, then `depth` blocks alternating W-MSA and SW-MSA."""

    def __init__(self, dim: int, out_dim: int, feat_size: tuple[int, int], depth: int, num_heads: int,
                 window_size, downsample: bool, drop_path: Sequence[float], **block_kwargs):
        super().__init__()
        if downsample:
            self.downsample = PatchMerging(dim, out_dim)
            feat_size = (-(-feat_size[0] // 2), -(-feat_size[1] // 2))
        else:
            self.downsample = nn.Identity()
        self.feat_size = feat_size
        self.blocks = nn.Sequential(*[
            SwinBlock(out_dim, num_heads, feat_size, window_size, shift=(i % 2 == 1), drop_path=drop_path[i], **block_kwargs)
            for i in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class SwinTransformer(nn.Module):
    def __init__(
        self,
        img_size=224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size=7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
    ):
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {tuple(depths)} and num_heads {tuple(num_heads)} differ in length")
        self.img_size = to_2tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.window_size = to_2tuple(window_size)
        self.patch_embed = PatchEmbed(self.img_size, patch_size, in_chans, embed_dim)
        self.pos_drop = nn.Dropout(drop_rate)

        dims = [embed_dim * 2 ** i for i in range(len(depths))]
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        feat_size = self.patch_embed.grid_size
        stages, start = [], 0
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            stage = SwinStage(dims[max(i - 1, 0)], dims[i], feat_size, depth, heads, window_size, downsample=i > 0,
                              drop_path=rates[start:start + depth], mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                              drop=drop_rate, attn_drop=attn_drop_rate)
            stages.append(stage)
            feat_size, start = stage.feat_size, start + depth
        self.layers = nn.Sequential(*stages)
        self.num_features = dims[-1]
        self.norm = nn.LayerNorm(self.num_features)
        self.head = ClassifierHead(self.num_features, num_classes, drop_rate)
        self.apply(_init_weights)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a freshly initialised one of `num_classes` outputs (fine-tuning)."""
        self.num_classes = num_classes
        self.head = ClassifierHead(self.num_features, num_classes, self.head.drop.p)
        self.head.apply(_init_weights)

    def attention_modules(self) -> list[WindowAttention]:
        return [m for m in self.modules() if isinstance(m, WindowAttention)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(x))
        return self.norm(self.layers(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class ClassifierHead(nn.Module):
    """Global average pool over the final map, then a linear classifier (`head.fc`)."""

    def __init__(self, in_features: int, num_classes: int, drop_rate: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(x.mean(dim=(1, 2)))
        return x if pre_logits else self.fc(x)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
