"""The SwinWindowAttention op's contract: every fact the exporter, the plugin and the TensorRT side share.

One place for the node's identity (domain, name, versions, the plugin namespace the TensorRT parser keys
on), its inputs in order, its attributes and the head dim the plugin's kernels are compiled for, plus the
two ONNX helpers everyone needs: find the nodes in a model (`attention_nodes`) and give them the plugin
namespace (`add_plugin_namespace`). The signature itself is documented in `edge_swin.export.function`.

The C++ plugin repeats the identity in csrc/swin_attention_params.h (kPluginName, kPluginVersion,
kPluginNamespace, kFunctionVersion, kHeadDim); tests/test_structure.py holds the two equal.
Standard library only at import time (onnx is imported by the helpers), so anything may import this.
"""
from __future__ import annotations

DOMAIN = "edge_swin"
OP_TYPE = "SwinWindowAttention"
DOMAIN_VERSION = 1
FUNCTION_VERSION = 2  # the node's `version` attribute; the plugin refuses what it does not know
PLUGIN_NAMESPACE = DOMAIN  # the namespace our TensorRT plugin creator registers under
PLUGIN_VERSION = "1"  # the creator's version (the node carries no plugin_version: the parser's default "1")
HEAD_DIM = 32  # the head dim the plugin's kernels are compiled for (C = num_heads * 32)

INPUTS = ("x", "qkv_w", "qkv_b", "proj_w", "proj_b", "rel_bias", "mask")
# INT8 nodes: inputs 7..14 (edge_swin.export.qdq.BLOCK_QUANTIZERS, same order)
SCALE_INPUTS = ("qkv_x_scale", "qkv_w_scale", "q_scale", "k_scale", "softmax_scale", "v_scale", "proj_x_scale",
                "proj_w_scale")
INT8_INPUTS = INPUTS + SCALE_INPUTS
ATTRIBUTES = ("num_heads", "window_size", "shift_size", "scale", "version")


def is_attention_node(node) -> bool:
    """Whether an onnx.NodeProto is a SwinWindowAttention call."""
    return node.domain == DOMAIN and node.op_type == OP_TYPE


def attention_nodes(model) -> list:
    """The SwinWindowAttention nodes of a model's main graph, in graph order.

    model: an onnx.ModelProto, or a path to an ONNX file (read without its external weights).
    """
    if not hasattr(model, "graph"):
        import onnx

        model = onnx.load(str(model), load_external_data=False)
    return [node for node in model.graph.node if is_attention_node(node)]


def node_attributes(node) -> dict:
    """A node's attributes as Python values (ints, lists, floats, strings as bytes)."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def node_window(node) -> tuple[int, int] | None:
    """The (window_h, window_w) of a SwinWindowAttention node, None when the attribute is missing or odd."""
    size = node_attributes(node).get("window_size", ())
    size = [int(size)] * 2 if isinstance(size, int) else [int(v) for v in size]
    return (size[0], size[1]) if len(size) == 2 else None


def model_windows(models) -> list[tuple[int, int]]:
    """The distinct windows of the SwinWindowAttention nodes of several models (ModelProtos or paths), sorted."""
    return sorted({w for model in models for w in map(node_window, attention_nodes(model)) if w is not None})


def add_plugin_namespace(model, namespace: str = PLUGIN_NAMESPACE) -> int:
    """Give every SwinWindowAttention node of the onnx.ModelProto `model` plugin_namespace=`namespace` (in place,
    where it has none), so that TensorRT's parser maps it to our plugin when the library is registered (and
    still imports the function body when it is not; ONNX Runtime ignores it). Returns the number of nodes.
    The exporter writes the attribute itself; this serves files exported before it did."""
    from onnx import helper

    nodes = attention_nodes(model)
    for node in nodes:
        if not any(a.name == "plugin_namespace" for a in node.attribute):
            node.attribute.append(helper.make_attribute("plugin_namespace", namespace))
    return len(nodes)
