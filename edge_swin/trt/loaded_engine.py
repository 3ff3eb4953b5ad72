"""An engine checked against its sidecar, deserialised, with its I/O described: what both runners share.

No torch here: `EngineRunner` (runtime.py, torch CUDA tensors) and
`NumpyEngineRunner` (numpy_runtime.py, pycuda / cuda-python buffers) each add
only their memory and stream handling on top.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.plugins.swin_window_attention import library
from edge_swin.trt import backend as trt_backend
from edge_swin.trt.metadata import GpuInfo, check_bindings, check_engine, cuda_gpu, read_metadata
from edge_swin.trt.trt_logger import capture_logger

# TensorRT DataType name -> dtype name (the same names in torch and numpy; numpy has no bfloat16).
DTYPE_NAMES = {"FLOAT": "float32", "HALF": "float16", "INT32": "int32", "INT64": "int64", "INT8": "int8",
               "BF16": "bfloat16", "BOOL": "bool"}


class EngineLoadError(EdgeSwinError):
    """TensorRT could not deserialise the engine (after the sidecar checks passed)."""


class LoadedEngine:
    """Sidecar checks, TensorRT backend and plugin library, the engine and one execution context.

    `activate` runs after the checks and before TensorRT deserialises: the runner's "make the GPU current"
    (and its "is there a GPU" refusal when `check` is False).
    """

    def __init__(self, engine_path: str | Path, *, plugin_library: str | Path | None = None, check: bool = True,
                 gpu: Callable[[], GpuInfo | None] = cuda_gpu, activate: Callable[[], None] = lambda: None):
        self.path = Path(engine_path)
        if check:
            self.metadata = check_engine(self.path, plugin_library=plugin_library, gpu=gpu)
            plugin_library = (self.metadata.get("plugin") or {}).get("resolved")
        else:
            self.metadata = _metadata_or_none(self.path)
        activate()
        flavour = (self.metadata or {}).get("tensorrt", {}).get("flavour")
        self.backend = trt_backend.load(flavour)
        trt = self.backend.trt
        if plugin_library:
            self._plugin = library.load_library(plugin_library, trt)
        self.logger = capture_logger(self.backend.flavour)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise EngineLoadError(f"TensorRT could not deserialise {self.path}: "
                                  + ("; ".join(self.logger.errors()[-3:]) or "see the TensorRT log above"))
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.inputs = [n for n in names if is_input[n]]
        self.outputs = [n for n in names if not is_input[n]]
        if len(self.inputs) != 1:
            raise EngineLoadError(f"{self.path.name} has {len(self.inputs)} inputs; this runner feeds one image tensor")
        self.dtype_names = {n: DTYPE_NAMES[str(self.engine.get_tensor_dtype(n)).split(".")[-1]] for n in names}
        described = {n: {"name": n, "shape": [int(d) for d in self.engine.get_tensor_shape(n)],
                         "dtype": self.dtype_names[n]} for n in names}
        if check:  # the engine's own tensors against what its sidecar says (classes, image size, dtypes)
            check_bindings(self.metadata, [described[n] for n in self.inputs], [described[n] for n in self.outputs],
                           self.path.name)
        self.num_classes = described[self.outputs[0]]["shape"][-1] if self.outputs else None
        shape = tuple(self.engine.get_tensor_shape(self.inputs[0]))
        self.input_shape = shape
        # A dynamic batch runs up to the profile's maximum per launch; a static one exactly its own batch.
        self.max_batch = (int(self.engine.get_tensor_profile_shape(self.inputs[0], 0)[2][0]) if shape[0] == -1
                          else int(shape[0]))
        self.static_batch = None if shape[0] == -1 else int(shape[0])

    def check_batch(self, batch: int) -> None:
        if self.static_batch is not None and batch != self.static_batch:
            raise ValueError(f"{self.path.name} was built for batch {self.static_batch} exactly; got {batch} "
                             "(export with a dynamic batch for other sizes)")

    def execute(self, stream_handle: int) -> None:
        if not self.context.execute_async_v3(stream_handle):
            raise RuntimeError(f"execute_async_v3 failed on {self.path.name}: " + "; ".join(self.logger.errors()[-3:]))


def _metadata_or_none(path: Path) -> dict | None:
    try:
        return read_metadata(path)
    except EdgeSwinError:
        return None
