"""TensorRT side: deployment targets (here), and the modules beside them, imported where needed:

backend (the one module that imports tensorrt / tensorrt_rtx), builder (ONNX + target -> engine, sidecar, build
log), metadata (the sidecar and the checks before loading), runtime (EngineRunner), layers (precision per
layer), plugin_cache (our plugin library built here, cached), bundle (the Jetson bundle).
"""
from edge_swin.trt.targets import Target, get_target, load_targets, target_names

__all__ = ["Target", "get_target", "load_targets", "target_names"]
