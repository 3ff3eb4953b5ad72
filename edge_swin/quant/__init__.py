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
  (`mto.save` / `mto.restore` format; importing this package registers `QuantWindowAttention`,
  which `mto.restore` needs)
- `accuracy_report(fp32, ptq, val_loader, qat=None, max_drop=1.0, device="cpu") -> dict`,
  `check_accuracy_drop(report, max_drop=None)`, `format_report(report) -> str`
- `plot_accuracy(report, title, path) -> Path`  (top-1/top-5 bar chart, PNG)
- `QuantizationError` (an `EdgeSwinError`)
"""
from edge_swin.quant.attention import ATTENTION_QUANTIZERS, QuantWindowAttention
from edge_swin.quant.calibrate import (CalibrationResult, amax_state, calibrate, calibration_loader, insert_quantizers,
                                       model_digest, quantize_block)
from edge_swin.quant.checkpoint import load_quantized, save_quantized
from edge_swin.quant.config import (CALIBRATION_METHODS, CONFIG_NAME, DEFAULT_RECIPE, RECIPES, SWIN_INT8, SWIN_INT8_CFG,
                                    Recipe, enabled_quantizers, format_quant_summary, get_recipe, quant_summary,
                                    quantizers, swin_int8_config)
from edge_swin.quant.distill import DistillationLoss, DistillationTerms, distillation_loss
from edge_swin.quant.errors import QuantizationError
from edge_swin.quant.plot import plot_accuracy
from edge_swin.quant.qat import QATConfig, QATResult, qat_finetune, qat_step
from edge_swin.quant.report import DEFAULT_MAX_DROP, accuracy_report, check_accuracy_drop, format_report

__all__ = [
    "ATTENTION_QUANTIZERS", "CALIBRATION_METHODS", "CONFIG_NAME", "CalibrationResult", "DEFAULT_MAX_DROP",
    "DEFAULT_RECIPE", "RECIPES", "Recipe", "get_recipe", "quantize_block",
    "DistillationLoss", "DistillationTerms", "QATConfig", "QATResult", "QuantWindowAttention", "QuantizationError",
    "SWIN_INT8", "SWIN_INT8_CFG", "accuracy_report", "amax_state", "calibrate", "calibration_loader",
    "check_accuracy_drop", "distillation_loss", "enabled_quantizers", "format_quant_summary", "format_report",
    "insert_quantizers", "load_quantized", "plot_accuracy", "model_digest", "qat_finetune", "qat_step", "quant_summary", "quantizers",
    "save_quantized", "swin_int8_config",
]
