"""Fake pycuda, cuda-python and TensorRT that record every call: the torch-free runner proven on a CPU.

Like the plugin's fake libcuda (tests/plugins/test_gpu_harness.py), nothing here
pretends to be fast or to run a real network. Device memory is a dict of
bytearrays keyed by fake addresses; copies move real bytes; the fake engine's
`execute_async_v3` reads its input from the address it was given and writes
logits computed from those bytes (logit k = (k + 1) x the mean of channel
k % 3), so a wrong address, size, dtype or order of calls shows in the numbers.
No torch: the torch-free test imports this module with torch blocked.
"""
from __future__ import annotations

import enum
import json
import types

import numpy as np

CALLS: list[tuple] = []  # (call name, arguments...) in order, across every fake below
MEMORY: dict[int, bytearray] = {}
GPU = {"name": "Orin (fake)", "cc": (8, 7), "count": 1}
_next = [0x7F0000000000]


def _alloc(nbytes: int) -> int:
    ptr = _next[0]
    _next[0] += (nbytes + 255) // 256 * 256 + 256
    MEMORY[ptr] = bytearray(nbytes)
    return ptr


def _write(ptr: int, data: bytes) -> None:
    assert ptr in MEMORY and len(data) <= len(MEMORY[ptr]), f"copy of {len(data)} bytes to a bad address {ptr:#x}"
    MEMORY[ptr][:len(data)] = data


def _read(ptr: int, nbytes: int) -> bytes:
    assert ptr in MEMORY and nbytes <= len(MEMORY[ptr]), f"read of {nbytes} bytes from a bad address {ptr:#x}"
    return bytes(MEMORY[ptr][:nbytes])


def expected_logits(x: np.ndarray, classes: int) -> np.ndarray:
    """What the fake engine computes, in float64."""
    means = x.astype(np.float64).mean(axis=(2, 3))
    return np.stack([(k + 1) * means[:, k % 3] for k in range(classes)], axis=1)


# ------------------------------------------------------------------------------------------------ pycuda.driver


def make_pycuda() -> tuple[types.ModuleType, types.ModuleType]:
    driver = types.ModuleType("pycuda.driver")

    class Error(Exception):
        pass

    class DeviceAllocation:
        def __init__(self, nbytes):
            self.ptr = _alloc(nbytes)

        def __int__(self):
            return self.ptr

        def free(self):
            CALLS.append(("pycuda.free", self.ptr))

    class Context:
        def push(self):
            CALLS.append(("pycuda.push",))

        def pop(self):
            CALLS.append(("pycuda.pop",))

    class Device:
        def __init__(self, index):
            self.index = index

        @staticmethod
        def count():
            return GPU["count"]

        def name(self):
            return GPU["name"]

        def compute_capability(self):
            return GPU["cc"]

        def retain_primary_context(self):
            CALLS.append(("pycuda.retain_primary_context", self.index))
            return Context()

    class Stream:
        handle = 0x5EED

        def synchronize(self):
            CALLS.append(("pycuda.synchronize",))

    def init():
        if GPU["count"] == 0:
            raise Error("cuInit failed: no CUDA-capable device is detected")

    def mem_alloc(nbytes):
        allocation = DeviceAllocation(nbytes)
        CALLS.append(("pycuda.mem_alloc", nbytes, allocation.ptr))
        return allocation

    def pagelocked_empty(shape, dtype):
        CALLS.append(("pycuda.pagelocked_empty", tuple(shape), np.dtype(dtype).name))
        return np.empty(shape, dtype)

    def memcpy_htod_async(dest, src, stream=None):
        assert src.flags.c_contiguous, "pycuda copies need a contiguous host array"
        CALLS.append(("pycuda.htod", int(dest), src.nbytes, src.dtype.name, stream.handle))
        _write(int(dest), src.tobytes())

    def memcpy_dtoh_async(dest, src, stream=None):
        assert dest.flags.c_contiguous
        CALLS.append(("pycuda.dtoh", int(src), dest.nbytes, dest.dtype.name, stream.handle))
        dest[...] = np.frombuffer(_read(int(src), dest.nbytes), dest.dtype).reshape(dest.shape)

    for item in (Error, Device, Stream, init, mem_alloc, pagelocked_empty, memcpy_htod_async, memcpy_dtoh_async):
        setattr(driver, item.__name__, item)
    package = types.ModuleType("pycuda")
    package.driver = driver
    package.__path__ = []
    return package, driver


# ------------------------------------------------------------------------------------------------ cuda-python


