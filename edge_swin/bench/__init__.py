"""Latency and accuracy per backend, and the regression checks over them.

    from edge_swin.bench import ModelSpec, run_suite, plot_latency, compare
    spec = ModelSpec(img_size=32, build_torch=lambda: model, onnx_fp32=Path("model_fp32.onnx"))
    result = run_suite(spec, ["pytorch_fp32", "onnxruntime_fp32", "tensorrt"], batches=[1, 8, 64], threads=1)
    result["backends"]["tensorrt"]["status"]      # 'not available: ...' where it cannot run
    plot_latency(result, "latency.png")
    failures = compare(measured, baseline)        # [] when nothing regressed

Modules: timing (warm-up + timed runs -> Stats), memory (peak RSS / CUDA peak), env (header, device_id),
backends (REGISTRY: the backend table, runners, NotAvailable), suite (run_suite, table), plot, accuracy, regression (compare, measure_*),
reference (the small deterministic model + data the regression tests use).
"""
from edge_swin.bench.backends import BACKENDS, DEFAULT_BACKENDS, REGISTRY, ModelSpec, NotAvailable, Runner, make_runner
from edge_swin.bench.env import device_id, header
from edge_swin.bench.plot import plot_latency
from edge_swin.bench.regression import DEFAULT_TOLERANCES, compare, measure_accuracy, measure_latency_ratio, ratio_key
from edge_swin.bench.suite import run_suite, table
from edge_swin.bench.timing import Stats, summarize, time_call

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "DEFAULT_TOLERANCES", "REGISTRY", "ModelSpec", "NotAvailable", "Runner", "Stats", "compare", "device_id",
           "header", "make_runner", "measure_accuracy", "measure_latency_ratio", "plot_latency", "ratio_key",
           "run_suite", "summarize", "table", "time_call"]
