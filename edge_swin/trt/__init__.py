"""TensorRT side: deployment targets (and, as they land, builder, runtime)."""
from edge_swin.trt.targets import Target, get_target, load_targets, target_names

__all__ = ["Target", "get_target", "load_targets", "target_names"]
