"""`export_onnx`: a Swin (or any module holding WindowAttention blocks) -> ONNX with one custom node per block.

Route (docs/findings.md, "Getting the function into the ONNX file"): the dynamo exporter
(`torch.onnx.export(..., dynamo=True)`), with each WindowAttention's forward
swapped, for the export only, for one that emits
`torch.onnx.ops.symbolic("edge_swin::SwinWindowAttention", ...)`. The exporter
sees an opaque node (no body yet), so neither its optimizer nor its version
conversion can inline anything; the FunctionProto is appended afterwards, with
the model's default-domain opset, and nothing that inlines functions runs after
that (onnxsim/onnxslim keep them, and we check they did). This does not depend
on the deprecated TorchScript exporter's `export_modules_as_functions`.

INT8 with an FP16 graph (`high_precision_dtype="fp16"`, modelopt's name): everything that is not quantized
(LayerNorm, GELU, softmax, residual adds, the unquantized linears), the graph's input and output and the
SwinWindowAttention nodes' tensors are float16, the main graph's Q/DQ take fp16 scales (opset >= 19), and
the node's function body casts to float32 around its Q/DQ, which keep the float32 scale inputs. What a
strongly typed INT8 engine (TensorRT 11, TensorRT-RTX) then runs in FP16 instead of FP32.

INT8 (QAT/PTQ, Q/DQ), `precision="int8"` on a modelopt-quantized model (or the
path of an `edge_swin.quant.save_quantized` checkpoint): the same exporter;
`edge_swin.export.qdq.qdq_forward` turns every enabled quantizer into
QuantizeLinear/DequantizeLinear for the export, each SwinWindowAttention node
gets 15 inputs (the eight block scales after the mask, function.py) and the
15-input function body quantize-dequantizes where the fake-quant model does.

FP8, `precision="fp8"` on a model quantized with the `swin_fp8` recipe (modelopt E4M3): the same route and
the same 15-input node; every Q/DQ pair, in the main graph and in the function body, is standard ONNX
QuantizeLinear/DequantizeLinear with a `float8e4m3fn` zero point (opset >= 19, scale = amax / 448), and the
weights are float8e4m3fn initializers behind DequantizeLinear. ONNX Runtime runs the file on any CPU.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
import torch.nn as nn

from edge_swin.export.errors import ExportError
from edge_swin.export.function import BODIES, FP8_MIN_OPSET, MAX_OPSET, MIN_OPSET, window_attention_function
from edge_swin.export.int8_weights import feed_fp8_weights_to_nodes, store_int8_weights
from edge_swin.export.qdq import qdq_forward
from edge_swin.export.report import graph_report
from edge_swin.export.simplify import simplify as simplify_model
from edge_swin.export.symbolic import BLOCK_KEY, custom_op_forward
from edge_swin.models.window_attention import WindowAttention, padded_size
from edge_swin.plugins.swin_window_attention.contract import (BLOCK_QUANTIZERS, DOMAIN, DOMAIN_VERSION, INPUTS,
                                                              INT8_INPUTS, OP_TYPE, add_plugin_namespace,
                                                              attention_nodes)
from edge_swin.quant.errors import ScaleError
from edge_swin.quant.scales import block_scales, is_quantized_model, tensor_quantizer_class
from edge_swin.utils.io import atomic_path, write_json

PRECISIONS = ("fp32", "fp16", "int8", "fp8")
QUANTIZED = ("int8", "fp8")  # Q/DQ from a modelopt-quantized model's quantizers
HIGH_PRECISION_DTYPES = ("fp32", "fp16")  # the float type of an INT8 graph's unquantized parts
FP16_QDQ_MIN_OPSET = 19  # QuantizeLinear/DequantizeLinear on float16 tensors
DEFAULT_OPSET = {"matmul": 18, "attention23": 23}
PLAIN_MIN_OPSET = 17


@dataclass
class ExportResult:
    path: Path
    report_path: Path | None
    report: dict
    precision: str
    attention_body: str | None
    custom_op: bool
    opset: int
    dynamic_batch: bool
    batch: int
    input_name: str
    output_name: str
    input_shape: tuple
    simplified_with: str | None
    seconds: float
    blocks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["path"], d["report_path"] = str(self.path), str(self.report_path) if self.report_path else None
        return d


def attention_blocks(model: nn.Module) -> list[tuple[str, WindowAttention]]:
    return [(name or type(model).__name__, m) for name, m in model.named_modules() if isinstance(m, WindowAttention)]


def check_block(name: str, m: WindowAttention) -> None:
    """Everything the SwinWindowAttention op assumes about one block; ExportError names the block and the reason."""
    (H, W), (wh, ww), (sh, sw) = m.feat_size, m.window_size, m.shift_size
    if wh > H or ww > W:
        raise ExportError(
            f"window {wh}x{ww} is larger than the {H}x{W} feature map; SwinWindowAttention pads a map only up to whole "
            f"windows and has no rule for a window larger than the map. Build the block with fit_window "
            f"(window = min(window, map), as SwinTransformer does) or a window_size <= {min(H, W)}", block=name)
    if wh < 1 or ww < 1:
        raise ExportError(f"window {wh}x{ww} is empty", block=name)
    if not (0 <= sh < wh and 0 <= sw < ww):
        raise ExportError(f"shift {sh}x{sw} is outside [0, window {wh}x{ww}); the op's roll and shift mask assume "
                          f"0 <= shift < window", block=name)
    if m.dim % m.num_heads:
        raise ExportError(f"dim {m.dim} is not divisible by num_heads {m.num_heads}", block=name)
    N = wh * ww
    Hp, Wp = padded_size((H, W), (wh, ww))
    nW = (Hp // wh) * (Wp // ww)
    if m.shifted:
        if m.attn_mask is None or tuple(m.attn_mask.shape) != (nW, N, N):
            got = None if m.attn_mask is None else tuple(m.attn_mask.shape)
            raise ExportError(f"SW-MSA (shift {sh}x{sw}) needs a shift mask of shape {(nW, N, N)}, has {got}", block=name)
    elif m.attn_mask is not None:
        raise ExportError("W-MSA (shift 0) carries a shift mask; the op takes none for W-MSA", block=name)
    table = (2 * wh - 1) * (2 * ww - 1)
    if tuple(m.relative_position_bias_table.shape) != (table, m.num_heads):
        raise ExportError(f"relative_position_bias_table has shape {tuple(m.relative_position_bias_table.shape)}, "
                          f"window {wh}x{ww} and {m.num_heads} heads need {(table, m.num_heads)}", block=name)
    if tuple(m.qkv.weight.shape) != (3 * m.dim, m.dim) or tuple(m.proj.weight.shape) != (m.dim, m.dim):
        raise ExportError(f"qkv/proj weights {tuple(m.qkv.weight.shape)}/{tuple(m.proj.weight.shape)} do not fit "
                          f"dim {m.dim}", block=name)


def _check_opset(opset: int, body: str | None, blocks) -> None:
    where = f" (first block: {blocks[0][0]})" if blocks else ""
    lo = MIN_OPSET[body] if body else PLAIN_MIN_OPSET
    if not lo <= opset <= MAX_OPSET:
        need = f"the '{body}' body of {DOMAIN}::{OP_TYPE} needs" if body else "plain export needs"
        raise ExportError(f"opset {opset} is not supported: {need} {lo} <= opset <= {MAX_OPSET}{where}"
                          + (" ('attention23' is the ONNX Attention op, opset 23; use 'matmul' below)"
                             if body == "attention23" else ""))


def _check_precision(precision: str, model: nn.Module, body: str | None) -> None:
    if precision not in PRECISIONS:
        raise ExportError(f"unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    quantized = is_quantized_model(model)
    if precision in QUANTIZED:
        if not quantized:
            raise ExportError(
                f"precision '{precision}' needs a modelopt-quantized (calibrated PTQ/QAT) model; this "
                f"{type(model).__name__} has no quantizers. Pass edge_swin.quant.load_quantized(<{precision}.pth>) "
                f"(or the checkpoint path itself), or a model calibrated with edge_swin.quant.calibrate"
                + (" (recipe='swin_fp8')" if precision == "fp8" else ""))
        from edge_swin.quant.config import enabled_quantizers  # modelopt: loaded already, the model holds quantizers

        if not enabled_quantizers(model):
            raise ExportError(f"precision '{precision}': the model's quantizers are all disabled; nothing to quantize")
        found = _quant_format(model)
        if found != precision:
            raise ExportError(f"precision '{precision}', but the model's quantizers are {found.upper()}: export it "
                              f"with precision='{found}', or quantize with the "
                              f"{'swin_fp8' if precision == 'fp8' else 'swin_int8'} recipe")
        if body not in (None, "matmul"):
            raise ExportError(f"{precision.upper()} export needs the 'matmul' attention body, not '{body}': the "
                              f"softmax output is quantized (Q/DQ), which the ONNX Attention op keeps inside")
    elif quantized:
        raise ExportError(f"this model holds {_quant_format(model).upper()} quantizers (modelopt): export it with "
                          f"precision='{_quant_format(model)}', not '{precision}' (or export the FP32 model it was "
                          "quantized from)")


def _quant_format(model: nn.Module) -> str:
    """"int8" or "fp8": what the model's enabled quantizers are (ExportError if they mix)."""
    from edge_swin.quant.config import QuantizationError, quant_format

    try:
        return quant_format(model)
    except QuantizationError as e:
        raise ExportError(str(e)) from e


