"""Named Swin variants (timm's names and the paper's), and `create_swin`."""
from __future__ import annotations

from edge_swin.errors import EdgeSwinError
from edge_swin.models.swin_transformer import SwinTransformer

_TINY = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
_SMALL = dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
_BASE = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
_LARGE = dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48))

# name -> constructor arguments. The published ones carry timm's names, so a
# user moving from timm types the same string; head dim is 32 everywhere, as the
# fused attention kernels assume.
VARIANTS: dict[str, dict] = {
    "swin_tiny_patch4_window7_224": dict(img_size=224, patch_size=4, window_size=7, **_TINY),
    "swin_small_patch4_window7_224": dict(img_size=224, patch_size=4, window_size=7, **_SMALL),
    "swin_base_patch4_window7_224": dict(img_size=224, patch_size=4, window_size=7, **_BASE),
    "swin_base_patch4_window12_384": dict(img_size=384, patch_size=4, window_size=12, **_BASE),
    "swin_large_patch4_window7_224": dict(img_size=224, patch_size=4, window_size=7, **_LARGE),
    "swin_large_patch4_window12_384": dict(img_size=384, patch_size=4, window_size=12, **_LARGE),
    # Small variants for tests and the embedded demo (not published checkpoints).
    "swin_micro_patch4_window4_64": dict(img_size=64, patch_size=4, window_size=4, embed_dim=32,
                                         depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), drop_path_rate=0.05),
    # The embedded demo's default: two stages on 32 px (8x8 then 4x4 tokens), fast enough to
    # train to a real accuracy in minutes on 2 CPU cores.
    "swin_nano_patch4_window4_32": dict(img_size=32, patch_size=4, window_size=4, embed_dim=64,
                                        depths=(2, 2), num_heads=(2, 4), drop_path_rate=0.05),
}

ALIASES: dict[str, str] = {
    "swin_t": "swin_tiny_patch4_window7_224",
    "swin_s": "swin_small_patch4_window7_224",
    "swin_b": "swin_base_patch4_window7_224",
    "swin_l": "swin_large_patch4_window7_224",
    "swin_b_384": "swin_base_patch4_window12_384",
    "swin_l_384": "swin_large_patch4_window12_384",
    "swin_micro": "swin_micro_patch4_window4_64",
    "swin_nano": "swin_nano_patch4_window4_32",
}


def list_models() -> list[str]:
    return sorted(VARIANTS)


def resolve_name(name: str) -> str:
    """Canonical variant name for a name or alias; unknown names fail with the list of known ones."""
    canonical = ALIASES.get(name, name)
    if canonical not in VARIANTS:
        known = ", ".join(list_models() + sorted(ALIASES))
        raise EdgeSwinError(f"unknown model '{name}'. Known models: {known}")
    return canonical


def model_config(name: str, **overrides) -> dict:
    """Constructor arguments of a variant with `overrides` applied (img_size, window_size, num_classes, ...)."""
    return {**VARIANTS[resolve_name(name)], **{k: v for k, v in overrides.items() if v is not None}}


def create_swin(name: str, pretrained: str | None = None, **overrides) -> SwinTransformer:
    """Build a variant by timm name or alias, e.g. create_swin('swin_t', num_classes=10).

    `pretrained` is a local checkpoint path (nothing is downloaded); it is loaded
    with `load_checkpoint`, strict.
    """
    config = model_config(name, **overrides)
    model = SwinTransformer(**config)
    model.variant = resolve_name(name)
    model.config = config
    if pretrained:
        from edge_swin.models.checkpoint import load_checkpoint

        load_checkpoint(model, pretrained)
    return model
