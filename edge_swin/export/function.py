"""The `edge_swin.SwinWindowAttention` ONNX local function: its signature and its two bodies.

What the node is
----------------
One node is one whole W-MSA / SW-MSA: everything `WindowAttention.forward` does
on a [B, H, W, C] map, from the cyclic shift to the shift back. Inside: roll by
-shift, zero-pad to whole windows, window partition, qkv projection, attention
per window and head with the relative-position bias (+ the shift mask),
output projection, window reverse, crop, roll by +shift.

Why the geometry is inside the node and not around it: the node's attributes
(window_size, shift_size) only mean something if the node owns the geometry,
and the plugin that replaces the body does better with it: it reads the qkv
projection output per window *with the shift and the padding folded into its
index arithmetic* (strided reads of the [B, H, W, 3C] projection), so the
rolled, padded and partitioned copies that the body materialises never exist
on the fast path. With roll/pad/partition outside the node, TensorRT would
materialise them as separate layers in front of the plugin, and the plugin
would have no way to get rid of them. The body here is the reference
semantics for that plugin, written in standard ONNX so ONNX Runtime and
TensorRT (without our plugin) run the same file.

Signature (the contract with the plugin; bump `FUNCTION_VERSION` when it changes)
------------------------------------------------------------------------------
inputs, in order:
  0 x         [B, H, W, C]      tokens (after norm1)
  1 qkv_w     [3C, C]           nn.Linear layout (out, in)
  2 qkv_b     [3C]
  3 proj_w    [C, C]
  4 proj_b    [C]
  5 rel_bias  [heads, N, N]     relative-position bias already gathered, N = wh * ww
  6 mask      [nW, N, N]        SW-MSA shift mask (0 / -100); for W-MSA a [1, 1, 1] zero ("no mask")
  INT8 (QAT, `precision="int8"`) nodes only, float32, scale = amax / 127 of the modelopt quantizer:
  7 qkv_x_scale   []      per-tensor scale of the qkv input (the partitioned, padded windows)
  8 qkv_w_scale   [3C]    per-output-channel scale of qkv_w
  9 q_scale       []      q * scale (left input of Q x K^T)
  10 k_scale      []      k (right input of Q x K^T)
  11 softmax_scale []     softmax output (left input of P x V)
  12 v_scale      []      v (right input of P x V)
  13 proj_x_scale []      proj input (heads merged)
  14 proj_w_scale [C]     per-output-channel scale of proj_w
output: y [B, H, W, C]
attributes: num_heads (int), window_size (ints [wh, ww]), shift_size (ints [sh, sw]),
            scale (float, applied to q), version (int, = FUNCTION_VERSION)
            plugin_namespace (string, "edge_swin": the TensorRT parser picks our registered plugin by it;
            without the plugin the body is used)

A node has 7 inputs (FP32/FP16) or 15 (INT8); the function in a file has the
same number of formal inputs as its nodes (one precision per file).

INT8 semantics (the fake-quant arithmetic of `edge_swin.quant`): Q/DQ is
int8, zero point 0, round half to even, clamp [-128, 127]:
qdq(t, s) = DequantizeLinear(QuantizeLinear(t, s)). The body does
    t   = qdq(windows, qkv_x_scale);  qkv = t @ qkv_w^T + qkv_b
    attn = qdq(q * scale, q_scale) @ qdq(k, k_scale)^T + bias (+ mask)
    out = qdq(softmax(attn), softmax_scale) @ qdq(v, v_scale)
    y   = qdq(out, proj_x_scale) @ proj_w^T + proj_b
The weights arrive already quantize-dequantized (inputs 1 and 3 are the
outputs of per-channel DequantizeLinear nodes in the main graph, axis 0 with
scales 8 and 14): float32 values on the INT8 grid, so the plugin gets its exact
int8 weights as round(w / w_scale) per output row. Why outside the body: a
per-channel int8 QuantizeLinear needs a zero-point tensor of the channel count
(or opset 21's output_dtype, which TensorRT 10.3 on JetPack 6 lacks), which a
shape-generic body cannot hold as a constant; in the main graph it is an
initializer. Scales 8 and 14 are unused by the body and are there for the
plugin. The scales are node inputs (initializers), not attributes: the body
feeds them straight into QuantizeLinear/DequantizeLinear, and TensorRT sees
constant Q/DQ scales after inlining (explicit quantization).
Version history: 1 = inputs 0-6; 2 = inputs 7-14 (INT8) added.

FP8 (the `swin_fp8` recipe): the same 15 inputs and the same places, each qdq an E4M3 pair
(QuantizeLinear/DequantizeLinear with a `float8e4m3fn` zero point 0, saturating, opset >= 19), every scale
amax / 448 of its modelopt quantizer, per tensor, the weights' too. Inputs 1 and 3 are the weights
themselves as float8e4m3fn initializers (e4m3 of w / w_scale), which the body dequantizes with scales 8 and
14: that is how the plugin tells an FP8 node from an INT8 one (TensorRT gives it FP8 weight tensors). The
node keeps its 15 inputs.

Why W-MSA gets a [1, 1, 1] zero instead of no mask: TensorRT's ONNX parser
(TensorRT-RTX 1.7.1, measured) refuses a local-function call with an input
left out ("Invalid Node", and it requires node.input().size() ==
function.input().size()), and an absent input can only be consumed by an
optional op slot. A broadcastable zero keeps one body for both kinds of block;
the plugin tells them apart by shift_size == 0 (or the mask's [1, 1, 1] shape)
and never reads it. ONNX Runtime and TensorRT fold bias + mask into one constant.

Every shape the body needs (H, W, padding, window count) is computed from the
input's shape, so the batch axis may be dynamic; every constant is `CastLike`d
to the token type, so the same body serves FP32 and FP16 graphs.
"""
from __future__ import annotations

