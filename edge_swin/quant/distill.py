"""Knowledge distillation for QAT: the FP32 model teaches its own INT8 copy.

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
         + (1 - alpha) * cross_entropy(student, labels)

T^2 keeps the soft term's gradient on the scale of the label term as T grows
(Hinton et al., 2015). With the FP32 weights as teacher, the soft term pulls
the quantized model back towards the outputs it had before quantization; the
label term keeps it anchored to the ground truth.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_TEMPERATURE = 2.0
DEFAULT_ALPHA = 0.5


class DistillationTerms(NamedTuple):
    total: torch.Tensor
    kd: torch.Tensor  # T^2-scaled KL of the tempered distributions
    ce: torch.Tensor  # cross-entropy with the labels


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor | None,
                      temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA,
                      label_smoothing: float = 0.0) -> DistillationTerms:
    """KD loss of a batch; `targets` None (or alpha 1) uses the soft term only."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    teacher_logits = teacher_logits.detach().float()
    student_logits = student_logits.float()
    kd = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1), F.log_softmax(teacher_logits / temperature, dim=-1),
                  reduction="batchmean", log_target=True) * temperature ** 2
    if targets is None or alpha == 1.0:
        ce = student_logits.new_zeros(())
        return DistillationTerms(kd, kd, ce)
    ce = F.cross_entropy(student_logits, targets, label_smoothing=label_smoothing)
    return DistillationTerms(alpha * kd + (1.0 - alpha) * ce, kd, ce)


class DistillationLoss(nn.Module):
    """`distillation_loss` as a module: loss_fn(student_logits, teacher_logits, targets) -> DistillationTerms."""

    def __init__(self, temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA, label_smoothing: float = 0.0):
        super().__init__()
        self.temperature, self.alpha, self.label_smoothing = temperature, alpha, label_smoothing

    def forward(self, student_logits, teacher_logits, targets=None) -> DistillationTerms:
        return distillation_loss(student_logits, teacher_logits, targets, self.temperature, self.alpha, self.label_smoothing)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, label_smoothing={self.label_smoothing}"
