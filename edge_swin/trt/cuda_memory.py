"""Device memory, streams and copies for a torch-free engine app: pycuda first, cuda-python second.

What NVIDIA's own TensorRT Python samples use (pycuda; cuda-python in the
newer ones), and what a Jetson has without a version-matched torch. Both talk
to the device's primary context, the one TensorRT's runtime uses. Only the
few calls an engine runner needs: allocate, copy in, copy out, a stream, and
the GPU's name and SM for the sidecar check. `EDGE_SWIN_CUDA` = "pycuda" |
"cuda-python" forces one.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from edge_swin.errors import EdgeSwinError
from edge_swin.trt.metadata import GpuInfo

CHOICES = ("pycuda", "cuda-python")
INSTALL_HINT = ("pip install pycuda (builds against the CUDA toolkit: on a Jetson, the JetPack's), or "
                "pip install cuda-python")


class CudaUnavailable(EdgeSwinError):
    """Neither pycuda nor cuda-python imports, or the chosen one is unknown."""


class CudaCallError(EdgeSwinError):
    """A CUDA call failed (the message carries CUDA's own error name)."""


class PyCudaMemory:
    """pycuda.driver: pagelocked host buffers, mem_alloc, async copies on a pycuda Stream."""

    name = "pycuda"

    def __init__(self, device: int = 0):
        self.cuda = importlib.import_module("pycuda.driver")
        self.device_index = device
        self._context = None
        self._allocations = []  # DeviceAllocation objects: freed when dropped, so kept for the runner's life

    def gpu(self) -> GpuInfo | None:
        try:
            self.cuda.init()
            if self.cuda.Device.count() <= self.device_index:
                return None
            device = self.cuda.Device(self.device_index)
            major, minor = device.compute_capability()
            return GpuInfo(device.name(), major * 10 + minor)
        except self.cuda.Error:  # no driver, no device: no GPU for our purposes
            return None

    def activate(self) -> None:
        """Make the device's primary context current on this thread (TensorRT's runtime uses the same one)."""
        self.cuda.init()
        self._context = self.cuda.Device(self.device_index).retain_primary_context()
        self._context.push()

    def alloc(self, nbytes: int) -> int:
        allocation = self.cuda.mem_alloc(max(1, nbytes))
        self._allocations.append(allocation)
        return int(allocation)

    def host_empty(self, shape, dtype) -> np.ndarray:
        return self.cuda.pagelocked_empty(tuple(shape), np.dtype(dtype))  # page-locked: the copies are truly async

    def stream(self):
        return self.cuda.Stream()

    @staticmethod
    def stream_handle(stream) -> int:
        return int(stream.handle)

    def to_device(self, ptr: int, host: np.ndarray, stream) -> None:
        self.cuda.memcpy_htod_async(ptr, host, stream)

    def to_host(self, host: np.ndarray, ptr: int, stream) -> None:
        self.cuda.memcpy_dtoh_async(host, ptr, stream)

    @staticmethod
    def synchronize(stream) -> None:
        stream.synchronize()

    def close(self) -> None:
        for allocation in self._allocations:
            allocation.free()
        self._allocations.clear()
        if self._context is not None:
            self._context.pop()
            self._context = None


class CudaPythonMemory:
    """cuda-python's runtime bindings (cuda.bindings.runtime, or the older cuda.cudart): cudaMalloc and async copies."""

    name = "cuda-python"

    def __init__(self, device: int = 0):
        try:
            self.rt = importlib.import_module("cuda.bindings.runtime")
        except ImportError:
            self.rt = importlib.import_module("cuda.cudart")  # cuda-python < 12.6 (before the cuda.bindings layout)
        self.device_index = device
        self._pointers: list[int] = []

    def _call(self, what: str, result):
        err, *values = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            name = self.rt.cudaGetErrorName(err)[1]
            raise CudaCallError(f"{what} failed: {name.decode() if isinstance(name, bytes) else name}")
        return values[0] if len(values) == 1 else values

    def gpu(self) -> GpuInfo | None:
        err, count = self.rt.cudaGetDeviceCount()
        if int(err) != 0 or count <= self.device_index:
            return None  # cudaErrorInsufficientDriver / NoDevice: no GPU for our purposes
        props = self._call("cudaGetDeviceProperties", self.rt.cudaGetDeviceProperties(self.device_index))
        name = props.name.decode(errors="replace").rstrip("\0") if isinstance(props.name, bytes) else str(props.name)
        return GpuInfo(name, props.major * 10 + props.minor)

    def activate(self) -> None:
        self._call("cudaSetDevice", self.rt.cudaSetDevice(self.device_index))

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._call("cudaMalloc", self.rt.cudaMalloc(max(1, nbytes))))
        self._pointers.append(ptr)
        return ptr

    @staticmethod
    def host_empty(shape, dtype) -> np.ndarray:
        return np.empty(tuple(shape), np.dtype(dtype))  # pageable: the copy waits for the host, the run stays async

    def stream(self):
        return self._call("cudaStreamCreate", self.rt.cudaStreamCreate())

    @staticmethod
    def stream_handle(stream) -> int:
        return int(stream)

    def to_device(self, ptr: int, host: np.ndarray, stream) -> None:
        self._call("cudaMemcpyAsync (host to device)", self.rt.cudaMemcpyAsync(
            ptr, host.ctypes.data, host.nbytes, self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))

    def to_host(self, host: np.ndarray, ptr: int, stream) -> None:
        self._call("cudaMemcpyAsync (device to host)", self.rt.cudaMemcpyAsync(
            host.ctypes.data, ptr, host.nbytes, self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))

    def synchronize(self, stream) -> None:
        self._call("cudaStreamSynchronize", self.rt.cudaStreamSynchronize(stream))

    def close(self) -> None:
        for ptr in self._pointers:
            self.rt.cudaFree(ptr)
        self._pointers.clear()


_IMPLEMENTATIONS = {"pycuda": PyCudaMemory, "cuda-python": CudaPythonMemory}


def load_cuda(device: int = 0, choice: str | None = None):
    """pycuda's memory API where it imports, else cuda-python's; `choice` or $EDGE_SWIN_CUDA forces one."""
    wanted = choice or os.environ.get("EDGE_SWIN_CUDA") or None
    if wanted is not None and wanted not in CHOICES:
        raise CudaUnavailable(f"unknown CUDA binding '{wanted}' (EDGE_SWIN_CUDA): use one of {', '.join(CHOICES)}")
    errors = []
    for name in [wanted] if wanted else CHOICES:
        try:
            return _IMPLEMENTATIONS[name](device)
        except ImportError as err:
            errors.append(f"{name}: {err}")
    raise CudaUnavailable(f"no CUDA Python binding here ({'; '.join(errors)}): {INSTALL_HINT}")
