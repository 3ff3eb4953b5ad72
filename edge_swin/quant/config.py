"""Quantization recipes: named placements (which tensors are INT8) as modelopt configs, and a summary table.

A recipe is one entry of `RECIPES` ({name: Recipe}), chosen by name (`python -m pipelines.build
--quant-recipe NAME`, `calibrate(..., config=get_recipe(NAME).config(method))`), like modelopt's named configs.
Adding one is adding an entry: its sites, a description, whether its INT8 models export with the INT8
SwinWindowAttention node (that node takes the eight attention scales, so the recipe must quantize the
attention sites; edge_swin/export/function.py).

`swin_int8` (today the only recipe, the default; `SWIN_INT8`, the config `swin_int8_config()` builds):

    role            module(s)                 weights               activations (input)
    patch_embed     patch_embed.proj (Conv)   INT8 per-channel      INT8 per-tensor
    qkv             *.attn.qkv                INT8 per-channel      INT8 per-tensor
    attn_qk         Q x K^T                   -                     INT8 per-tensor q, k
    attn_pv         softmax x V               -                     INT8 per-tensor softmax, v
    proj            *.attn.proj               INT8 per-channel      INT8 per-tensor
    fc1, fc2        *.mlp.fc1, *.mlp.fc2      INT8 per-channel      INT8 per-tensor
    patch_merging   *.downsample.reduction    INT8 per-channel      INT8 per-tensor
    head            head.fc                   higher precision      higher precision
    LayerNorm, softmax, GELU, residual adds, bias/mask adds: higher precision (no quantizer enabled).

`swin_fp8` (`get_recipe("swin_fp8")`): the same sites in FP8 E4M3 (modelopt num_bits (4, 3), scale = amax / 448,
the largest E4M3 value), weights per tensor as modelopt's FP8_DEFAULT_CFG (the FP8 node's kernels take one
scale a weight), for GPUs with FP8 tensor cores (Ada, Hopper, Blackwell, Thor).
Its activations calibrate with "max" only: modelopt's percentile/entropy calibrators search INT8 ranges.

Weights are per output channel (axis 0) and activations per tensor, the
layout TensorRT's INT8 GEMMs and our fused window-attention plugin take.
The config starts from "everything off", so a module not named here stays
in higher precision: nothing is quantized by accident.

The classifier head is kept in higher precision: it is one small GEMM whose
output is the logits themselves, so its error is not averaged out by any
later layer. `quantize_head=True` turns it on (measure before trusting it).
"""
from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass

import torch.nn as nn
from modelopt.torch.quantization.nn import TensorQuantizer

import edge_swin.quant.attention  # noqa: F401  (registers QuantWindowAttention: the attn_* sites exist only with it)
from edge_swin.quant.errors import QuantizationError

CONFIG_NAME = "swin_int8"
CALIBRATION_METHODS = ("max", "percentile", "entropy")
HISTOGRAM_METHODS = ("percentile", "entropy")

WEIGHT_INT8 = {"num_bits": 8, "axis": 0}  # per output channel
ACT_INT8 = {"num_bits": 8, "axis": None}  # per tensor
FP8_E4M3 = (4, 3)  # modelopt's num_bits for FP8 E4M3 (exponent, mantissa bits)
NUM_BITS = {"int8": 8, "fp8": FP8_E4M3}  # a recipe's format -> its quantizers' num_bits
FP8_RECIPE = "swin_fp8"


@dataclass(frozen=True)
class Site:
    """One role in the placement: a module-name glob and which of its quantizers are on."""

    role: str
    pattern: str  # fnmatch glob over module names (quantizer names are "<module>.<quantizer>")
    what: str
    weights: bool  # weight_quantizer on (per-channel)
    inputs: tuple[str, ...]  # activation quantizers on (per-tensor)


SWIN_INT8: tuple[Site, ...] = (
    Site("patch_embed", "patch_embed.proj", "patch embedding (Conv2d)", True, ("input_quantizer",)),
    Site("qkv", "*.attn.qkv", "qkv projection", True, ("input_quantizer",)),
    Site("attn_qk", "*.attn", "Q x K^T", False, ("q_bmm_quantizer", "k_bmm_quantizer")),
    Site("attn_pv", "*.attn", "softmax x V", False, ("softmax_quantizer", "v_bmm_quantizer")),
    Site("proj", "*.attn.proj", "attention output projection", True, ("input_quantizer",)),
    Site("fc1", "*.mlp.fc1", "MLP fc1", True, ("input_quantizer",)),
    Site("fc2", "*.mlp.fc2", "MLP fc2", True, ("input_quantizer",)),
    Site("patch_merging", "*.downsample.reduction", "patch merging (Linear)", True, ("input_quantizer",)),
)
HEAD = Site("head", "head.fc", "classifier head", True, ("input_quantizer",))
# Kept in higher precision; listed so the summary says so.
HIGH_PRECISION_OPS = ("LayerNorm", "softmax", "GELU", "residual adds", "bias + mask adds")
BLOCK_PREFIX = "*.attn."  # how the attention sites' patterns name a block inside a model