def _example_input(model: nn.Module, batch: int, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(model, WindowAttention):
        return torch.randn(batch, *model.feat_size, model.dim, dtype=dtype)
    img = getattr(model, "img_size", None)
    chans = getattr(model, "in_chans", None)
    if img is None or chans is None:
        raise ExportError(f"cannot tell the input shape of a {type(model).__name__}: pass example_input=")
    return torch.randn(batch, chans, *img, dtype=dtype)


def _finish_model(mp: onnx.ModelProto, opset: int, body: str | None, int8: bool = False,
                  float_body: bool = False, fp8: bool = False) -> onnx.ModelProto:
    """Set the default-domain opset, declare our domain, append the function (custom-op export)."""
    for o in mp.opset_import:
        if o.domain in ("", "ai.onnx") and o.version != opset:
            raise ExportError(f"the exporter wrote opset {o.version}, asked for {opset}")
    if body is None:
        return mp
    if not any(o.domain == DOMAIN for o in mp.opset_import):
        mp.opset_import.append(onnx.helper.make_opsetid(DOMAIN, DOMAIN_VERSION))
    for o in mp.opset_import:
        if o.domain == DOMAIN:
            o.version = DOMAIN_VERSION
    n_inputs = len(INT8_INPUTS if int8 else INPUTS)
    for node in attention_nodes(mp):
        # TensorRT's parser wants every formal input of a local function on the node: absent ones as "".
        while len(node.input) < n_inputs:
            node.input.append("")
        block = {p.key: p.value for p in node.metadata_props}.get(BLOCK_KEY)
        if block:
            node.name = block
    # TensorRT's ONNX parser imports a local-function node as its body unless the node names a plugin
    # namespace; with this attribute it maps the node to our plugin when that is registered (exact
    # namespace match) and still uses the body when it is not. ONNX Runtime ignores it.
    add_plugin_namespace(mp)
    del mp.functions[:]
    if attention_nodes(mp):
        mp.functions.append(window_attention_function(body, opset, int8=int8, float_body=float_body, fp8=fp8))
    return mp


def export_onnx(
    model: nn.Module | str | Path,
    path: str | Path,
    *,
    batch: int = 1,
    dynamic_batch: bool = False,
    precision: str = "fp32",
    attention_body: str = "matmul",
    custom_op: bool = True,
    opset: int | None = None,
    simplify: bool = True,
    example_input: torch.Tensor | None = None,
    input_name: str = "input",
    output_name: str = "output",
    write_report: bool = True,
    high_precision_dtype: str = "fp32",
) -> ExportResult:
    """Export `model` to ONNX at `path` (written atomically) and write `<stem>.report.json` beside it.

    model: a SwinTransformer, a single WindowAttention, or any module holding WindowAttention blocks (then pass
      `example_input`). It is not modified: FP16 export works on a copy, and the custom-op forward is swapped in
      only for the export. For INT8: a modelopt-quantized model (`edge_swin.quant.load_quantized(path)`, or a
      calibrated/QAT model in memory), or the path of the INT8 checkpoint itself (loaded with `load_quantized`).
    batch: the static batch, or the example batch when `dynamic_batch` (axis 0 named "batch").
    precision: "fp32" | "fp16" (weights, inputs and outputs FP16) | "fp8" (a swin_fp8 model: E4M3 Q/DQ with
      float8e4m3fn zero points, opset >= 19; otherwise as "int8") | "int8" (Q/DQ from the model's quantizers; input
      and output stay FP32; needs the "matmul" body when custom_op).
    attention_body: the SwinWindowAttention function body, "matmul" (every TensorRT) or "attention23"
      (ONNX Attention, opset 23; TensorRT >= 10.14). Per target: `edge_swin.trt.get_target(t).attention`.
    custom_op: False exports the plain graph (every op inlined) for comparison.
    opset: default 18 for "matmul" (and plain), 23 for "attention23"; 19 for an INT8 export with an FP16 graph.
    high_precision_dtype: INT8 only: "fp32" (default) or "fp16", the float type of everything not quantized, the
      graph's input/output and the SwinWindowAttention nodes' tensors (modelopt's high_precision_dtype).
    """
    t0 = time.perf_counter()
    path = Path(path)
    if isinstance(model, (str, Path)):
        model = _load_checkpoint(Path(model), precision)
    body = attention_body if custom_op else None
    if custom_op and attention_body not in BODIES:
        raise ExportError(f"unknown attention body '{attention_body}': use one of {', '.join(BODIES)}")
    if high_precision_dtype not in HIGH_PRECISION_DTYPES:
        raise ExportError(f"high_precision_dtype '{high_precision_dtype}': use one of "
                          f"{', '.join(HIGH_PRECISION_DTYPES)}")
    int8_fp16 = high_precision_dtype == "fp16"
    fp8 = precision == "fp8"
    if int8_fp16 and precision not in QUANTIZED:
        raise ExportError(f"high_precision_dtype='fp16' is the float type of an INT8 graph (or an FP8 one); for precision "
                          f"'{precision}' leave it at 'fp32' (precision='fp16' is the FP16 export)")
    default_opset = max(DEFAULT_OPSET[body or "matmul"], FP16_QDQ_MIN_OPSET if int8_fp16 else 0,
                        FP8_MIN_OPSET if fp8 else 0)
    opset = int(opset if opset is not None else default_opset)
    if int8_fp16 and opset < FP16_QDQ_MIN_OPSET:
        raise ExportError(f"opset {opset}: an INT8 graph in FP16 needs opset >= {FP16_QDQ_MIN_OPSET} "
                          "(QuantizeLinear/DequantizeLinear on float16 tensors)")
    if fp8 and opset < FP8_MIN_OPSET:
        raise ExportError(f"opset {opset}: FP8 Q/DQ (float8e4m3fn) needs opset >= {FP8_MIN_OPSET}; leave opset out "
                          f"or pass {FP8_MIN_OPSET} or more")
    blocks = attention_blocks(model)
    _check_precision(precision, model, body)
    int8 = precision in QUANTIZED  # the quantized (Q/DQ, 15-input node) export; `fp8` says which grid
    _check_opset(opset, body, blocks)
    for name, m in blocks:
        check_block(name, m)
    if batch < 1:
        raise ExportError(f"batch must be >= 1, got {batch}")

    dtype = torch.float16 if precision == "fp16" or int8_fp16 else torch.float32
    work = model
    if precision == "fp16" or int8_fp16 or model.training:
        work = copy.deepcopy(model).eval()
        if precision == "fp16":
            work = work.half()
        if int8_fp16:
            _half_except_quantizers(work)
        blocks = attention_blocks(work)
    # torch.export specialises a dynamic axis whose example size is 1: trace dynamic batches with >= 2.
    trace_batch = max(batch, 2) if dynamic_batch else batch
    if example_input is None:
        x = _example_input(work, trace_batch, dtype)
    else:
        x = example_input.to(dtype)
        if dynamic_batch and x.shape[0] < 2:
            x = torch.cat([x] * 2)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None

    swap = custom_op_forward(blocks, int8=int8) if custom_op else _nullcontext()
    quant_swap = qdq_forward(work) if int8 else _nullcontext()
    try:
        with quant_swap, swap, torch.no_grad():
            program = torch.onnx.export(
                work, (x,), dynamo=True, opset_version=opset, optimize=True, verbose=False,
                input_names=[input_name], output_names=[output_name], dynamic_shapes=dynamic_shapes,
                external_data=False)
    except ExportError:
        raise
    except ScaleError as e:  # a quantizer the Q/DQ or the node cannot take: the same message, as an export error
        raise ExportError(e.reason, block=e.block) from None
    except Exception as e:  # the exporter's own errors are long; keep the first lines and what to do
        cause = e
        while cause.__cause__ is not None and not isinstance(cause, (ExportError, ScaleError)):
            cause = cause.__cause__
        if isinstance(cause, ExportError):
            raise cause from e
        if isinstance(cause, ScaleError):
            raise ExportError(cause.reason, block=cause.block) from e
        first = "\n".join(str(e).strip().splitlines()[:6])
        raise ExportError(f"torch.onnx.export (dynamo) failed for {type(model).__name__}: {first}") from e

    mp = _finish_model(program.model_proto, opset, body, int8, float_body=int8_fp16, fp8=fp8)
    simplified_with, simplify_info = None, None
    if simplify:
        mp, simplify_info = simplify_model(mp)
        simplified_with = simplify_info["tool"]
    if int8:
        mp, _ = store_int8_weights(mp)
    if fp8 and custom_op:
        feed_fp8_weights_to_nodes(mp, attention_nodes(mp))
    try:
        onnx.checker.check_model(mp, full_check=True)
        mp = onnx.shape_inference.infer_shapes(mp, check_type=True, strict_mode=True)
    except Exception as e:
        raise ExportError(f"the exported model fails onnx.checker / shape inference: {e}") from e

    n_custom = len(attention_nodes(mp))
    if custom_op and n_custom != len(blocks):
        raise ExportError(f"expected one {OP_TYPE} node per block ({len(blocks)}), found {n_custom}")
    if not custom_op and n_custom:
        raise ExportError(f"plain export still holds {n_custom} {OP_TYPE} nodes")
    if int8 and not any(n.op_type == "QuantizeLinear" for g in [mp.graph.node, *(f.node for f in mp.functions)]
                        for n in g):
        raise ExportError(f"{precision.upper()} export wrote no QuantizeLinear node: the quantizers did not reach "
                          "the graph")

    with atomic_path(path) as tmp:
        onnx.save_model(mp, tmp)
    report = graph_report(mp, path)
    report.update(precision=precision, high_precision_dtype=high_precision_dtype, attention_body=body, custom_op=custom_op, dynamic_batch=dynamic_batch,
                  batch=None if dynamic_batch else batch, exporter=f"torch.onnx dynamo (torch {torch.__version__})",
                  onnx=onnx.__version__, simplify=simplify_info, blocks=[n for n, _ in blocks])
    if int8:
        report[precision] = _int8_summary(work, blocks, custom_op, fp8)
    report_path = None
    if write_report:
        report_path = path.with_name(path.stem + ".report.json")
        write_json(report_path, report)
    return ExportResult(
        path=path, report_path=report_path, report=report, precision=precision, attention_body=body,
        custom_op=custom_op, opset=opset, dynamic_batch=dynamic_batch, batch=batch, input_name=input_name,
        output_name=output_name, input_shape=tuple(x.shape[1:]), simplified_with=simplified_with,
        seconds=time.perf_counter() - t0, blocks=[n for n, _ in blocks])


def _half_except_quantizers(model: nn.Module) -> None:
    """Parameters and buffers to float16, but not the quantizers' (their amax keeps its float32 value: the
    scales come from it)."""
    quantizer = tensor_quantizer_class()
    inside = {id(m) for q in model.modules() if isinstance(q, quantizer) for m in q.modules()}
    for m in model.modules():
        if id(m) in inside:
            continue
        for name, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]:
            if t is not None and t.is_floating_point():
                t.data = t.data.half()


