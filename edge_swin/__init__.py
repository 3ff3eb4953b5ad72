"""edge-swin: Swin Transformer from PyTorch to INT8 TensorRT engines, with every step measured."""

__version__ = "0.1.0"