def make_cuda_python_runtime() -> types.ModuleType:
    rt = types.ModuleType("cuda.bindings.runtime")

    class cudaError_t(enum.IntEnum):  # noqa: N801  (cuda-python's names)
        cudaSuccess = 0
        cudaErrorNoDevice = 100

    class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    class Props:
        name = GPU["name"].encode() + b"\0" * 8
        major, minor = GPU["cc"]

    ok = cudaError_t.cudaSuccess

    def cudaGetDeviceCount():  # noqa: N802
        return (ok, GPU["count"]) if GPU["count"] else (cudaError_t.cudaErrorNoDevice, 0)

    def cudaGetDeviceProperties(device):  # noqa: N802
        return ok, Props()

    def cudaGetErrorName(err):  # noqa: N802
        return ok, cudaError_t(err).name.encode()

    def cudaSetDevice(device):  # noqa: N802
        CALLS.append(("cudart.cudaSetDevice", device))
        return (ok,)

    def cudaMalloc(nbytes):  # noqa: N802
        ptr = _alloc(nbytes)
        CALLS.append(("cudart.cudaMalloc", nbytes, ptr))
        return ok, ptr

    def cudaFree(ptr):  # noqa: N802
        CALLS.append(("cudart.cudaFree", ptr))
        return (ok,)

    def cudaStreamCreate():  # noqa: N802
        CALLS.append(("cudart.cudaStreamCreate",))
        return ok, 0x5EED

    def cudaMemcpyAsync(dst, src, count, kind, stream):  # noqa: N802
        CALLS.append(("cudart.cudaMemcpyAsync", cudaMemcpyKind(kind).name, count, stream))
        import ctypes

        if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
            _write(dst, ctypes.string_at(src, count))
        else:
            ctypes.memmove(dst, _read(src, count), count)
        return (ok,)

    def cudaStreamSynchronize(stream):  # noqa: N802
        CALLS.append(("cudart.cudaStreamSynchronize", stream))
        return (ok,)

    for item in (cudaError_t, cudaMemcpyKind, cudaGetDeviceCount, cudaGetDeviceProperties, cudaGetErrorName,
                 cudaSetDevice, cudaMalloc, cudaFree, cudaStreamCreate, cudaMemcpyAsync, cudaStreamSynchronize):
        setattr(rt, item.__name__, item)
    return rt


# ------------------------------------------------------------------------------------------------ tensorrt


def engine_bytes(*, batch: int | None = None, max_batch: int = 4, img: int = 32, classes: int = 3,
                 input_dtype: str = "HALF") -> bytes:
    """A fake serialized engine: its I/O description as JSON. batch None = dynamic up to max_batch."""
    return json.dumps({"batch": batch, "max_batch": max_batch, "img": img, "classes": classes,
                       "input_dtype": input_dtype}).encode()


_NUMPY = {"FLOAT": np.float32, "HALF": np.float16}


def make_tensorrt(version: str = "10.3.0") -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version

    class TensorIOMode(enum.Enum):
        INPUT = 1
        OUTPUT = 2

    class DataType(enum.Enum):
        FLOAT = 0
        HALF = 1

    class ILogger:
        def __init__(self):
            pass

    class Logger(ILogger):
        ERROR = 1

        def __init__(self, severity=1):
            super().__init__()

    class Context:
        def __init__(self, spec):
            self.spec, self.shapes, self.addresses = spec, {}, {}

        def set_input_shape(self, name, shape):
            CALLS.append(("trt.set_input_shape", name, tuple(shape)))
            assert 1 <= shape[0] <= self.spec["max_batch"], f"batch {shape[0]} outside the profile"
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            return (self.shapes["images"][0], self.spec["classes"])

        def set_tensor_address(self, name, ptr):
            CALLS.append(("trt.set_tensor_address", name, int(ptr)))
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream):
            CALLS.append(("trt.execute_async_v3", int(stream)))
            shape = self.shapes["images"]
            dtype = _NUMPY[self.spec["input_dtype"]]
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            x = np.frombuffer(_read(self.addresses["images"], nbytes), dtype).reshape(shape)
            logits = expected_logits(x, self.spec["classes"]).astype(np.float32)
            _write(self.addresses["logits"], logits.tobytes())
            return True

    class Engine:
        def __init__(self, spec):
            self.spec = spec
            self.num_io_tensors = 2

        def get_tensor_name(self, i):
            return ("images", "logits")[i]

        def get_tensor_mode(self, name):
            return TensorIOMode.INPUT if name == "images" else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return DataType[self.spec["input_dtype"]] if name == "images" else DataType.FLOAT

        def get_tensor_shape(self, name):
            if name == "images":
                return (self.spec["batch"] or -1, 3, self.spec["img"], self.spec["img"])
            return (self.spec["batch"] or -1, self.spec["classes"])

        def get_tensor_profile_shape(self, name, profile):
            tail = (3, self.spec["img"], self.spec["img"])
            return (1, *tail), (1, *tail), (self.spec["max_batch"], *tail)

        def create_execution_context(self):
            CALLS.append(("trt.create_execution_context",))
            return Context(self.spec)

    class Runtime:
        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, data):
            CALLS.append(("trt.deserialize_cuda_engine", len(data)))
            try:
                return Engine(json.loads(data))
            except ValueError:
                return None

    for item in (TensorIOMode, DataType, ILogger, Logger, Runtime):
        setattr(trt, item.__name__, item)
    return trt


def modules(version: str = "10.3.0") -> dict[str, types.ModuleType]:
    """sys.modules entries that put the fakes in place of pycuda, cuda-python's runtime and tensorrt."""
    pycuda, driver = make_pycuda()
    return {"pycuda": pycuda, "pycuda.driver": driver, "cuda.bindings.runtime": make_cuda_python_runtime(),
            "tensorrt": make_tensorrt(version)}


def sidecar(engine_sha256: str, *, classes=("cat", "dog", "fox"), img: int = 32, version: str = "10.3.0") -> dict:
    """An edge-swin sidecar for a fake engine built for jetson-orin (SM 8.7) with TensorRT `version`."""
    return {"format": "edge-swin-engine/1", "precision": "int8",
            "engine": {"file": "model_int8.engine", "sha256": engine_sha256, "bytes": 0},
            "tensorrt": {"flavour": "tensorrt", "version": version},
            "target": {"name": "jetson-orin", "sm": 87, "min_sm": None, "gpu": "Jetson Orin", "tensorrt": "10.3",
                       "hardware_compatibility": None, "version_compatible": False, "dla": False},
            "plugin": None, "classes": list(classes),
            "preprocess": {"img_size": img, "crop_pct": 0.875, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
