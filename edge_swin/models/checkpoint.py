"""Load Microsoft (`.pth` with a `model` key) and timm (`.pth` / `.safetensors`) Swin checkpoints.

The two layouts differ in two names: Microsoft puts patch merging at the end of
stage i (`layers.i.downsample`), timm and we at the start of stage i+1; and the
classifier is `head` there, `head.fc` here. Buffers derived from the geometry
(`relative_position_index`, `attn_mask`) are dropped: the model builds its own.
Every way a file can fail to fit ends in one CheckpointError naming the fix.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from edge_swin.errors import CheckpointError

DERIVED_BUFFERS = ("relative_position_index", "attn_mask")
HEAD_KEYS = ("head.fc.weight", "head.fc.bias")
WRAPPER_KEYS = ("model", "state_dict", "model_state_dict")


@dataclass
class LoadResult:
    path: str
    layout: str  # "microsoft" or "timm"
    ignored: list[str] = field(default_factory=list)
    adapted_head: bool = False


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, unwrapped from {'model': ...} / {'state_dict': ...} and a DDP 'module.' prefix."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}. Pass the path of an existing .pth or .safetensors file.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch and safetensors raise many types for a bad file
        if "Unsupported global" in str(err):  # a real pickle of non-tensor objects, not random bytes
            raise CheckpointError(
                f"checkpoint {path} holds pickled Python objects besides tensors (a training config or optimizer), "
                "which safe loading (weights_only=True) refuses to run. In a Python you trust, re-save only the "
                "weights: sd = torch.load(path, weights_only=False)['model']; torch.save(sd, 'weights.pth')."
            ) from None
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is corrupt, truncated or not a PyTorch/safetensors checkpoint "
            f"({first_line[:200]}). Re-download or re-save it with torch.save(model.state_dict(), path)."
        ) from None
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"checkpoint {path} holds no state dict of tensors (found {type(obj).__name__}). "
            "Save one with torch.save(model.state_dict(), path)."
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def detect_layout(state: dict[str, torch.Tensor]) -> str:
    if "head.weight" in state or any(k.startswith("layers.0.downsample.") for k in state):
        return "microsoft"
    return "timm"


def microsoft_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        key = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", key)
        key = re.sub(r"^head\.(weight|bias)$", r"head.fc.\1", key)
        out[key] = value
    return out


def describe(state: dict[str, torch.Tensor]) -> str:
    """A short description of the architecture a state dict holds, for error messages."""
    embed = state.get("patch_embed.proj.weight")
    depths = []
    while any(k.startswith(f"layers.{len(depths)}.blocks.") for k in state):
        i = len(depths)
        depths.append(len({k.split(".")[3] for k in state if k.startswith(f"layers.{i}.blocks.")}))
    table = state.get("layers.0.blocks.0.attn.relative_position_bias_table")
    head = state.get("head.fc.weight")
    parts = []
    if embed is not None:
        parts.append(f"embed_dim {embed.shape[0]}, patch {embed.shape[-1]}, {embed.shape[1]} input channels")
    if depths:
        parts.append("depths " + "-".join(map(str, depths)))
    if table is not None:
        window = (int(round(table.shape[0] ** 0.5)) + 1) // 2
        parts.append(f"window {window}, heads(stage 1) {table.shape[1]}")
    if head is not None:
        parts.append(f"{head.shape[0]} classes")
    return ", ".join(parts) or "no Swin parameters"


def resize_bias_table(table: torch.Tensor, size: int) -> torch.Tensor:
    """[(2w-1)^2, heads] table -> [size^2, heads] by bicubic interpolation (Swin's recipe for a new window size)."""
    old = int(round(table.shape[0] ** 0.5))
    if old * old != table.shape[0]:
        raise CheckpointError(f"cannot resize a non-square relative-position table of {table.shape[0]} entries")
    grid = table.T.reshape(1, table.shape[1], old, old).float()
    grid = torch.nn.functional.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)
    return grid.reshape(table.shape[1], size * size).T.to(table.dtype).contiguous()