def _load_checkpoint(path: Path, precision: str) -> nn.Module:
    if precision not in QUANTIZED:
        raise ExportError(f"a checkpoint path ({path}) is taken for precision='int8' or 'fp8' only (a quantized "
                          f"checkpoint from edge_swin.quant.save_quantized); for '{precision}' pass the model")
    from edge_swin.quant import QuantizationError, load_quantized

    try:
        return load_quantized(path)
    except QuantizationError as e:
        raise ExportError(f"cannot load the INT8 checkpoint {path}: {e}") from e


def _int8_summary(model: nn.Module, blocks, custom_op: bool, fp8: bool = False) -> dict:
    """What the report says about the quantization: quantizers exported and each node's eight scales."""
    from edge_swin.quant.config import enabled_quantizers

    out = {"quantizers_enabled": len(enabled_quantizers(model)),
           "qdq": ("float8e4m3fn (E4M3), zero point 0, saturating, scale = amax / 448" if fp8
                   else "int8, zero point 0, scale = amax / 127")}
    if custom_op:
        out["block_scales"] = {
            name: {inp: (round(float(p.scale), 9) if p.axis is None else f"per-channel [{p.scale.numel()}]")
                   for (inp, _, _), p in zip(BLOCK_QUANTIZERS, block_scales(m, name))}
            for name, m in blocks}
    return out


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
