"""Stage `export`: the float model as ONNX with one SwinWindowAttention node per block, checked in ONNX Runtime.

The function body is the target's (`attention` in targets.toml: MatMul+Softmax
for TensorRT 10.3 on JetPack 6, the ONNX Attention op where the parser fuses
it). The batch axis is dynamic so one file serves the target's batch profile.
Before the file is accepted, ONNX Runtime must reproduce PyTorch's logits on
validation images.
"""
from __future__ import annotations

import torch

from edge_swin.eval import OrtModel, max_relative_error
from edge_swin.export import ExportError, export_onnx
from edge_swin.stages import Stage
from edge_swin.utils.io import sha256_file
from pipelines.stages.context import RunContext

PARITY_IMAGES = 16
MAX_RELATIVE_ERROR = 1e-4  # FP32 PyTorch vs FP32 ONNX Runtime on the same images


def run(ctx: RunContext) -> None:
    target = ctx.target
    inputs = {"weights_sha256": sha256_file(ctx.weights), "attention": target.attention, "dynamic_batch": True}
    stage = Stage(ctx.out_dir, "export", inputs)
    if stage.up_to_date():
        print(f"[export] up to date: {stage.dir}")
    else:
        model = ctx.build_model(ctx.weights).eval()
        result = export_onnx(model, stage.path("model_fp32.onnx"), dynamic_batch=True, attention_body=target.attention)
        val_set = ctx.datasets[1]
        images = torch.stack([val_set[i][0] for i in range(min(PARITY_IMAGES, len(val_set)))])
        with torch.no_grad():
            error = max_relative_error(OrtModel(result.path)(images), model(images))
        if error > MAX_RELATIVE_ERROR:
            result.path.unlink()
            raise ExportError(f"ONNX Runtime's logits differ from PyTorch's by {error:.2e} (relative) on {len(images)} "
                              f"validation images, over {MAX_RELATIVE_ERROR:.0e}: the export is wrong; please report it")
        report = result.report
        numbers = {"fp32": {"opset": result.opset, "attention_body": target.attention,
                            "custom_ops": report["custom_op_count"], "nodes": report["nodes"],
                            "bytes": result.path.stat().st_size, "ort_max_relative_error": float(f"{error:.3g}"),
                            "simplified_with": result.simplified_with}}
        stage.finish({"fp32": result.path, "fp32_report": result.report_path}, numbers,
                     note="INT8 (Q/DQ) ONNX: not built yet")
        print(f"[export] {result.path} ({len(result.blocks)} SwinWindowAttention nodes, {target.attention} body); "
              f"ONNX Runtime vs PyTorch max relative error {error:.1e}")
        print("[export] INT8 (Q/DQ) ONNX: not built yet")
    ctx.stages["export"] = stage.manifest
    ctx.onnx_fp32 = stage.artifact("fp32")
