"""The runtime's benchmark backends and whole_model_benchmark on a machine without a GPU: a reason, never a number."""
from __future__ import annotations

import pytest
import torch

from edge_swin.bench import ModelSpec, NotAvailable, make_runner, run_suite

COMPILED = ("torch_compile_fp16", "runtime_fp16", "runtime_int8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answer")
@pytest.mark.parametrize("name", COMPILED)
def test_backend_says_why_not_on_cpu(name, nano):
    with pytest.raises(NotAvailable, match="needs a CUDA GPU"):
        make_runner(name, ModelSpec(img_size=32, build_torch=lambda: nano), device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answer")
def test_suite_lists_them_as_not_available(nano):
    result = run_suite(ModelSpec(img_size=32, build_torch=lambda: nano), list(COMPILED), [1], runs=1, warmup=0)
    for name in COMPILED:
        assert result["backends"][name]["status"].startswith("not available: ")
        assert "batches" not in result["backends"][name]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answer")
def test_whole_model_benchmark_without_a_gpu():
    from edge_swin.bench.whole_model import whole_model_benchmark

    result = whole_model_benchmark()
    assert result["status"].startswith("not available: ") and "rows" not in result


def test_whole_model_benchmark_plumbing_through_the_interpreter(nano, tmp_path):
    """The GPU suite's code path, run on swin_nano through Triton's interpreter (times meaningless): every
    contender runs, fidelity and a checkpoint's accuracy come out, the JSON is written. The INT8 checkpoint's
    accuracy runs the same loop with convert(..., "int8") (tested in test_runtime_convert.py); left out for time."""
    from edge_swin.bench.whole_model import format_markdown, whole_model_benchmark

    fp32_path = tmp_path / "model.pth"
    torch.save({"model": nano.state_dict(), "variant": "swin_nano", "classes": [str(i) for i in range(10)]}, fp32_path)
    result = whole_model_benchmark((1,), arch="swin_nano", runs=1, warmup=0, device="cpu", calibration_images=4,
                                   fp32_checkpoint=fp32_path, max_images=2, out=tmp_path / "whole.json",
                                   progress=False)
    row = result["rows"][0]
    assert all(isinstance(row[f"{n}_ms"], float) for n in ("eager_fp16", "torch_compile_fp16", "runtime_fp16",
                                                            "runtime_int8")), row
    assert result["fidelity"]["runtime_fp16"]["max_rel_logit_err"] < 1e-2
    assert result["fidelity"]["runtime_int8"]["vs"] == "modelopt fake quant"
    assert result["fidelity"]["runtime_int8"]["max_rel_logit_err"] < 5e-2
    acc = result["accuracy"]
    assert acc["images"] == 2 and {"pytorch_fp32", "runtime_fp16", "runtime_fp16_vs_pytorch_fp32"} <= set(acc)
    assert (tmp_path / "whole.json").is_file() and "| 1 |" in format_markdown(result)
