"""Evaluation: top-1/top-5 and agreement between models."""
from edge_swin.eval.metrics import accuracy_from_logits, agreement, evaluate, predict, topk_correct

__all__ = ["accuracy_from_logits", "agreement", "evaluate", "predict", "topk_correct"]
