"""Run an engine without torch: numpy images in, numpy logits out, device buffers from pycuda (or cuda-python).

    from edge_swin.trt.numpy_engine_runner import NumpyEngineRunner
    runner = NumpyEngineRunner("runs/<name>/engine/model_int8.engine")   # checks the sidecar first
    logits = runner(images)                                            # np [B, 3, H, W] -> np [B, classes] float32

What an app on a Jetson needs where torch is a separate, version-matched
install: TensorRT's Python bindings, numpy, and pycuda (NVIDIA's own samples'
choice) or cuda-python. The same sidecar checks and engine handling as the
torch runner (edge_swin.trt.engine_runner_base); this module and everything it
imports never import torch (tests/trt/test_numpy_engine_runner.py holds that).

Buffers are allocated once, at the profile's maximum batch: one device input,
one device buffer per output and page-locked host copies (pycuda). Each chunk
of at most that batch is copied in, run and copied out on the runner's stream,
then the stream is synchronised: the logits are ready when the call returns.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_swin.trt.cuda_memory import load_cuda
from edge_swin.trt.engine_runner_base import EngineLoadError, LoadedEngine
from edge_swin.trt.metadata import NeedsGPU


class NumpyEngineRunner(LoadedEngine):
    """A deserialised engine with one execution context and its buffers; call it with a numpy batch."""

    def __init__(self, engine_path: str | Path, *, plugin_library: str | Path | None = None, check: bool = True,
                 device: int = 0, cuda: str | None = None):
        """cuda: "pycuda" or "cuda-python" to force one (default: pycuda where it imports; $EDGE_SWIN_CUDA)."""
        self.cuda = load_cuda(device, cuda)

        def activate():
            if not check and self.cuda.gpu() is None:  # with check, check_engine has refused already
                raise NeedsGPU(f"running {Path(engine_path).name} needs a CUDA GPU; {self.cuda.name} finds none here")
            self.cuda.activate()

        super().__init__(engine_path, plugin_library=plugin_library, check=check, gpu=self.cuda.gpu, activate=activate)
        if "bfloat16" in self.dtype_names.values():
            raise EngineLoadError(f"{self.path.name} has bfloat16 inputs or outputs, which numpy has no type for: "
                                  "use edge_swin.trt.engine_runner.EngineRunner (torch), or build an FP16/INT8 engine")
        self.stream = self.cuda.stream()
        name = self.inputs[0]
        batch_shape = (self.max_batch, *self.input_shape[1:])
        self.context.set_input_shape(name, batch_shape)  # the largest shapes: every output's buffer size
        self.device_buffers = {name: self.cuda.alloc(_nbytes(batch_shape, self.dtype_names[name]))}
        self.host_buffers = {name: self.cuda.host_empty(batch_shape, self.dtype_names[name])}
        for out in self.outputs:
            shape = tuple(self.context.get_tensor_shape(out))
            self.device_buffers[out] = self.cuda.alloc(_nbytes(shape, self.dtype_names[out]))
            self.host_buffers[out] = self.cuda.host_empty(shape, self.dtype_names[out])
        for tensor, ptr in self.device_buffers.items():
            self.context.set_tensor_address(tensor, ptr)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """images [B, 3, H, W], any float dtype (converted to the engine's) -> logits [B, classes] float32."""
        images = np.asarray(images)
        if images.ndim != len(self.input_shape) or images.shape[1:] != tuple(self.input_shape[1:]):
            raise ValueError(f"{self.path.name} takes [batch, {', '.join(map(str, self.input_shape[1:]))}]; got "
                             f"{list(images.shape)}")
        if self.static_batch is not None and images.shape[0] % self.static_batch:
            self.check_batch(images.shape[0])  # refuse before the first launch, not at the last chunk
        chunks = [self._run(images[i:i + self.max_batch]) for i in range(0, images.shape[0], self.max_batch)]
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def _run(self, images: np.ndarray) -> np.ndarray:
        name, batch = self.inputs[0], images.shape[0]
        self.check_batch(batch)
        host_in = self.host_buffers[name][:batch]
        host_in[...] = images  # converts to the engine's input dtype; the host buffer is contiguous
        self.context.set_input_shape(name, tuple(images.shape))
        self.cuda.to_device(self.device_buffers[name], host_in, self.stream)
        self.execute(self.cuda.stream_handle(self.stream))
        out = self.outputs[0]
        shape = tuple(self.context.get_tensor_shape(out))
        host_out = self.host_buffers[out].reshape(-1)[:int(np.prod(shape))].reshape(shape)
        self.cuda.to_host(host_out, self.device_buffers[out], self.stream)
        self.cuda.synchronize(self.stream)
        return host_out.astype(np.float32)  # a copy: the next call reuses the host buffer

    def close(self) -> None:
        """Free the device buffers (and leave the context pycuda made current)."""
        self.cuda.close()


def _nbytes(shape, dtype_name: str) -> int:
    return int(np.prod(shape)) * np.dtype(dtype_name).itemsize
