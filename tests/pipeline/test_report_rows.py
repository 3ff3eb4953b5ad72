"""report.md's stage table: each row carries the stage's numbers, read from its manifest."""
from pipelines.stages.report import to_markdown
from pipelines.stages.summaries import stage_summary


def artifact(path):
    return {"path": path, "sha256": "0" * 64, "bytes": 1}


STAGES = {
    "model": {"status": "done", "seconds": 1.2, "numbers": {"parameters": 535190, "source": "random init (seed)"}},
    "train": {"status": "done", "seconds": 300.0, "artifacts": {"weights": artifact("model.pth")},
              "numbers": {"epochs": 8, "val_top1": 88.1, "val_top5": 99.7, "train_minutes": 4.9, "wall_minutes": 5.0,
                          "resumed_from_epoch": 0, "images_per_second": 1650.4}},
    "qat": {"status": "done", "seconds": 50.0, "artifacts": {"int8": artifact("int8.pth")},
            "numbers": {"fp32": {"top1": 88.1, "top5": 99.7},
                        "ptq": {"top1": 88.0, "top5": 99.7, "top1_drop": 0.1, "top1_agreement": 99.2, "mean_cosine": 0.999},
                        "qat": {"top1": 88.05, "top5": 99.7, "top1_drop": 0.05, "top1_agreement": 99.5, "mean_cosine": 0.9995},
                        "checked": "qat", "passed": True}},
    "export": {"status": "done", "seconds": 11.0,
               "artifacts": {"fp32": artifact("model_fp32.onnx"), "int8": artifact("model_int8.onnx")},
               "numbers": {p: {"opset": 17, "attention_body": "matmul", "custom_ops": 4, "nodes": 100, "qdq_pairs": q,
                               "qdq_pairs_in_function": q, "bytes": b, "ort_max_relative_error": e, "simplified_with": None}
                           for p, q, b, e in (("fp32", 0, 2_130_000, 4e-7), ("int8", 49, 608_000, 3.1e-3))}},
    "engine": {"status": "done", "note": "bundle for the device: x86 host", "seconds": 0.5,
               "numbers": {"bundle": "runs/x/bundle", "bundle_files": 34, "bundle_sha256": "ab", "engines": {}}},
    "evaluate": {"status": "done", "seconds": 18.0,
                 "numbers": {"pytorch_fp32": {"top1": 88.1, "top5": 99.7, "n": 10000},
                             "onnxruntime_int8": {"top1": 87.95, "top5": 99.7, "n": 10000},
                             "tensorrt_int8": {"status": "not available: no CUDA GPU"}}},
}


def rows(markdown: str) -> dict[str, str]:
    """The stage table's rows by stage name."""
    table = markdown.split("## Stages", 1)[1].split("\n## ", 1)[0]
    return {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}


def test_every_row_carries_its_numbers():
    report = {"created": "now", "command": "python -m pipelines.build", "model": "swin_nano",
              "target": {"name": "jetson-orin", "description": "Orin", "tensorrt": "10.3", "sm": 87},
              "data": {"name": "fashion-mnist", "sha256": "f" * 64}, "device": "cpu", "stages": STAGES, "versions": {}}
    table = rows(to_markdown(report))
    assert table["model"] == "| model | done | 1.2 | 535,190 parameters, random init (seed) |"
    assert "8 epochs: val top-1 88.10%" in table["train"] and "1650 img/s" in table["train"]
    assert "`train/model.pth`" in table["train"]
    assert "PTQ 88.00% (drop 0.10 points" in table["qat"] and "QAT 88.05% (drop 0.05 points" in table["qat"]
    assert "QAT drop check passed" in table["qat"] and "`qat/int8.pth`" in table["qat"]
    assert "`export/model_fp32.onnx` 2.13 MB, 4 SwinWindowAttention, ONNX Runtime vs PyTorch 4.0e-07" in table["export"]
    assert "`export/model_int8.onnx` 0.61 MB" in table["export"] and "3.1e-03" in table["export"]
    assert "bundle `runs/x/bundle` (34 files)" in table["engine"]
    assert "pytorch_fp32 88.10%, onnxruntime_int8 87.95%, tensorrt_int8 not available" in table["evaluate"]


def test_rows_carry_the_numbers_of_torchrun_and_inlined_copies():
    train = {"numbers": {**STAGES["train"]["numbers"], "processes": 2, "precision": "bf16"}}
    assert "(2 process(es), bf16)" in stage_summary("train", train)
    assert "process" not in stage_summary("train", {"numbers": {**STAGES["train"]["numbers"], "processes": 1,
                                                                "precision": "fp32"}})
    export = {"numbers": {"int8": {**STAGES["export"]["numbers"]["int8"], "inlined_copy": "model_int8_inlined.onnx"}}}
    assert "(inlined copy `export/model_int8_inlined.onnx`)" in stage_summary("export", export)


def test_a_manifest_of_another_version_falls_back_to_its_plain_numbers():
    odd = {"status": "done", "numbers": {"fp32": {"top1": 1.0}, "checked": "qat", "passed": True}}  # no ptq/qat drops
    assert stage_summary("qat", odd) == "FP32 1.00%; QAT drop check passed"
    assert stage_summary("train", {"numbers": {"epochs": 2}}) == "epochs 2"  # keys missing: plain
    assert stage_summary("engine", {"status": "not_built"}) == ""
    assert stage_summary("bench", {"numbers": {"ms": 1.5, "detail": {}}}) == "ms 1.5"
