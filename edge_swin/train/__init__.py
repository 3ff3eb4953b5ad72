"""Training and fine-tuning."""
from edge_swin.train.optim import cosine_with_warmup, create_optimizer, param_groups
from edge_swin.train.trainer import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "cosine_with_warmup", "create_optimizer", "param_groups", "train"]
