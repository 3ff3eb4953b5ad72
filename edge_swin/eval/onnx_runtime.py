"""Run an exported ONNX file in ONNX Runtime (CPU) like a PyTorch model: the reference semantics of the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_swin.errors import EdgeSwinError


class OrtModel:
    """An ONNX Runtime session that takes and returns torch tensors, so `evaluate`/`predict` accept it."""

    def __init__(self, path: str | Path, threads: int | None = None, exact_qdq: bool = False):
        """exact_qdq: basic graph optimisations only, so Q/DQ pairs run as float arithmetic, exactly the fake-quant
        model's; by default ORT fuses them into its integer kernels (what a deployment on a CPU would run)."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise EdgeSwinError(f"ONNX file not found: {path}. Rerun the export stage (python -m pipelines.build).")
        options = ort.SessionOptions()
        # errors only: on FP16 files ORT warns once per node it cannot constant-fold on a CPU, which is noise here
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        if exact_qdq:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        self.path = path

    def eval(self) -> "OrtModel":  # the interface predict() uses
        return self

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        dtype = np.float16 if self.input.type == "tensor(float16)" else np.float32
        (logits,) = self.session.run(None, {self.input.name: images.detach().cpu().numpy().astype(dtype)})
        return torch.from_numpy(logits.astype(np.float32))


def max_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max|a - b| / max|b|: one number for 'do two backends compute the same logits'."""
    return ((actual.float() - expected.float()).abs().max() / expected.float().abs().max().clamp_min(1e-12)).item()
