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
