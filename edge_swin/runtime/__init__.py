"""Swin on a GPU without TensorRT: the plugin's Triton kernels as PyTorch custom ops, FP16 and INT8.

    from edge_swin.runtime import convert
    model = convert("runs/<name>/train/model.pth", "fp16")           # or convert(swin_module, "fp16")
    model = convert("runs/<name>/qat/int8.pth", "int8", compile=True)  # QAT scales; torch.compile reduce-overhead
    logits = model(images)                                             # float32 images in, float32 logits out

Every WindowAttention becomes one fused node (torch.ops.edge_swin.window_attention[_int8]: qkv linear,
window attention with bias and shift mask, proj; the kernels the TensorRT plugin embeds). INT8 also runs the
patch embedding, fc1, fc2 and patch merging as int8 GEMMs (torch.ops.edge_swin.linear_int8) with the QAT
scales. The ops have fake implementations, so torch.compile keeps them in one graph.

Modules: ops (custom ops over the node's one launch sequence, edge_swin.plugins.swin_window_attention.launch),
modules (what replaces what), convert. The whole-model benchmark over it is edge_swin.bench.whole_model.
"""
from edge_swin.runtime.availability import unavailable_reason
from edge_swin.runtime.convert import PRECISIONS, RuntimeUnavailable, convert

__all__ = ["PRECISIONS", "RuntimeUnavailable", "convert", "unavailable_reason"]