def swin_int8_config(method: str = "max", quantize_head: bool = False, quantize_attention: bool = True) -> dict:
    """The modelopt config (`mtq.quantize` format) of the Swin INT8 placement.

    method: 'max' (absolute max), or 'percentile' / 'entropy', which give
    activation quantizers a histogram calibrator (weights always use max,
    per channel). `edge_swin.quant.calibrate` runs the calibration; the
    config's "algorithm" is None so that `mtq.quantize` only inserts quantizers.
    """
    chosen = tuple(s for s in SWIN_INT8 if quantize_attention or not s.role.startswith("attn_"))
    return Recipe(CONFIG_NAME, "", chosen).config(method, quantize_head)


@dataclass(frozen=True)
class Recipe:
    """A named placement: its sites (the head's site is added with quantize_head) and what it is for."""

    name: str
    description: str
    sites: tuple[Site, ...]
    format: str = "int8"  # "int8" or "fp8" (E4M3): the precision of every quantizer of the placement

    def config(self, method: str = "max", quantize_head: bool = False) -> dict:
        """The modelopt config of this placement with calibrator `method` (see swin_int8_config)."""
        if method not in CALIBRATION_METHODS:
            raise QuantizationError(f"unknown calibration method '{method}': choose one of "
                                    f"{', '.join(CALIBRATION_METHODS)}")
        if self.format == "fp8" and method != "max":
            raise QuantizationError(f"recipe {self.name} (FP8) calibrates with 'max' only, not '{method}': "
                                    "modelopt's percentile and entropy calibrators search INT8 ranges")
        bits = NUM_BITS[self.format]
        act = {**ACT_INT8, "num_bits": bits, "calibrator": "histogram" if method in HISTOGRAM_METHODS else "max"}
        # FP8 weights are per tensor (modelopt's FP8_DEFAULT_CFG; the FP8 node's kernels take one weight scale)
        weight = {**WEIGHT_INT8, "num_bits": bits, "axis": None if self.format == "fp8" else 0}
        entries: list[dict] = [{"quantizer_name": "*", "enable": False}]
        for site in self.sites + ((HEAD,) if quantize_head else ()):
            if site.weights:
                entries.append({"quantizer_name": f"{site.pattern}.weight_quantizer", "cfg": dict(weight)})
            for name in site.inputs:
                entries.append({"quantizer_name": f"{site.pattern}.{name}", "cfg": dict(act)})
        return {"quant_cfg": entries, "algorithm": None}

    def block_config(self, method: str = "max") -> dict:
        """The config for a bare WindowAttention block (tests, kernels): the attention sites' patterns without
        the `*.attn.` prefix that names a block inside a whole model."""
        cfg = self.config(method)
        return {**cfg, "quant_cfg": [{**e, "quantizer_name": e["quantizer_name"].replace(BLOCK_PREFIX, "")}
                                     for e in cfg["quant_cfg"]]}


