"""The Swin INT8 placement: quantizers sit exactly where the config says, and the summary reports it."""
from __future__ import annotations

import fnmatch

import pytest
import torch.nn as nn

from edge_swin.models import WindowAttention

QUANTIZED_LINEARS = ("*.attn.qkv", "*.attn.proj", "*.mlp.fc1", "*.mlp.fc2", "*.downsample.reduction", "patch_embed.proj")
ATTN = ("q_bmm_quantizer", "k_bmm_quantizer", "softmax_quantizer", "v_bmm_quantizer")


def _is_int8_per_channel(q):
    return q.is_enabled and q.num_bits == 8 and q.axis == 0


def _is_int8_per_tensor(q):
    return q.is_enabled and q.num_bits == 8 and q.axis is None


def test_quantizers_sit_where_the_config_says(quant, fp32):
    model = quant.insert_quantizers(fp32)
    names = dict(model.named_modules())
    expected_on = set()
    for name, module in names.items():
        if isinstance(module, (nn.Linear, nn.Conv2d)) and any(fnmatch.fnmatch(name, p) for p in QUANTIZED_LINEARS):
            assert _is_int8_per_channel(module.weight_quantizer), name
            assert _is_int8_per_tensor(module.input_quantizer), name
            assert not module.output_quantizer.is_enabled, name
            expected_on |= {f"{name}.weight_quantizer", f"{name}.input_quantizer"}
        if isinstance(module, WindowAttention):
            assert isinstance(module, quant.QuantWindowAttention), name
            for attr in ATTN:  # both attention products: Q x K^T and softmax x V
                assert _is_int8_per_tensor(getattr(module, attr)), f"{name}.{attr}"
                expected_on.add(f"{name}.{attr}")
    # every quantized role is present in this model
    for pattern in QUANTIZED_LINEARS:
        assert any(fnmatch.fnmatch(n, pattern) for n in names), pattern
    # ... and nothing else is on: LayerNorm, the head and every output quantizer stay in higher precision
    assert set(quant.enabled_quantizers(model)) == expected_on
    for name, module in names.items():
        if isinstance(module, nn.LayerNorm):
            assert not module.input_quantizer.is_enabled, name
    assert not any(q.is_enabled for n, q in quant.quantizers(model).items() if n.startswith("head."))
    blocks = len(model.attention_modules())
    assert len(expected_on) == 2 * (blocks * 4 + 1 + 1) + 4 * blocks  # 52 on swin_nano


def test_head_and_attention_switches(quant, fp32_model):
    import copy

    with_head = quant.insert_quantizers(copy.deepcopy(fp32_model), quant.swin_int8_config(quantize_head=True))
    assert with_head.head.fc.weight_quantizer.is_enabled and with_head.head.fc.input_quantizer.is_enabled
    no_attn = quant.insert_quantizers(copy.deepcopy(fp32_model), quant.swin_int8_config(quantize_attention=False))
    assert not any(n.endswith(ATTN) for n in quant.enabled_quantizers(no_attn))


def test_summary_table(quant, calibrated):
    rows = {r["role"]: r for r in quant.quant_summary(calibrated.model)}
    for role in ("patch_embed", "qkv", "attn_qk", "attn_pv", "proj", "fc1", "fc2", "patch_merging"):
        assert rows[role]["enabled"] == rows[role]["total"] == rows[role]["calibrated"] > 0, role
    assert rows["attn_qk"]["enabled"] == rows["attn_pv"]["enabled"] == 2 * len(calibrated.model.attention_modules())
    assert rows["head"]["enabled"] == 0 and rows["layernorm"]["enabled"] == 0
    assert "other" not in rows
    text = quant.format_quant_summary(calibrated.model)
    assert "attn_pv" in text and "int8 per-channel (axis 0)" in text and "52 quantizers on" in text
    assert "classifier head" in text


def test_config_is_named_and_rejects_unknown_methods(quant):
    assert quant.CONFIG_NAME == "swin_int8"
    assert quant.SWIN_INT8_CFG["quant_cfg"][0] == {"quantizer_name": "*", "enable": False}
    hist = quant.swin_int8_config("percentile")
    acts = [e["cfg"] for e in hist["quant_cfg"] if "cfg" in e and not e["quantizer_name"].endswith("weight_quantizer")]
    assert acts and all(c["calibrator"] == "histogram" for c in acts)
    with pytest.raises(quant.QuantizationError, match="percentile"):
        quant.swin_int8_config("minmax")


