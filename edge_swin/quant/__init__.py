"""INT8 (and, with the swin_fp8 recipe, FP8 E4M3) quantization of Swin with NVIDIA modelopt: placement, calibration, QAT with distillation, accuracy report.

The whole stage, as the pipeline runs it::

    from edge_swin.quant import (QATConfig, accuracy_report, calibrate, calibration_loader, check_accuracy_drop,
                                 format_quant_summary, load_quantized, qat_finetune, save_quantized)

    teacher = create_swin(name, pretrained=ckpt, num_classes=n)          # FP32, stays FP32
    student = create_swin(name, pretrained=ckpt, num_classes=n)          # becomes INT8 (fake-quant)
    loader, calib_set = calibration_loader(train_ds, size=512, seed=0)   # calib/: seeded, class-balanced
    cal = calibrate(student, loader, method="max", cache_dir=run / "calib", calib_set=calib_set)
    print(format_quant_summary(student))
    ptq = load_quantized(cal.path)                                       # PTQ-only copy for the report
    qat = qat_finetune(student, teacher, train_loader, QATConfig(epochs=2), checkpoint_dir=run / "qat")
    save_quantized(student, run / "int8.pth", metadata={"calibration": cal.manifest()})
    report = accuracy_report(teacher, ptq, val_loader, qat=student, max_drop=1.0)
    check_accuracy_drop(report)                                          # QuantizationError if INT8 lost too much

Public API:

- `RECIPES` {name: Recipe}, `get_recipe(name).config(method)`: the named placements (recipes; today
  "swin_int8", the default); `swin_int8_config(method="max", quantize_head=False, quantize_attention=True) -> dict`
  that placement as a modelopt config; `SWIN_INT8` lists its sites.
- `quantize_block(block, calib_x, recipe="swin_int8")`: a bare WindowAttention quantized and max-calibrated
- `calibration_loader(dataset, size=512, seed=0, batch_size=32, class_balanced=True) -> (DataLoader, CalibrationSet)`
- `calibrate(model, loader, method="max", *, config=None, recipe="swin_int8", cache_dir=None, percentile=99.99, calib_set=None,
  entropy_stride=8, device=None, progress=True) -> CalibrationResult`  (methods: max, percentile, entropy)
- `insert_quantizers(model, config=None, method="max") -> model`  (quantizers only, no scales)
- `quant_summary(model) -> list[dict]`, `format_quant_summary(model) -> str`
- `distillation_loss(student_logits, teacher_logits, targets, temperature=2.0, alpha=0.5) -> DistillationTerms`,
  `DistillationLoss`
- `qat_step(student, teacher, images, targets, optimizer, loss_fn, clip_grad=None, precision="fp32", scaler=None) -> dict`
- `qat_finetune(student, teacher, train_loader, config=QATConfig(), checkpoint_dir=None, resume=True,
  val_loader=None, on_step=None) -> QATResult`  (`QATConfig.precision`: auto/bf16/fp16/fp32; under torchrun
  the student is wrapped in DDP, give each rank a loader over its share, e.g. `edge_swin.train.batches.RankBatches`)
- `save_quantized(model, path, metadata=None) -> Path`, `load_quantized(path, model=None) -> nn.Module`
  (`mto.save` / `mto.restore` format; importing `edge_swin.quant.attention` registers `QuantWindowAttention`,
  which `mto.restore` needs: load_quantized and calibrate do)
- `accuracy_report(fp32, ptq, val_loader, qat=None, max_drop=1.0, device="cpu") -> dict`,
  `check_accuracy_drop(report, max_drop=None)`, `format_report(report) -> str`
- `plot_accuracy(report, title, path) -> Path`  (top-1/top-5 bar chart, PNG)
- `QuantizationError` (an `EdgeSwinError`); `ScaleError`, one for a quantizer whose scale Q/DQ cannot say
- `edge_swin.quant.scales`: a quantized model's scales (`qparams`, `block_scales`, `QParams`, `fake_quant`)
  and `edge_swin.quant.node_inputs`: a block as the SwinWindowAttention node's inputs (`node_inputs`,
  `node_inputs_of`, `run_module`: the block run as the emulated node), `edge_swin.quant.fp8_quantizers`: an FP8
  block's per-tensor scales and e4m3 weights; all without modelopt at import time (the exporter, the PyTorch
  runtime, the node's emulation and GPU harness tests use them)

The names above are imported on first use (`from edge_swin.quant import calibrate` imports modelopt then):
importing this package, or its modelopt-free modules (scales, node_inputs, fp8_quantizers, errors), costs no
modelopt import.
"""
import importlib

# public name -> the module of this package that defines it
_HOME = {
    "ATTENTION_QUANTIZERS": "attention", "QuantWindowAttention": "attention",
    "CalibrationResult": "calibration", "amax_state": "calibration", "calibrate": "calibration",
    "calibration_loader": "calibration", "insert_quantizers": "calibration", "model_digest": "calibration",
    "quantize_block": "calibration",
    "load_quantized": "checkpoint", "save_quantized": "checkpoint",
    "CALIBRATION_METHODS": "config", "CONFIG_NAME": "config", "DEFAULT_RECIPE": "config", "RECIPES": "config",
    "SWIN_INT8": "config", "SWIN_INT8_CFG": "config", "Recipe": "config", "enabled_quantizers": "config",
    "format_quant_summary": "config", "get_recipe": "config", "quant_summary": "config", "quantizers": "config",
    "swin_int8_config": "config",
    "DistillationLoss": "distill", "DistillationTerms": "distill", "distillation_loss": "distill",
    "QuantizationError": "errors", "ScaleError": "errors",
    "plot_accuracy": "plot",
    "QATConfig": "qat", "QATResult": "qat", "qat_finetune": "qat", "qat_step": "qat",
    "DEFAULT_MAX_DROP": "report", "accuracy_report": "report", "check_accuracy_drop": "report",
    "format_report": "report",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