RECIPES: dict[str, Recipe] = {
    CONFIG_NAME: Recipe(CONFIG_NAME, "INT8 GEMMs, convolution and the attention matmuls (Q x K^T, softmax x V); "
                                     "what the INT8 SwinWindowAttention node and TensorRT engines run", SWIN_INT8),
    FP8_RECIPE: Recipe(FP8_RECIPE, "the swin_int8 placement in FP8 E4M3 (scale = amax / 448): for GPUs with FP8 "
                                   "tensor cores (Ada, Hopper, Blackwell, Thor)", SWIN_INT8, "fp8"),
}
# The recipe a target's default low precision (edge_swin.trt.Target.default_low_precision) stands for.
RECIPE_FOR_FORMAT = {"int8": CONFIG_NAME, "fp8": FP8_RECIPE}
DEFAULT_RECIPE = CONFIG_NAME
SWIN_INT8_CFG: dict = swin_int8_config()


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`, or QuantizationError naming the known ones."""
    if name not in RECIPES:
        raise QuantizationError(f"unknown quantization recipe '{name}': choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def recipe_name(config: dict, method: str) -> str:
    """The name of the recipe whose config (with `method`) is `config`, else "custom"."""
    return next((name for name, r in RECIPES.items() if r.config(method) == config), "custom")


def with_method(config: dict, method: str) -> dict:
    """A copy of `config` whose activation quantizers use the calibrator `method` needs."""
    if method not in CALIBRATION_METHODS:
        raise QuantizationError(f"unknown calibration method '{method}': choose one of {', '.join(CALIBRATION_METHODS)}")
    config = copy.deepcopy(config)
    for entry in config["quant_cfg"]:
        cfg = entry.get("cfg")
        if isinstance(cfg, dict) and not entry["quantizer_name"].endswith("weight_quantizer"):
            cfg["calibrator"] = "histogram" if method in HISTOGRAM_METHODS else "max"
    return config


# ---------------------------------------------------------------------------------------------------------------
# Summary


def quantizers(model: nn.Module) -> dict[str, TensorQuantizer]:
    """Every TensorQuantizer of a quantized model by name (enabled or not)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, TensorQuantizer)}


def enabled_quantizers(model: nn.Module) -> dict[str, TensorQuantizer]:
    return {name: q for name, q in quantizers(model).items() if q.is_enabled}


def describe(q: TensorQuantizer) -> str:
    if not q.is_enabled:
        return "off"
    axis = q.axis
    gran = "per-tensor" if axis is None else f"per-channel (axis {axis})"
    kind = {"fp8": "fp8 e4m3", "int8": "int8"}.get(format_of(q.num_bits), f"num_bits {q.num_bits}")
    return f"{kind} {gran}"


def format_of(num_bits) -> str:
    """modelopt's num_bits as a format name: 8 -> "int8", (4, 3) -> "fp8", anything else its repr."""
    if isinstance(num_bits, (tuple, list)):
        return "fp8" if tuple(num_bits) == FP8_E4M3 else repr(tuple(num_bits))
    return "int8" if num_bits == 8 else repr(num_bits)


def quant_format(model: nn.Module) -> str:
    """"int8" or "fp8": the format of a quantized model's enabled quantizers; QuantizationError if mixed or none."""
    formats = {format_of(q.num_bits) for q in enabled_quantizers(model).values()}
    if len(formats) != 1 or not formats <= {"int8", "fp8"}:
        raise QuantizationError(f"expected the quantizers of one recipe (all INT8 or all FP8 E4M3), found "
                                f"{', '.join(sorted(formats)) or 'none enabled'}")
    return formats.pop()


def _role_of(module_name: str, quantizer: str, parent: nn.Module) -> str:
    for site in SWIN_INT8 + (HEAD,):
        if fnmatch.fnmatch(module_name, site.pattern):
            if site.role.startswith("attn_"):
                if quantizer in site.inputs:
                    return site.role
                continue
            return site.role
    if isinstance(parent, nn.LayerNorm):
        return "layernorm"
    return "other"


ROLE_ORDER = [s.role for s in SWIN_INT8] + ["head", "layernorm", "other"]


def quant_summary(model: nn.Module) -> list[dict]:
    """One row per role: how many modules, what their weights and inputs are, how many quantizers are on/calibrated."""
    rows: dict[str, dict] = {}
    for name, q in quantizers(model).items():
        module_name, _, qname = name.rpartition(".")
        if qname == "output_quantizer" and not q.is_enabled:
            continue  # modelopt adds a disabled output quantizer to every module; not part of the placement
        parent = model.get_submodule(module_name)
        role = _role_of(module_name, qname, parent)
        row = rows.setdefault(role, {"role": role, "modules": set(), "weights": set(), "inputs": set(),
                                     "enabled": 0, "total": 0, "calibrated": 0})
        row["modules"].add(module_name)
        row["total"] += 1
        (row["weights"] if qname == "weight_quantizer" else row["inputs"]).add(describe(q))
        if q.is_enabled:
            row["enabled"] += 1
            row["calibrated"] += int(getattr(q, "amax", None) is not None)
    out = []
    for role in sorted(rows, key=lambda r: ROLE_ORDER.index(r) if r in ROLE_ORDER else len(ROLE_ORDER)):
        row = rows[role]
        out.append({**row, "modules": len(row["modules"]),
                    "weights": "/".join(sorted(row["weights"])) or "-",
                    "inputs": "/".join(sorted(row["inputs"])) or "-"})
    return out


def format_quant_summary(model: nn.Module) -> str:
    """The summary table as text: one line per role plus what stays in higher precision."""
    rows = quant_summary(model)
    header = ("role", "modules", "weights", "activations", "quantizers on", "calibrated")
    lines = [[r["role"], str(r["modules"]), r["weights"].replace("off", "fp"), r["inputs"].replace("off", "fp"),
              f"{r['enabled']}/{r['total']}", str(r["calibrated"])] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    text = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    text += [fmt.format(*line) for line in lines]
    on = sum(r["enabled"] for r in rows)
    text.append(f"{on} quantizers on; higher precision: {', '.join(HIGH_PRECISION_OPS)}"
                + ("" if any(r["role"] == "head" and r["enabled"] for r in rows) else ", classifier head"))
    return "\n".join(text)
