"""Run an engine from Python: load it (+ its plugin library), feed torch tensors, get logits.

    from edge_swin.trt.runtime import EngineRunner
    runner = EngineRunner("runs/<name>/engine/model_int8.engine")     # checks the sidecar first
    logits = runner(images)                                         # [B, 3, H, W] -> [B, classes], float32

Memory is torch CUDA tensors (no pycuda or cuda-python needed: torch already owns a CUDA context, and its
caching allocator recycles the output buffers); the engine runs asynchronously on a torch CUDA stream with
`set_tensor_address` + `execute_async_v3`; the caller's stream is made to wait for it (no host
synchronisation: `.cpu()` or `torch.cuda.synchronize()` waits). Batches larger than the engine's profile maximum are run in chunks. Works the same for full TensorRT
and TensorRT-RTX engines (the sidecar says which to import).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.plugins import library
from edge_swin.trt import backend as trt_backend
from edge_swin.trt.metadata import (
    GpuInfo,
    NeedsGPU,
    check_engine,
    cuda_gpu,
    read_metadata,
)
from edge_swin.trt.trt_logger import capture_logger

_TORCH_DTYPES = {"FLOAT": "float32", "HALF": "float16", "INT32": "int32", "INT64": "int64", "INT8": "int8",
                 "BF16": "bfloat16", "BOOL": "bool"}


class EngineLoadError(EdgeSwinError):
    """TensorRT could not deserialise the engine (after the sidecar checks passed)."""


class EngineRunner:
    """A deserialised engine with one execution context; call it like a model (also usable with edge_swin.eval)."""

    def __init__(self, engine_path: str | Path, *, plugin_library: str | Path | None = None, check: bool = True,
                 device: int = 0, gpu: Callable[[], GpuInfo | None] = cuda_gpu):
        import torch

        self.path = Path(engine_path)
        if check:
            self.metadata = check_engine(self.path, plugin_library=plugin_library, gpu=gpu)
            plugin_library = (self.metadata.get("plugin") or {}).get("resolved")
        else:
            self.metadata = _metadata_or_none(self.path)
        if not torch.cuda.is_available():
            raise NeedsGPU(f"running {self.path.name} needs a CUDA GPU; torch.cuda.is_available() is False here")
        flavour = (self.metadata or {}).get("tensorrt", {}).get("flavour")
        self.backend = trt_backend.load(flavour)
        trt = self.backend.trt
        if plugin_library:
            self._plugin = library.load_library(plugin_library, trt)
        self.device = torch.device("cuda", device)
        torch.cuda.set_device(self.device)
        self.logger = capture_logger(self.backend.flavour)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise EngineLoadError(f"TensorRT could not deserialise {self.path}: "
                                  + ("; ".join(self.logger.errors()[-3:]) or "see the TensorRT log above"))
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(self.device)
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.inputs = [n for n in names if is_input[n]]
        self.outputs = [n for n in names if not is_input[n]]
        if len(self.inputs) != 1:
            raise EngineLoadError(f"{self.path.name} has {len(self.inputs)} inputs; this runner feeds one image tensor")
        self.dtypes = {n: getattr(torch, _TORCH_DTYPES[str(self.engine.get_tensor_dtype(n)).split(".")[-1]])
                       for n in names}
        shape = tuple(self.engine.get_tensor_shape(self.inputs[0]))
        # A dynamic batch runs up to the profile's maximum per launch; a static one exactly its own batch.
        self.max_batch = (int(self.engine.get_tensor_profile_shape(self.inputs[0], 0)[2][0]) if shape[0] == -1
                          else int(shape[0]))
        self.static_batch = None if shape[0] == -1 else int(shape[0])

    def eval(self) -> EngineRunner:  # the interface edge_swin.eval.predict uses
        return self

    def __call__(self, images):
        """images [B, 3, H, W] (any device, any float dtype) -> logits [B, classes] float32 on the GPU."""
        import torch

        caller = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(caller)  # the images may still be being written on the caller's stream
        chunks = [self._run(images[i:i + self.max_batch]) for i in range(0, images.shape[0], self.max_batch)]
        caller.wait_stream(self.stream)  # no host wait: the caller's stream orders itself after the engine
        for chunk in chunks:
            chunk.record_stream(caller)  # allocated on our stream, used on the caller's
        return torch.cat(chunks).float() if len(chunks) > 1 else chunks[0].float()

    def _run(self, images):
        import torch

        name = self.inputs[0]
        if self.static_batch is not None and images.shape[0] != self.static_batch:
            raise ValueError(f"{self.path.name} was built for batch {self.static_batch} exactly; got {images.shape[0]} "
                             "(export with a dynamic batch for other sizes)")
        with torch.cuda.stream(self.stream):
            x = images.to(self.device, self.dtypes[name], non_blocking=True).contiguous()
            self.context.set_input_shape(name, tuple(x.shape))
            self.context.set_tensor_address(name, x.data_ptr())
            outputs = {}
            for out in self.outputs:
                shape = tuple(self.context.get_tensor_shape(out))
                outputs[out] = torch.empty(shape, dtype=self.dtypes[out], device=self.device)
                self.context.set_tensor_address(out, outputs[out].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError(f"execute_async_v3 failed on {self.path.name}: "
                                   + "; ".join(self.logger.errors()[-3:]))
        return outputs[self.outputs[0]]


def _metadata_or_none(path: Path) -> dict | None:
    try:
        return read_metadata(path)
    except EdgeSwinError:
        return None
