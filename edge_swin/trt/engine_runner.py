"""Run an engine from Python: load it (+ its plugin library), feed torch tensors, get logits.

    from edge_swin.trt.engine_runner import EngineRunner
    runner = EngineRunner("runs/<name>/engine/model_int8.engine")     # checks the sidecar first
    logits = runner(images)                                         # [B, 3, H, W] -> [B, classes], float32

Memory is torch CUDA tensors (no pycuda or cuda-python needed: torch already owns a CUDA context, and its
caching allocator recycles the output buffers); the engine runs asynchronously on a torch CUDA stream with
`set_tensor_address` + `execute_async_v3`; the caller's stream is made to wait for it (no host
synchronisation: `.cpu()` or `torch.cuda.synchronize()` waits). Batches larger than the engine's profile maximum are run in chunks. Works the same for full TensorRT
and TensorRT-RTX engines (the sidecar says which to import). Without torch (numpy in and out, pycuda or
cuda-python buffers): edge_swin.trt.numpy_engine_runner.NumpyEngineRunner, same checks, same engine handling.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_swin.trt.engine_runner_base import EngineLoadError, LoadedEngine  # noqa: F401  (EngineLoadError: re-exported)
from edge_swin.trt.metadata import GpuInfo, NeedsGPU, cuda_gpu


class EngineRunner(LoadedEngine):
    """A deserialised engine with one execution context; call it like a model (also usable with edge_swin.eval)."""

    def __init__(self, engine_path: str | Path, *, plugin_library: str | Path | None = None, check: bool = True,
                 device: int = 0, gpu: Callable[[], GpuInfo | None] = cuda_gpu):
        import torch

        self.device = torch.device("cuda", device)

        def activate():
            if not torch.cuda.is_available():
                raise NeedsGPU(f"running {Path(engine_path).name} needs a CUDA GPU; torch.cuda.is_available() is "
                               "False here")
            torch.cuda.set_device(self.device)

        super().__init__(engine_path, plugin_library=plugin_library, check=check, gpu=gpu, activate=activate)
        self.stream = torch.cuda.Stream(self.device)
        self.dtypes = {n: getattr(torch, name) for n, name in self.dtype_names.items()}

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
        self.check_batch(images.shape[0])
        with torch.cuda.stream(self.stream):
            x = images.to(self.device, self.dtypes[name], non_blocking=True).contiguous()
            self.context.set_input_shape(name, tuple(x.shape))
            self.context.set_tensor_address(name, x.data_ptr())
            outputs = {}
            for out in self.outputs:
                shape = tuple(self.context.get_tensor_shape(out))
                outputs[out] = torch.empty(shape, dtype=self.dtypes[out], device=self.device)
                self.context.set_tensor_address(out, outputs[out].data_ptr())
            self.execute(self.stream.cuda_stream)
        return outputs[self.outputs[0]]
