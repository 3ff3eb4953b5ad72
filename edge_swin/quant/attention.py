"""INT8 window attention: a modelopt quantized counterpart of `WindowAttention`.

modelopt quantizes `nn.Linear`/`nn.Conv2d` by itself, but the two attention
matrix products of a Swin block are plain tensor ops inside
`WindowAttention.attend`, invisible to it. Registering `WindowAttention` in
modelopt's `QuantModuleRegistry` makes `mtq.quantize` convert every window
attention into `QuantWindowAttention`, which carries four extra
`TensorQuantizer`s on the inputs of those products:

    q_bmm_quantizer    q * head_dim**-0.5   (left input of Q x K^T)
    k_bmm_quantizer    k                    (right input of Q x K^T)
    softmax_quantizer  softmax(...)         (left input of P x V)
    v_bmm_quantizer    v                    (right input of P x V)

so both products take INT8 inputs with calibrated per-tensor scales: the
scales the fused INT8 window-attention plugin needs. The names follow
modelopt's own attention plugins (diffusers, megatron), so its wildcards
(`*bmm_quantizer`) apply. Which of them are enabled is the config's business
(`edge_swin.quant.config`); a disabled quantizer is the identity.

Importing this module registers the class; `mto.restore` of an edge-swin INT8
checkpoint needs it imported first (importing `edge_swin.quant` does that).
"""
from __future__ import annotations

import torch
from modelopt.torch.quantization.nn import QuantModuleRegistry, TensorQuantizer
from modelopt.torch.quantization.nn.modules.quant_module import QuantInputBase, QuantModule

from edge_swin.models.window_attention import WindowAttention

# quantizer attribute -> what it quantizes; also the order of the summary table.
ATTENTION_QUANTIZERS: dict[str, str] = {
    "q_bmm_quantizer": "Q of Q x K^T (after the 1/sqrt(head_dim) scale)",
    "k_bmm_quantizer": "K of Q x K^T",
    "softmax_quantizer": "softmax output, left input of P x V",
    "v_bmm_quantizer": "V of P x V",
}
REGISTRY_KEY = "WindowAttention"


class QuantWindowAttention(QuantModule):
    """`WindowAttention` whose two attention products quantize their inputs.

    Only `matmul_qk` and `matmul_pv` are overridden; everything else (qkv/proj
    linears, which modelopt converts on their own; bias and mask adds, softmax)
    is the float module's code, so with the four attention quantizers disabled
    the output is bit-identical to `WindowAttention` (tests hold this).
    """

    q_bmm_quantizer: TensorQuantizer
    k_bmm_quantizer: TensorQuantizer
    softmax_quantizer: TensorQuantizer
    v_bmm_quantizer: TensorQuantizer

    def _setup(self):
        for name in ATTENTION_QUANTIZERS:
            # Temporary attributes: modelopt removes them if the model is ever exported back to a plain module.
            self._register_temp_attribute(name, TensorQuantizer(QuantInputBase.default_quant_desc_input))

    def matmul_qk(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        # q arrives already scaled by 1/sqrt(head_dim): the plugin's INT8 q is the scaled one.
        return self.q_bmm_quantizer(q) @ self.k_bmm_quantizer(k).transpose(-2, -1)

    def matmul_pv(self, probs: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.softmax_quantizer(probs) @ self.v_bmm_quantizer(v)


def register() -> None:
    """Register `QuantWindowAttention` with modelopt (idempotent; done on import)."""
    if WindowAttention not in QuantModuleRegistry:
        QuantModuleRegistry.register({WindowAttention: REGISTRY_KEY})(QuantWindowAttention)


register()
