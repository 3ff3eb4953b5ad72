"""Stage `export`: the float model as ONNX with one SwinWindowAttention node per block, checked in ONNX Runtime.

The FP32 file's function body is the target's (`attention` in targets.toml:
MatMul+Softmax for TensorRT 10.3 on JetPack 6, the ONNX Attention op where the
parser fuses it); the INT8 file (Q/DQ from the QAT model, the attention scales
as node inputs) needs the MatMul body, whose softmax output it quantizes. The
batch axis is dynamic so one file serves the target's batch profile. Before a
file is accepted, ONNX Runtime must reproduce the PyTorch model it came from on
validation images: FP32 to 1e-4 relative, INT8 (Q/DQ run as float arithmetic,
exactly the fake-quant model's) to 1% of the largest logit, the room for a few
roundings that land on the other side of a quantization step. For targets whose
INT8 engine is built strongly typed and may use FP16 (rtx; TensorRT 11) the INT8
model is also written with an FP16 graph
(`model_int8_fp16.onnx`: unquantized layers and the SwinWindowAttention nodes'
io in FP16, Q/DQ as in model_int8.onnx), what a strongly typed INT8 engine
(TensorRT 11, TensorRT-RTX) should be built from; ONNX Runtime must reproduce
the fake-quant model with it to 3% of the largest logit (FP16 rounding included).

FP8 runs (the swin_fp8 recipe) write `model_fp8.onnx` instead of model_int8.onnx: standard Q/DQ with
float8e4m3fn zero points (edge_swin.export), checked against the fake-quant model the same way, and, where the
target allows FP16, `model_fp8_fp16.onnx` (its FP16 graph), what every FP8 engine is built from (FP8 builds
are strongly typed on every TensorRT).

Next to each file that has local functions goes `model_<precision>.inlined.onnx`,
the same model with every SwinWindowAttention call replaced by its body under
fresh names (edge_swin.trt.builder.onnx_for_parser, the Jetson bundle's copy):
a stock `trtexec` or Polygraphy, without our plugin, parses that file, while
TensorRT-RTX 1.7's parser refuses the INT8 original (the Q/DQ layers of a
function body get the same name on every call).
"""
from __future__ import annotations

import torch

from edge_swin.eval import OrtModel, max_relative_error
from edge_swin.export import ExportError, export_onnx
from edge_swin.utils.manifest import Stage
from edge_swin.utils.io import atomic_path, sha256_file
from pipelines.stages.context import RunContext
from pipelines.stages.rebuild import begin

PARITY_IMAGES = 16
# FP16: half-precision weights and activations against the FP32 PyTorch model (measured ~1e-3 on swin_nano).
# INT8 with an FP16 graph: the INT8 bound plus FP16 rounding (measured 1.3e-2 on a random swin_nano whose logits
# are ~0.16; tests/export/test_int8_fp16_export.py).
# FP8: the INT8 bound (tests/export/test_fp8_export.py measures ORT vs fake quant ~1e-7..4e-3 of the largest logit).
# FP8 with an FP16 graph: FP16 rounding before a quantizer moves a value across an E4M3 rounding midpoint now and
# then, and one E4M3 step is up to 1/8 of the value (3 mantissa bits), against INT8's amax/127: so twice INT8's
# FP16-graph bound (measured 3.4e-2 on the default run's 8-epoch swin_nano).
MAX_RELATIVE_ERROR = {"fp32": 1e-4, "fp16": 1e-2, "int8": 1e-2, "int8_fp16": 3e-2, "fp8": 1e-2, "fp8_fp16": 6e-2}


def wants_int8_fp16_graph(target, quant_format: str = "int8") -> bool:
    """Whether the target's quantized engine is built strongly typed and may use FP16: then the file's float type
    is the engine's, and an FP16 graph is what makes its unquantized layers FP16. INT8: TensorRT-RTX and
    TensorRT >= 11 (TensorRT 10 builds INT8 weakly typed with the FP16 flag from model_int8.onnx itself); FP8:
    every TensorRT (FP8 engines are strongly typed everywhere, edge_swin.trt.builder.network_typing)."""
    strongly_typed = (quant_format == "fp8" or target.flavour == "tensorrt_rtx"
                      or int(target.tensorrt.split(".")[0]) >= 11)
    return strongly_typed and quant_format in target.precisions and "fp16" in target.precisions


