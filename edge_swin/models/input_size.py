"""Which input sizes a Swin variant takes without padding, and the nearest ones to a size that does not fit.

The model runs any size, but not every size as trained: the patch embedding
drops the pixels past the last whole patch, patch merging zero-pads an odd
feature map, and a map that is not whole windows is zero-padded to whole
windows, whose padded tokens then take part in W-MSA. A size fits when none
of that happens: a whole number of patches, a map that halves exactly at each
merge, and at every stage a map of whole windows (or one smaller than a
window: the window shrinks to the map, as SwinTransformer builds it).
"""
from __future__ import annotations

from edge_swin.models.registry import model_config


def stage_maps(img_size: int, patch_size: int, stages: int) -> list[float]:
    """The feature-map side at each stage (fractional where a merge would pad)."""
    side = img_size / patch_size
    return [side / 2 ** i for i in range(stages)]


def fits(img_size: int, patch_size: int, window_size: int, stages: int) -> bool:
    """True when `img_size` runs without dropped pixels or padding (see the module doc)."""
    if img_size < patch_size or img_size % patch_size:
        return False
    for side in stage_maps(img_size, patch_size, stages):
        if side != int(side) or (side > window_size and side % window_size):
            return False
    return True


def nearest_fitting(img_size: int, patch_size: int, window_size: int, stages: int) -> list[int]:
    """The closest fitting sizes below and above `img_size` (one of them when nothing fits below)."""
    below = next((s for s in range(img_size - 1, 0, -1) if fits(s, patch_size, window_size, stages)), None)
    above = next(s for s in range(img_size + 1, img_size + patch_size * window_size * 2 ** stages + 1)
                 if fits(s, patch_size, window_size, stages))  # a multiple of patch x window x 2^(stages-1) fits
    return [s for s in (below, above) if s is not None]


def input_size_problem(variant: str, img_size: int | None = None, window_size: int | None = None) -> str | None:
    """None when the variant (with these overrides) takes its input size as is; else why not and what fits."""
    config = model_config(variant, img_size=img_size, window_size=window_size)
    size, patch, window, stages = config["img_size"], config["patch_size"], config["window_size"], len(config["depths"])
    if fits(size, patch, window, stages):
        return None
    maps = ", ".join(f"{m:g}" for m in stage_maps(size, patch, stages))
    return (f"input size {size} with window {window} does not fit {variant} (patch {patch}, {stages} stages): its "
            f"feature maps would be {maps} tokens a side, and each must be whole (halving exactly between stages) and "
            f"a multiple of the window (or smaller than it), or the model drops pixels and pads; nearest sizes that "
            f"fit window {window}: {' and '.join(map(str, nearest_fitting(size, patch, window, stages)))}")
