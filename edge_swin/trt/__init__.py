"""TensorRT side: deployment targets (here), and the modules beside them, imported where needed:

backend (the one module that imports tensorrt / tensorrt_rtx; rtx_alias is what TensorRT-RTX needs before its
import), builder (ONNX + target -> engine, sidecar, build log), trt_logger (TensorRT's log kept for messages),
metadata (the sidecar and the checks before loading), engine_runner and numpy_engine_runner (run an engine on
torch or numpy buffers; engine_runner_base is what they share), layer_report (precision per layer), plugin_cache
(our plugin library for a model and a target, built here, cached), bundle (the Jetson bundle). edge_swin.plugins
is below this package: it is used here and never imports it.
"""
from edge_swin.trt.targets import Target, get_target, load_targets, target_names

__all__ = ["Target", "get_target", "load_targets", "target_names"]