def load_checkpoint(model: nn.Module, path: str | Path, adapt_head: bool = False, adapt_window: bool = False) -> LoadResult:
    """Load a checkpoint of either layout into `model`, strictly.

    adapt_head: when the checkpoint's classifier has another class count, keep
    the model's freshly initialised head instead of failing (fine-tuning on a new
    label set).
    adapt_window: when the model's window differs from the checkpoint's (e.g.
    window-7/224 weights into a window-12/384 model), interpolate each
    relative-position bias table bicubically, as Swin's 384 fine-tuning does.
    Nothing else is ever adapted, and nothing silently.
    """
    state = read_state_dict(path)
    layout = detect_layout(state)
    if layout == "microsoft":
        state = microsoft_to_timm(state)
    ignored = sorted(k for k in state if k.rsplit(".", 1)[-1] in DERIVED_BUFFERS)
    state = {k: v for k, v in state.items() if k not in ignored}

    expected = model.state_dict()
    expected = {k: v for k, v in expected.items() if k.rsplit(".", 1)[-1] not in DERIVED_BUFFERS}
    if adapt_window:
        for k, v in state.items():
            if k.endswith("relative_position_bias_table") and k in expected and v.shape != expected[k].shape \
                    and v.shape[1] == expected[k].shape[1]:
                state[k] = resize_bias_table(v, int(round(expected[k].shape[0] ** 0.5)))
    head_differs = any(k in expected and (k not in state or state[k].shape != expected[k].shape) for k in HEAD_KEYS)
    adapted = False
    if head_differs and adapt_head:  # another class count, or a headless (num_classes=0) checkpoint
        state = {k: v for k, v in state.items() if k not in HEAD_KEYS}
        adapted = True

    missing = [k for k in expected if k not in state and not (adapted and k in HEAD_KEYS)]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        raise CheckpointError(_mismatch_message(model, path, state, expected, missing, unexpected, wrong_shape))

    result = model.load_state_dict(state, strict=not adapted)
    if adapted and set(result.missing_keys) - set(HEAD_KEYS):  # only the head may be left as initialised
        raise CheckpointError(f"checkpoint {path}: missing {sorted(set(result.missing_keys) - set(HEAD_KEYS))}")
    return LoadResult(str(path), layout, ignored, adapted)


def _mismatch_message(model, path, state, expected, missing, unexpected, wrong_shape) -> str:
    variant = getattr(model, "variant", type(model).__name__)
    lines = [f"checkpoint {path} does not fit model {variant}."]
    lines.append(f"  checkpoint: {describe(state)}")
    lines.append(f"  model:      {describe(expected)}")
    for k in wrong_shape[:5]:
        lines.append(f"  {k}: model expects {tuple(expected[k].shape)}, checkpoint has {tuple(state[k].shape)}")
    if missing:
        lines.append(f"  {len(missing)} parameter(s) missing from the checkpoint, e.g. {', '.join(missing[:3])}")
    if unexpected:
        lines.append(f"  {len(unexpected)} parameter(s) the model does not have, e.g. {', '.join(unexpected[:3])}")
    if wrong_shape and set(wrong_shape) <= set(HEAD_KEYS):
        lines.append("Only the classifier differs: pass num_classes to match it, or adapt_head=True "
                     "(--adapt-head) to fine-tune a fresh head on your classes.")
    elif wrong_shape and all(k.endswith("relative_position_bias_table") for k in wrong_shape):
        lines.append("Only the attention window differs: create the model with the checkpoint's window_size, or pass "
                     "adapt_window=True (--adapt-window) to interpolate the bias tables to the new window.")
    else:
        lines.append("Pick the model variant the checkpoint was trained as (--model / create_swin name, img_size, window_size).")
    return "\n".join(lines)