def run(ctx: RunContext) -> None:
    target = ctx.target
    custom_op = not getattr(ctx.args, "no_custom_op", False)
    # The FP16 file is what an FP16 engine (and the FP16 plugin) is built from: written when the target allows FP16.
    float_precisions = ("fp32", "fp16") if "fp16" in target.precisions else ("fp32",)
    fmt = ctx.quant_format
    fp16_graph = wants_int8_fp16_graph(target, fmt)
    inputs = {"weights_sha256": sha256_file(ctx.weights), "attention": target.attention, "dynamic_batch": True,
              f"{fmt}_sha256": sha256_file(ctx.quant_weights) if ctx.quant_weights else None,
              "custom_op": custom_op, "float_precisions": list(float_precisions), "inlined_copies": True,
              f"{fmt}_graphs": ["fp32", "fp16"] if fp16_graph else ["fp32"]}
    stage = Stage(ctx.out_dir, "export", inputs)
    if stage.up_to_date():
        print(f"[export] up to date: {stage.dir}")
    else:
        begin(ctx, stage)
        val_set = ctx.datasets[1]
        images = torch.stack([val_set[i][0] for i in range(min(PARITY_IMAGES, len(val_set)))])
        artifacts, numbers = {}, {}
        float_model = ctx.build_model(ctx.weights).eval()
        for precision in float_precisions:
            _export(float_model, precision, target.attention, stage, images, artifacts, numbers, custom_op)
        if ctx.quant_weights:
            from edge_swin.quant import load_quantized  # modelopt: imported only when there is a quantized model

            quant_model = load_quantized(ctx.quant_weights, fix=f"delete {ctx.quant_weights.parent} and rerun: "
                                         "the qat stage is redone").eval()
            _export(quant_model, fmt, "matmul", stage, images, artifacts, numbers, custom_op)
            if fp16_graph:
                _export(quant_model, f"{fmt}_fp16", "matmul", stage, images, artifacts, numbers, custom_op)
        else:
            print(f"[export] no {fmt.upper()} model (the qat stage did not run): FP32 only")
        stage.finish(artifacts, numbers)
    ctx.stages["export"] = stage.manifest
    ctx.onnx_fp32 = stage.artifact("fp32")
    ctx.onnx_fp16 = stage.artifact("fp16") if "fp16" in stage.manifest["artifacts"] else None
    ctx.onnx_quant = stage.artifact(fmt) if fmt in stage.manifest["artifacts"] else None
    ctx.onnx_quant_fp16 = stage.artifact(f"{fmt}_fp16") if f"{fmt}_fp16" in stage.manifest["artifacts"] else None


def _export(model, precision: str, body: str, stage: Stage, images: torch.Tensor, artifacts: dict, numbers: dict,
            custom_op: bool) -> None:
    # "int8_fp16" / "fp8_fp16": the quantized model with an FP16 graph (high_precision_dtype, edge_swin.export.exporter)
    fp16_graph = precision.endswith("_fp16")
    result = export_onnx(model, stage.path(f"model_{precision}.onnx"), dynamic_batch=True,
                         precision=precision.removesuffix("_fp16"), attention_body=body,
                         custom_op=custom_op, high_precision_dtype="fp16" if fp16_graph else "fp32")
    with torch.no_grad():
        error = max_relative_error(OrtModel(result.path, exact_qdq=True)(images), model(images))
    if error > MAX_RELATIVE_ERROR[precision]:
        result.path.unlink()
        raise ExportError(f"{precision.upper()} ONNX: ONNX Runtime's logits differ from PyTorch's by {error:.2e} "
                          f"(relative) on {len(images)} validation images, over {MAX_RELATIVE_ERROR[precision]:.0e}: "
                          "the export is wrong; please report it with this run folder")
    report = result.report
    artifacts[precision], artifacts[f"{precision}_report"] = result.path, result.report_path
    inlined = _write_inlined_copy(result.path)
    if inlined is not None:
        artifacts[f"{precision}_inlined"] = inlined
    numbers[precision] = {"opset": result.opset, "attention_body": body, "custom_ops": report["custom_op_count"],
                          "nodes": report["nodes"], "qdq_pairs": report["qdq_pairs"],
                          "qdq_pairs_in_function": report["qdq_pairs_in_functions"], "bytes": result.path.stat().st_size,
                          "ort_max_relative_error": float(f"{error:.3g}"), "simplified_with": result.simplified_with,
                          "inlined_copy": inlined.name if inlined is not None else None}
    qdq = (f", {report['qdq_pairs']} + {report['qdq_pairs_in_functions']} Q/DQ pairs"
           if precision.startswith(("int8", "fp8")) else "")
    what = f"{len(result.blocks)} SwinWindowAttention nodes, {body} body" if custom_op else "plain graph, --no-custom-op"
    print(f"[export] {result.path} ({what}{qdq}); "
          f"ONNX Runtime vs PyTorch max relative error {error:.1e}")
    if inlined is not None:
        print(f"[export] {inlined} (functions inlined: for trtexec/Polygraphy without the plugin)")


def _write_inlined_copy(path):
    """model_X.inlined.onnx beside model_X.onnx when the file has local functions; None when it has none."""
    import onnx

    from edge_swin.trt.builder import onnx_for_parser  # imports onnx only, not TensorRT

    if not onnx.load(str(path), load_external_data=False).functions:
        return None  # a --no-custom-op export: already what every parser reads
    inlined = path.with_name(path.stem + ".inlined.onnx")
    with atomic_path(inlined) as tmp:
        tmp.write_bytes(onnx_for_parser(path, inline_functions=True))
    return inlined