import onnx
from onnx import AttributeProto, TensorProto, helper

# The op's identity, inputs and attributes: edge_swin.plugins.swin_window_attention.contract (shared with the plugin and the TensorRT side).
from edge_swin.plugins.swin_window_attention.contract import (  # noqa: F401  (re-exported)
    ATTRIBUTES,
    DOMAIN,
    DOMAIN_VERSION,
    FUNCTION_VERSION,
    INPUTS,
    INT8_INPUTS,
    OP_TYPE,
    SCALE_INPUTS,
)


BODIES = ("matmul", "attention23")
# The lowest default-domain opset each body needs (Attention: 23).
MIN_OPSET = {"matmul": 17, "attention23": 23}
FP8_MIN_OPSET = 19  # QuantizeLinear/DequantizeLinear with float8e4m3fn
MAX_OPSET = 23  # the newest opset the bodies and the exporter were checked with


class _Body:
    """Node list with fresh value names; the small vocabulary the bodies are written in."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self._n = 0

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs):
        names = [f"{op_type.lower()}_{self._n}_{i}" for i in range(outputs)]
        self._n += 1
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def const(self, values, dtype=TensorProto.INT64) -> str:
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        return self.op("Constant", value=helper.make_tensor(f"c{self._n}", dtype, [len(values)], values))

    def scalar(self, value, dtype=TensorProto.INT64) -> str:
        return self.op("Constant", value=helper.make_tensor(f"c{self._n}", dtype, [], [value]))

    def attr_const(self, kind: str, attr: str, attr_type) -> str:
        """A Constant whose value is the calling node's attribute (`value_ints = @window_size`)."""
        name = f"{attr}_{self._n}"
        self._n += 1
        node = helper.make_node("Constant", [], [name])
        node.attribute.append(helper.make_attribute_ref(kind, attr_type, ref_attr_name=attr))
        self.nodes.append(node)
        return name

    def qdq(self, t: str, scale: str, qtype: int = TensorProto.INT8) -> str:
        """Per-tensor QuantizeLinear -> DequantizeLinear (zero point 0 of `qtype`: int8 or float8e4m3fn) with a
        scalar float scale."""
        zp = self.op("Constant", value=helper.make_tensor(f"zp{self._n}", qtype, [], [0]))
        return self.op("DequantizeLinear", self.op("QuantizeLinear", t, scale, zp), scale, zp)

    def dq(self, t: str, scale: str, qtype: int) -> str:
        """Per-tensor DequantizeLinear (zero point 0 of `qtype`) of a quantized input with a scalar float scale."""
        zp = self.op("Constant", value=helper.make_tensor(f"zp{self._n}", qtype, [], [0]))
        return self.op("DequantizeLinear", t, scale, zp)

    def item(self, vec: str, i: int) -> str:
        """Element i of a 1-D int64 tensor, as a 1-element 1-D tensor (ready for Concat)."""
        return self.op("Slice", vec, self.const([i]), self.const([i + 1]), self.const([0]))

    def cat(self, *parts: str) -> str:
        return self.op("Concat", *parts, axis=0)

    def roll(self, x: str, amount: str, size: str, axis: int) -> str:
        """torch.roll(x, shifts=-amount) along `axis`: out[i] = x[(i + amount) mod size] (Gather, so shift 0 is fine)."""
        idx = self.op("Mod", self.op("Add", self.op("Range", self.scalar(0), self.op("Squeeze", size, self.const([0])),
                                                     self.scalar(1)), amount), self.op("Squeeze", size, self.const([0])))
        return self.op("Gather", x, idx, axis=axis)


