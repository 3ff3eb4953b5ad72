"""The timing loop, the not-available reasons and the suite's JSON shape, on tiny inputs."""
import time

import pytest
import torch

from edge_swin.bench import (BACKENDS, DEFAULT_BACKENDS, REGISTRY, ModelSpec, NotAvailable, make_runner, run_suite,
                              summarize, time_call)
from edge_swin.bench.backends import Backend, TorchRunner
from edge_swin.bench.plot import plot_latency


def test_summarize_order_statistics():
    s = summarize(list(range(1, 101)), batch=4)
    assert s.runs == 100 and s.median_ms == 50.5 and s.min_ms == 1
    assert 90 <= s.p90_ms <= 91 and 99 <= s.p99_ms <= 100
    assert s.images_per_s == pytest.approx(4 * 1000 / 50.5)


def test_time_call_counts_warmup_and_runs():
    calls = []
    s = time_call(lambda: calls.append(time.sleep(0.001)), batch=1, warmup=2, runs=5)
    assert len(calls) == 7 and s.runs == 5 and s.median_ms >= 1.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the reasons given on a machine without a GPU")
def test_unavailable_backends_say_why():
    spec = ModelSpec(img_size=32, build_torch=lambda: torch.nn.Identity())
    reasons = {}
    for name in ("pytorch_fp16", "onnxruntime_fp32", "onnxruntime_int8", "tensorrt", "tensorrt_rtx"):
        with pytest.raises(NotAvailable) as e:
            make_runner(name, spec)
        reasons[name] = str(e.value)
    assert reasons["pytorch_fp16"] == "fp16 eager needs a CUDA GPU"
    assert "no FP32 ONNX file" in reasons["onnxruntime_fp32"]
    assert "CUDA GPU" in reasons["tensorrt"] and "CUDA GPU" in reasons["tensorrt_rtx"]


def test_suite_json_lists_unavailable_without_numbers(tmp_path):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    spec = ModelSpec(img_size=8, build_torch=lambda: model, name="tiny")
    result = run_suite(spec, ["pytorch_fp32", "pytorch_fp16", "tensorrt"], [1, 4], threads=1, warmup=1, runs=3, rounds=2)
    ok = result["backends"]["pytorch_fp32"]
    assert ok["status"] == "ok" and set(ok["batches"]) == {"1", "4"} and ok["model_bytes"] == (192 * 4 + 4) * 4
    for row in ok["batches"].values():
        assert row["median_ms"] > 0 and row["images_per_s"] > 0 and row["runs"] == 4  # 2 rounds of ceil(3/2)
    if not torch.cuda.is_available():
        for name in ("pytorch_fp16", "tensorrt"):
            assert result["backends"][name]["status"].startswith("not available: ")
            assert set(result["backends"][name]) == {"status"}
    assert result["header"]["versions"]["torch"] == torch.__version__
    assert plot_latency(result, tmp_path / "p.png").stat().st_size > 1000


def test_backends_are_one_table(monkeypatch):
    """Names, defaults and labels come from REGISTRY; a new backend is one entry that make_runner then builds."""
    assert BACKENDS == tuple(REGISTRY) and set(DEFAULT_BACKENDS) == set(BACKENDS) - {"torch_compile"}
    assert all(b.label for b in REGISTRY.values())
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        make_runner("nope", ModelSpec(img_size=8))
    factory = lambda name, spec, device, threads: TorchRunner(name, spec.build_torch(), device, torch.float32)
    monkeypatch.setitem(REGISTRY, "pytorch_twin", Backend("PyTorch again", factory, default=False))
    runner = make_runner("pytorch_twin", ModelSpec(img_size=8, build_torch=lambda: torch.nn.Identity()))
    assert runner.name == "pytorch_twin" and runner.logits(torch.ones(1, 3)).shape == (1, 3)
