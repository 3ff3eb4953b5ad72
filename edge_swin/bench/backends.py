"""Backend runners: one name, one way of running the model. A backend that cannot run here raises NotAvailable.

    runner = make_runner("onnxruntime_fp32", spec, device="cpu", threads=1)
    x = runner.prepare(images)      # the backend's own input (numpy, a CUDA tensor, ...), made once
    runner.run(x)                   # what is timed
    runner.logits(images)           # float32 CPU logits, for accuracy

The backends are one table, `REGISTRY` ({name: Backend(label, factory, default)}): benchmarks/latency.py takes
its names and defaults from it, benchmarks/readme_table.py its labels; a new backend is one entry (a factory
`(name, spec, device, threads) -> Runner` that raises NotAvailable where it cannot run).

Names: pytorch_fp32, pytorch_fp16 (CUDA only), torch_compile, onnxruntime_fp32, onnxruntime_int8 (Q/DQ file,
MatMulAddFusion disabled, else it fuses MatMul + bias into a float Gemm and no Linear runs in
INT8: docs/findings.md, "INT8 in ONNX Runtime on a CPU"), onnxruntime_int8_default (same file,
default session), tensorrt and tensorrt_rtx (an engine built without our plugin: the native baseline),
tensorrt_plugin and tensorrt_rtx_plugin (the engine whose SwinWindowAttention layers are our plugin). Engines
run through edge_swin.trt.engine_runner, which checks their sidecar (GPU, TensorRT release, plugin library) first.
torch_compile_fp16 (FP16, mode="reduce-overhead": what a PyTorch user would deploy), runtime_fp16 and
runtime_int8 (edge_swin.runtime: our kernels as PyTorch ops, the INT8 one from the QAT model, both under the same
torch.compile mode) need a CUDA GPU; each compiles per batch size inside prepare(), reported as compile_seconds.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

class NotAvailable(Exception):
    """This backend cannot run on this machine or for this model; str() is the reason."""


@dataclass
class ModelSpec:
    """What to benchmark: a PyTorch model (in memory, or built by a factory) and/or exported files."""
    img_size: int
    build_torch: Callable[[], torch.nn.Module] | None = None
    onnx_fp32: Path | None = None
    onnx_int8: Path | None = None
    engine: Path | None = None          # a TensorRT / TensorRT-RTX engine without our plugin
    engine_plugin: Path | None = None   # the same model with SwinWindowAttention as our plugin
    plugin_library: Path | None = None  # that engine's plugin library (default: the one its sidecar names)
    build_int8: Callable[[], torch.nn.Module] | None = None  # the quantized (QAT or calibrated) model, for runtime_int8
    name: str = "model"


class Runner:
    name: str = "?"
    device: str = "cpu"
    precision: str = "fp32"
    cuda_timing: bool = False
    model_bytes: int | None = None

    def prepare(self, images: torch.Tensor):
        raise NotImplementedError

    def run(self, x):
        raise NotImplementedError

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        out = self.run(self.prepare(images))
        if isinstance(out, np.ndarray):
            out = torch.from_numpy(out)
        return out.float().cpu()


def _torch_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def _file_bytes(path: Path) -> int:
    """The .onnx plus any external-data files beside it with the same stem."""
    total = path.stat().st_size
    for extra in path.parent.glob(path.name + ".data"):
        total += extra.stat().st_size
    return total


class TorchRunner(Runner):
    def __init__(self, name: str, model: torch.nn.Module, device: str, dtype: torch.dtype, compile_it: bool = False):
        self.name, self.device = name, device
        self.precision = "fp16" if dtype == torch.float16 else "fp32"
        self.cuda_timing = device == "cuda"
        self.dtype = dtype
        self.model = model.eval().to(device=device, dtype=dtype)
        self.model_bytes = _torch_bytes(self.model)
        self.fn = torch.compile(self.model) if compile_it else self.model

    def prepare(self, images):
        return images.to(device=self.device, dtype=self.dtype)

    @torch.inference_mode()
    def run(self, x):
        return self.fn(x)


class OrtRunner(Runner):
    def __init__(self, name: str, path: Path, threads: int | None, disabled_optimizers=(), precision: str = "fp32"):
        import onnxruntime as ort

        self.name, self.precision, self.path = name, precision, Path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        kwargs = {"disabled_optimizers": list(disabled_optimizers)} if disabled_optimizers else {}
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"], **kwargs)
        self.input = self.session.get_inputs()[0]
        self.dtype = np.float16 if self.input.type == "tensor(float16)" else np.float32
        self.model_bytes = _file_bytes(self.path)

    def prepare(self, images):
        return {self.input.name: images.detach().cpu().numpy().astype(self.dtype)}

    def run(self, feed):
        return self.session.run(None, feed)[0]


def _need_torch(spec: ModelSpec, name: str) -> torch.nn.Module:
    if spec.build_torch is None:
        raise NotAvailable(f"{name} needs PyTorch weights (a checkpoint with --arch, or a run folder)")
    return spec.build_torch()


def _need_file(path: Path | None, what: str) -> Path:
    if path is None:
        raise NotAvailable(f"no {what} given")
    if not Path(path).is_file():
        raise NotAvailable(f"{what} not found: {path}")
    return Path(path)


def _ort():
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise NotAvailable(f"onnxruntime does not import ({e})") from None


class TrtRunner(Runner):
    """A TensorRT engine (edge_swin.trt.engine_runner) as a benchmark backend; timed with CUDA events."""

    def __init__(self, name: str, path: Path, plugin_library: Path | None):
        from edge_swin.trt.engine_runner import EngineRunner as TrtEngine

        self.name, self.device, self.cuda_timing, self.path = name, "cuda", True, path
        self.engine = TrtEngine(path, plugin_library=plugin_library)
        meta = self.engine.metadata
        self.precision = meta["precision"] + ("+plugin" if meta.get("plugin") else "")
        self.model_bytes = path.stat().st_size
        self.dtype = self.engine.dtypes[self.engine.inputs[0]]

    def prepare(self, images):
        return images.to(device="cuda", dtype=self.dtype).contiguous()

    def run(self, x):
        return self.engine(x)


def _tensorrt(name: str, spec: ModelSpec, device: str) -> Runner:
    from edge_swin.errors import EdgeSwinError

    flavour = "tensorrt_rtx" if name.startswith("tensorrt_rtx") else "tensorrt"
    with_plugin = name.endswith("_plugin")
    if not torch.cuda.is_available():
        raise NotAvailable(f"{flavour} engines need a CUDA GPU; torch.cuda.is_available() is False here")
    from edge_swin.trt.backend import TensorRTUnavailable, load
    from edge_swin.trt.metadata import read_metadata
    try:
        load(flavour)
    except TensorRTUnavailable as e:
        raise NotAvailable(str(e)) from None
    path = _need_file(spec.engine_plugin if with_plugin else spec.engine,
                      "TensorRT engine with our plugin (a run folder's engine/*_plugin.engine)" if with_plugin
                      else "TensorRT engine (--model x.engine or a run folder)")
    try:
        meta = read_metadata(path)
    except EdgeSwinError as e:
        raise NotAvailable(str(e)) from None
    built_by = meta["tensorrt"]["flavour"]
    if built_by != flavour:
        raise NotAvailable(f"{path.name} was built by {built_by}: use backend {built_by}{'_plugin' if with_plugin else ''}")
    if with_plugin != bool(meta.get("plugin")):
        raise NotAvailable(f"{path.name} {'has no' if with_plugin else 'has'} plugin layers: use backend "
                           f"{flavour}{'' if with_plugin else '_plugin'}")
    try:
        return TrtRunner(name, path, spec.plugin_library)
    except EdgeSwinError as e:  # the sidecar's refusals (GPU, TensorRT release, plugin library) say why
        raise NotAvailable(str(e)) from None


def _pytorch_fp32(name: str, spec: ModelSpec, device: str, threads: int | None) -> Runner:
    return TorchRunner(name, _need_torch(spec, name), device, torch.float32)


def _pytorch_fp16(name: str, spec: ModelSpec, device: str, threads: int | None) -> Runner:
    if device != "cuda":
        raise NotAvailable("fp16 eager needs a CUDA GPU")
    return TorchRunner(name, _need_torch(spec, name), device, torch.float16)


def _torch_compile(name: str, spec: ModelSpec, device: str, threads: int | None) -> Runner:
    try:
        importlib.import_module("torch._inductor")
    except Exception as e:  # inductor missing or broken on this platform
        raise NotAvailable(f"torch.compile's inductor does not import ({e})") from None
    return TorchRunner(name, _need_torch(spec, name), device, torch.float32, compile_it=True)


def _onnxruntime_fp32(name: str, spec: ModelSpec, device: str, threads: int | None) -> Runner:
    _ort()
    return OrtRunner(name, _need_file(spec.onnx_fp32, "FP32 ONNX file"), threads)


def _onnxruntime_int8(name: str, spec: ModelSpec, device: str, threads: int | None) -> Runner:
    _ort()
    path = _need_file(spec.onnx_int8, "INT8 Q/DQ ONNX file")
    disabled = ("MatMulAddFusion",) if name == "onnxruntime_int8" else ()
    return OrtRunner(name, path, threads, disabled, precision="int8")


def _engine(name: str, spec: ModelSpec, device: str, threads: int | None) -> Runner:
    return _tensorrt(name, spec, device)


class CompiledRunner(Runner):
    """A module under torch.compile(mode="reduce-overhead") on a GPU; prepare() compiles for the batch and times it."""

    def __init__(self, name: str, module: torch.nn.Module, precision: str, dtype: torch.dtype, model_bytes: int):
        self.name, self.device, self.precision, self.cuda_timing = name, "cuda", precision, True
        self.dtype, self.model_bytes = dtype, model_bytes
        self.fn = torch.compile(module, mode="reduce-overhead")
        self.compile_seconds: dict[int, float] = {}

    def prepare(self, images):
        import time

        x = images.to(device="cuda", dtype=self.dtype)
        start = time.perf_counter()
        self.run(x)  # the first call for a shape compiles (Inductor, then CUDA graph recording on the next calls)
        torch.cuda.synchronize()
        self.compile_seconds[int(x.shape[0])] = time.perf_counter() - start
        return x

    @torch.inference_mode()
    def run(self, x):
        return self.fn(x)


def _compiled(name: str, spec: ModelSpec, device: str, threads: int | None) -> Runner:
    """torch_compile_fp16, runtime_fp16, runtime_int8: CUDA only, compiled per batch (see CompiledRunner)."""
    if device != "cuda":
        raise NotAvailable(f"{name} needs a CUDA GPU (--device cuda); this run is on the {device}")
    from edge_swin.runtime.availability import unavailable_reason

    reason = unavailable_reason("cuda")  # torch.compile's Inductor needs triton for CUDA too
    if reason:
        raise NotAvailable(reason)
    if name == "torch_compile_fp16":
        model = _need_torch(spec, name).eval().to(device="cuda", dtype=torch.float16)
        return CompiledRunner(name, model, "fp16", torch.float16, _torch_bytes(model))
    from edge_swin.errors import EdgeSwinError
    from edge_swin.runtime import convert

    precision = name.removeprefix("runtime_")
    if precision == "int8":
        if spec.build_int8 is None:
            raise NotAvailable("runtime_int8 needs the quantized model: a run folder with qat/int8.pth, or "
                               "--int8-calibrate N with PyTorch weights")
        source = spec.build_int8()
    else:
        source = _need_torch(spec, name)
    try:
        module = convert(source, precision, device="cuda")
    except EdgeSwinError as e:
        raise NotAvailable(str(e)) from None
    return CompiledRunner(name, module, precision + " (edge_swin.runtime)", torch.float32, _torch_bytes(module))


@dataclass(frozen=True)
class Backend:
    label: str                                                       # what the README table calls it
    factory: Callable[[str, ModelSpec, str, int | None], Runner]    # NotAvailable where it cannot run
    default: bool = True                                             # in benchmarks/latency.py's default list


REGISTRY: dict[str, Backend] = {
    "pytorch_fp32": Backend("PyTorch eager FP32", _pytorch_fp32),
    "pytorch_fp16": Backend("PyTorch eager FP16", _pytorch_fp16),
    "torch_compile": Backend("torch.compile FP32", _torch_compile, default=False),  # compiles per batch
    "onnxruntime_fp32": Backend("ONNX Runtime FP32", _onnxruntime_fp32),
    "onnxruntime_int8": Backend("ONNX Runtime INT8 (MatMulAddFusion off)", _onnxruntime_int8),
    "onnxruntime_int8_default": Backend("ONNX Runtime INT8 (Q/DQ, default session)", _onnxruntime_int8),
    "tensorrt": Backend("TensorRT engine", _engine),
    "tensorrt_plugin": Backend("TensorRT engine + our plugin", _engine),
    "tensorrt_rtx": Backend("TensorRT-RTX engine", _engine),
    "tensorrt_rtx_plugin": Backend("TensorRT-RTX engine + our plugin", _engine),
    "torch_compile_fp16": Backend("torch.compile FP16 (reduce-overhead)", _compiled),
    "runtime_fp16": Backend("edge_swin.runtime FP16", _compiled),
    "runtime_int8": Backend("edge_swin.runtime INT8", _compiled),
}
BACKENDS = tuple(REGISTRY)
DEFAULT_BACKENDS = tuple(name for name, backend in REGISTRY.items() if backend.default)


def make_runner(name: str, spec: ModelSpec, device: str = "cpu", threads: int | None = None) -> Runner:
    """The runner for backend `name`, or NotAvailable(reason)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown backend '{name}': use one of {', '.join(REGISTRY)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise NotAvailable("--device cuda but torch.cuda.is_available() is False")
    return REGISTRY[name].factory(name, spec, device, threads)