def _build(body_kind: str, int8: bool = False, float_body: bool = False, fp8: bool = False) -> onnx.FunctionProto:
    if body_kind not in BODIES:
        raise ValueError(f"unknown attention body '{body_kind}'; choose one of {', '.join(BODIES)}")
    if int8 and body_kind != "matmul":
        raise ValueError("the INT8 body is 'matmul' only: the softmax output is quantized, and ONNX Attention "
                         "keeps it inside")
    b = _Body()
    x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask = INPUTS
    fp8_weights = (INPUTS[1], INPUTS[3]) if fp8 else ()  # the FP8 node's weights arrive as float8e4m3fn
    if float_body:
        # The INT8 node of an FP16 graph: fp16 tensors in and out, the body in float32 between two casts, so its
        # Q/DQ take the float32 scale inputs and quantize exactly as the FP32 graph's node.
        x, qkv_w, qkv_b, proj_w, proj_b, rel_bias, mask = (
            t if t in fp8_weights else b.op("Cast", t, to=TensorProto.FLOAT) for t in INPUTS)
    qkv_xs, qkv_ws, q_s, k_s, p_s, v_s, proj_xs, proj_ws = SCALE_INPUTS
    if fp8:
        # FP8: inputs 1 and 3 are the e4m3 weights themselves (what the plugin reads as bytes), dequantized here
        # with their per-tensor scales 8 and 14.
        qkv_w = b.dq(qkv_w, qkv_ws, TensorProto.FLOAT8E4M3FN)
        proj_w = b.dq(proj_w, proj_ws, TensorProto.FLOAT8E4M3FN)
    qtype = TensorProto.FLOAT8E4M3FN if fp8 else TensorProto.INT8
    qdq = (lambda t, scale: b.qdq(t, scale, qtype)) if int8 else (lambda t, _scale: t)

    ws = b.attr_const("value_ints", "window_size", AttributeProto.INTS)      # [wh, ww]
    ss = b.attr_const("value_ints", "shift_size", AttributeProto.INTS)       # [sh, sw]
    heads = b.op("Reshape", b.attr_const("value_int", "num_heads", AttributeProto.INT), b.const([1]))
    scale = b.op("CastLike", b.attr_const("value_float", "scale", AttributeProto.FLOAT), x)

    shape = b.op("Shape", x)
    H, W, C = b.item(shape, 1), b.item(shape, 2), b.item(shape, 3)
    wh, ww, sh, sw = b.item(ws, 0), b.item(ws, 1), b.item(ss, 0), b.item(ss, 1)
    neg = b.const([-1])
    N = b.op("Mul", wh, ww)
    hd = b.op("Div", C, heads)

    # roll by -shift (a Gather on each spatial axis; identity for W-MSA)
    t = b.roll(x, b.op("Squeeze", sh, b.const([0])), H, axis=1)
    t = b.roll(t, b.op("Squeeze", sw, b.const([0])), W, axis=2)
    # pad bottom/right to whole windows: p = (w - H mod w) mod w
    ph = b.op("Mod", b.op("Sub", wh, b.op("Mod", H, wh)), wh)
    pw = b.op("Mod", b.op("Sub", ww, b.op("Mod", W, ww)), ww)
    zero = b.const([0])
    t = b.op("Pad", t, b.cat(zero, zero, zero, zero, zero, ph, pw, zero), b.op("CastLike", b.scalar(0.0, TensorProto.FLOAT), x))
    Hp, Wp = b.op("Add", H, ph), b.op("Add", W, pw)
    nh, nw = b.op("Div", Hp, wh), b.op("Div", Wp, ww)
    nW = b.op("Mul", nh, nw)
    # window partition: [B, nh, wh, nw, ww, C] -> [B*nW, N, C]
    t = b.op("Reshape", t, b.cat(neg, nh, wh, nw, ww, C))
    t = b.op("Transpose", t, perm=[0, 1, 3, 2, 4, 5])
    t = b.op("Reshape", t, b.cat(neg, N, C))
    t = qdq(t, qkv_xs)
    # qkv projection and head split: [B*nW, N, 3C] -> 3 x [B*nW, heads, N, hd]
    qkv = b.op("Add", b.op("MatMul", t, b.op("Transpose", qkv_w, perm=[1, 0])), qkv_b)
    qkv = b.op("Transpose", b.op("Reshape", qkv, b.cat(neg, N, b.const([3]), heads, hd)), perm=[2, 0, 3, 1, 4])
    q, k, v = b.op("Split", qkv, b.const([1, 1, 1]), axis=0, outputs=3)
    q, k, v = (b.op("Squeeze", t_, b.const([0])) for t_ in (q, k, v))

    # bias + mask: [1, heads, N, N] + [nW, 1, N, N] (SW-MSA) or + [1, 1, 1, 1] zero (W-MSA)
    attn_bias = b.op("Add", b.op("Unsqueeze", rel_bias, b.const([0])), b.op("Unsqueeze", mask, b.const([1])))
    attn_bias = b.op("CastLike", attn_bias, x)

    if body_kind == "matmul":
        logits = b.op("MatMul", qdq(b.op("Mul", q, scale), q_s),
                      qdq(b.op("Transpose", k, perm=[0, 1, 3, 2]), k_s))                   # [B*nW, heads, N, N]
        logits = b.op("Reshape", logits, b.cat(neg, nW, heads, N, N))
        logits = b.op("Add", logits, attn_bias)                                            # broadcast over B
        logits = b.op("Reshape", logits, b.cat(neg, heads, N, N))
        out = b.op("MatMul", qdq(b.op("Softmax", logits, axis=-1), p_s), qdq(v, v_s))      # [B*nW, heads, N, hd]
    else:
        # ONNX Attention (opset 23): float attn_mask broadcast to [B*nW, heads, N, N]
        BnW = b.op("Shape", q, start=0, end=1)
        full = b.op("Expand", b.op("Unsqueeze", attn_bias, b.const([0])),
                    b.cat(b.op("Div", BnW, nW), nW, heads, N, N))
        full = b.op("Reshape", full, b.cat(neg, heads, N, N))
        out = b.op("Attention", q, k, v, full)
        # Attention's own `scale` attribute, taken by reference from the calling node
        b.nodes[-1].attribute.append(helper.make_attribute_ref("scale", AttributeProto.FLOAT, ref_attr_name="scale"))

    out = b.op("Reshape", b.op("Transpose", out, perm=[0, 2, 1, 3]), b.cat(neg, N, C))    # heads merged
    out = b.op("Add", b.op("MatMul", qdq(out, proj_xs), b.op("Transpose", proj_w, perm=[1, 0])), proj_b)
    # window reverse, crop the padding, roll back by +shift
    out = b.op("Reshape", out, b.cat(neg, nh, nw, wh, ww, C))
    out = b.op("Transpose", out, perm=[0, 1, 3, 2, 4, 5])
    out = b.op("Reshape", out, b.cat(neg, Hp, Wp, C))
    out = b.op("Slice", out, b.cat(zero, zero), b.cat(H, W), b.const([1, 2]))
    back_h = b.op("Squeeze", b.op("Sub", H, sh), b.const([0]))   # roll by +s == roll by -(H - s)
    back_w = b.op("Squeeze", b.op("Sub", W, sw), b.const([0]))
    out = b.roll(out, back_h, H, axis=1)
    out = b.roll(out, back_w, W, axis=2)
    if float_body:
        b.nodes.append(helper.make_node("CastLike", [out, INPUTS[0]], ["y"]))  # back to the node's io type
    else:
        b.nodes.append(helper.make_node("Identity", [out], ["y"]))

    opset = max(MIN_OPSET[body_kind], FP8_MIN_OPSET if fp8 else 0)
    return helper.make_function(
        DOMAIN, OP_TYPE, list(INT8_INPUTS if int8 else INPUTS), ["y"], b.nodes,
        opset_imports=[helper.make_opsetid("", opset)],
        attributes=list(ATTRIBUTES),
        doc_string=f"Swin W-MSA/SW-MSA on [B, H, W, C] ({body_kind} body"
                   f"{(', FP8 E4M3 Q/DQ' if fp8 else ', INT8 Q/DQ') if int8 else ''}"
                   f"{', computed in float32 between casts' if float_body else ''}, "
                   f"signature version {FUNCTION_VERSION}); "
                   "see edge_swin/export/function.py",
    )


def window_attention_function(body: str = "matmul", opset: int | None = None, int8: bool = False,
                              float_body: bool = False, fp8: bool = False) -> onnx.FunctionProto:
    """The FunctionProto for `body` (`int8`: the 15-input Q/DQ variant); its default-domain opset import is set to
    `opset` (the model's). float_body: cast the tensor inputs to float32 and the output back to x's type (the INT8
    node of an FP16 graph: fp16 io, its Q/DQ on float32 with the float32 scale inputs). fp8 (with int8=True, the
    15-input signature): the Q/DQ pairs are E4M3 (float8e4m3fn zero points), opset >= 19."""
    if fp8 and not int8:
        raise ValueError("fp8=True is the quantized (15-input) body: pass int8=True with it")
    if fp8 and opset is not None and opset < FP8_MIN_OPSET:
        raise ValueError(f"the FP8 body needs opset >= {FP8_MIN_OPSET} (float8e4m3fn Q/DQ), got {opset}")
    fn = _build(body, int8, float_body, fp8)
    if opset is not None:
        del fn.opset_import[:]
        fn.opset_import.extend([helper.make_opsetid("", opset)])
    return fn
