"""QuantWindowAttention: same math as WindowAttention, with quantizers on the inputs of both products."""
from __future__ import annotations

import modelopt.torch.quantization as mtq
import torch


def test_disabled_quantizers_give_the_fp32_output_bit_for_bit(quant, fp32, fp32_model, images):
    model = quant.insert_quantizers(fp32)
    mtq.disable_quantizer(model, "*")
    with torch.no_grad():
        assert torch.equal(model(images), fp32_model(images))


def test_both_attention_products_are_quantized(quant, ptq, fp32_model, images):
    seen = {}
    attn = ptq.attention_modules()
    hooks = []

    def record(key):
        def hook(module, inputs, output):
            seen[key] = (inputs[0].shape, output)  # returns None: the output is left as it is
        return hook

    for i, module in enumerate(attn):
        for name in quant.ATTENTION_QUANTIZERS:
            hooks.append(getattr(module, name).register_forward_hook(record((i, name))))
    with torch.no_grad():
        ptq(images)
    for h in hooks:
        h.remove()
    assert len(seen) == 4 * len(attn)
    for i, module in enumerate(attn):
        heads, n, hd = module.num_heads, module.window_area, module.head_dim
        assert seen[(i, "q_bmm_quantizer")][0][1:] == (heads, n, hd)
        assert seen[(i, "k_bmm_quantizer")][0][1:] == (heads, n, hd)
        assert seen[(i, "softmax_quantizer")][0][1:] == (heads, n, n)
        assert seen[(i, "v_bmm_quantizer")][0][1:] == (heads, n, hd)
        # fake-quantized: at most 255 distinct levels per tensor
        assert seen[(i, "softmax_quantizer")][1].unique().numel() <= 255


def test_only_attention_quantizers_change_the_output(quant, ptq, fp32_model, images):
    mtq.disable_quantizer(ptq, lambda name: not name.endswith(tuple(quant.ATTENTION_QUANTIZERS)))
    with torch.no_grad():
        out, ref = ptq(images), fp32_model(images)
    assert not torch.equal(out, ref)
    assert torch.nn.functional.cosine_similarity(out, ref).min() > 0.99