def test_double_quantization_is_refused(quant, calibrated):
    with pytest.raises(quant.QuantizationError, match="FP32"):
        quant.insert_quantizers(calibrated.model)


def test_recipes_are_a_table(quant, fp32_model, monkeypatch):
    """Recipes are named entries; adding one (here a Linear/Conv-only placement) is one entry, chosen by name."""
    import copy

    from edge_swin.quant import config

    assert quant.get_recipe("swin_int8").config() == quant.swin_int8_config() == quant.SWIN_INT8_CFG
    assert quant.DEFAULT_RECIPE == "swin_int8" and config.recipe_name(quant.swin_int8_config(), "max") == "swin_int8"
    with pytest.raises(quant.QuantizationError, match="unknown quantization recipe 'int4'.*swin_int8"):
        quant.get_recipe("int4")
    linear_only = config.Recipe("linear_int8", "GEMMs and convolution only",
                                tuple(s for s in config.SWIN_INT8 if not s.role.startswith("attn_")))
    monkeypatch.setitem(config.RECIPES, "linear_int8", linear_only)
    model = quant.insert_quantizers(copy.deepcopy(fp32_model), recipe="linear_int8")
    on = quant.enabled_quantizers(model)
    assert on and not any(n.endswith(ATTN) for n in on)
    assert config.recipe_name(linear_only.config("max"), "max") == "linear_int8"


def test_block_recipe_quantizes_a_bare_block(quant):
    """quantize_block: the recipe's attention sites on a WindowAttention outside a model, calibrated."""
    import torch

    block = WindowAttention(32, 2, (8, 8), 4, shift=True)
    quant.quantize_block(block, torch.randn(2, 8, 8, 32, generator=torch.Generator().manual_seed(0)))
    on = quant.enabled_quantizers(block)
    assert {f"{a}" for a in ATTN} <= set(on) and {"qkv.weight_quantizer", "proj.input_quantizer"} <= set(on)
    assert all(q.amax is not None for q in on.values())


def test_unknown_recipe_fails_before_any_work(tmp_path, capsys):
    from pipelines.build import main

    assert main(["--target", "jetson-orin", "--quant-recipe", "int4", "--out", str(tmp_path / "run")]) == 2
    assert "unknown quantization recipe 'int4'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_fp8_recipe_is_the_int8_placement_in_e4m3():
    from edge_swin.quant.config import QuantizationError, get_recipe

    int8, fp8 = get_recipe("swin_int8").config("max"), get_recipe("swin_fp8").config("max")
    assert [e["quantizer_name"] for e in fp8["quant_cfg"]] == [e["quantizer_name"] for e in int8["quant_cfg"]]
    cfgs = [e["cfg"] for e in fp8["quant_cfg"] if "cfg" in e]
    assert cfgs and all(c["num_bits"] == (4, 3) for c in cfgs)
    assert all(c["axis"] is None for c in cfgs)  # per tensor, weights too (the FP8 node's kernels take one scale)
    with pytest.raises(QuantizationError, match="calibrates with 'max' only"):
        get_recipe("swin_fp8").config("percentile")


def test_target_table_fp8_rule():
    from edge_swin.trt import get_target, load_targets

    fp8 = {name for name, t in load_targets().items() if "fp8" in t.precisions}
    assert fp8 == {"jetson-thor", "l4", "h100", "rtx"}  # the GPUs with FP8 tensor cores
    assert {name for name in fp8 if get_target(name).default_low_precision == "fp8"} == {"jetson-thor", "l4", "h100"}
    assert all(load_targets()[n].default_low_precision == "int8" for n in ("jetson-orin", "orin-nano", "t4", "a10", "a100"))
    from edge_swin.errors import TargetError
    from edge_swin.trt.targets import _check

    row = {"build_on": "device", "hardware_compatibility": "none", "dla": "none", "sm": 87, "batch": [1, 1, 8],
           "precisions": ["fp8", "int8"]}
    with pytest.raises(TargetError, match=r"\[bad\] lists fp8 but sm = 87"):
        _check("bad", row)
