"""Evaluation: top-1/top-5 and agreement between models."""
from edge_swin.eval.metrics import accuracy_from_logits, agreement, evaluate, predict, topk_correct
from edge_swin.eval.onnx_runtime import OrtModel, max_relative_error

__all__ = ["OrtModel", "accuracy_from_logits", "agreement", "evaluate", "max_relative_error", "predict", "topk_correct"]
