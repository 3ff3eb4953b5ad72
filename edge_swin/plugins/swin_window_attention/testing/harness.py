"""Run one SwinWindowAttention node on a GPU through the plugin's own C++ launch code, without TensorRT.

    python -m edge_swin.plugins.swin_window_attention.aot.build --arch 90     # the kernel table for this GPU (build/plugins/)
    python -m edge_swin.plugins.swin_window_attention.testing.harness             # build/plugins/libedge_swin_node_harness.so

    from edge_swin.plugins.swin_window_attention.testing.harness import run_node_on_gpu
    y = run_node_on_gpu(block, x)     # block: WindowAttention (FP16 node) or calibrated QuantWindowAttention (INT8)

The harness library (csrc/node_c_api.cpp, CMake option EDGE_SWIN_BUILD_HARNESS) is built from the same sources
as libedge_swin_plugins.so minus the TensorRT plugin classes: its `edge_swin_node_run` calls the KernelLauncher::run
that the plugin's enqueue calls, so the embedded cubins are loaded (cuModuleLoadData per context) and launched
(grids, argument packing, the two trailing scratch pointers, shared memory) exactly as in an engine. The node's
inputs come from `emulate.node_inputs_of`, i.e. from the exporter's own `node_inputs`: what the ONNX node gets.

Here, not in C++: the shapes and dtypes of inputs 1-14 (TensorRT checks them for the plugin at build time,
checkInputs in swin_window_attention_plugin.cpp; the C API only sees pointers) and the choice of the current
PyTorch stream.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

from edge_swin.plugins.swin_window_attention.contract import FUNCTION_VERSION, HEAD_DIM, INPUTS, INT8_INPUTS
from edge_swin.plugins.swin_window_attention import library
from edge_swin.plugins.swin_window_attention.trt_headers import require_header_dir

HARNESS_NAME = "libedge_swin_node_harness.so"
HARNESS_TARGET = "edge_swin_node_harness"
ABI_VERSION = 3  # csrc/node_c_api.cpp kHarnessAbiVersion
DEFAULT_OUT = Path("build/plugins")  # as python -m edge_swin.plugins.swin_window_attention.aot.build
DEFAULT_KERNELS = DEFAULT_OUT / "embedded_kernels.cpp"
INPUT_NAMES = INT8_INPUTS  # the node's inputs in order (edge_swin.plugins.swin_window_attention.contract); FP16 nodes have the first 7
FP16_INPUTS = len(INPUTS)
# The C API's int8Mode: the node kind. True / False still mean an INT8 node with fp32 io / an FP16 node.
FP16_NODE, INT8_NODE_FP32_IO, INT8_NODE_FP16_IO, FP8_NODE = 0, 1, 2, 3
ERROR_BYTES = 4096
BUILD_HINT = ("build it with `python -m edge_swin.plugins.swin_window_attention.aot.build --arch <sm>` then `python -m edge_swin.plugins.swin_window_attention.testing.harness` "
              "(or edge_swin.plugins.swin_window_attention.testing.harness.build_harness)")

_loaded: dict[str, NodeHarness] = {}


class HarnessError(library.PluginLibraryError):
    """The harness cannot be built, loaded or run; the message names the fix (or carries the C++ error)."""


# ------------------------------------------------------------------------------------------------ build


def default_cuda_include_dir() -> Path | None:
    """cuda.h and cuda_runtime_api.h: a CUDA toolkit's ($CUDA_HOME, /usr/local/cuda), else the copies Triton ships
    (triton/backends/nvidia/include), so a machine with only pip's torch can build the harness; None if neither."""
    candidates = [Path(os.environ[v]) / "include" for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)]
    candidates.append(Path("/usr/local/cuda/include"))
    try:
        import triton

        candidates.append(Path(triton.__file__).parent / "backends" / "nvidia" / "include")
    except ImportError:
        pass
    for folder in candidates:
        if (folder / "cuda.h").is_file() and (folder / "cuda_runtime_api.h").is_file():
            return folder
    return None


# A checked build (sanitize=True): undefined behaviour, bad memory accesses and libstdc++ precondition
# violations stop the process with a report instead of passing unnoticed. -O0 so nothing is optimised on the
# assumption that no UB happens; the process that loads it needs the ASan runtime first (sanitizer_preload()).
SANITIZE_FLAGS = ("-O0 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all "
                  "-D_GLIBCXX_ASSERTIONS")


def sanitizer_preload(compiler: str = "g++") -> str:
    """LD_PRELOAD value for a Python process loading a sanitize=True harness built by `compiler` (GCC's runtime)."""
    import subprocess

    libs = [subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True,
                           check=True).stdout.strip() for name in ("libasan.so", "libubsan.so")]
    missing = [lib for lib in libs if not Path(lib).is_absolute() or not Path(lib).exists()]
    if missing:
        raise HarnessError(f"{compiler} has no sanitizer runtime ({', '.join(missing)}): install libasan/libubsan "
                           "(Debian/Ubuntu: the gcc package brings them)")
    return " ".join(libs)


def build_harness(kernels_cpp: str | Path = DEFAULT_KERNELS, out_dir: str | Path = DEFAULT_OUT, *,
                  header_dir: str | Path | None = None, cuda_include_dir: str | Path | None = None,
                  jobs: int | None = None, compiler: str | None = None, sanitize: bool = False,
                  cxx_flags: str = "") -> Path:
    """Configure csrc/ with -DEDGE_SWIN_BUILD_HARNESS=ON and build only the harness target; returns
    `out_dir/libedge_swin_node_harness.so` (replaced atomically; library.cmake_build keeps the CMake tree
    beside it for incremental rebuilds).

    kernels_cpp: the kernel table (embedded_kernels.cpp of `python -m edge_swin.plugins.swin_window_attention.aot.build`, or a test stub).
    header_dir: TensorRT headers (the launcher's logger and parameter types use them; nothing links TensorRT);
      default: trt_headers.require_header_dir (the environment, or an installed TensorRT's).
    cuda_include_dir: default: default_cuda_include_dir().
    compiler: the C++ compiler (CMAKE_CXX_COMPILER; default: CMake's choice, $CXX).
    sanitize: a checked build (SANITIZE_FLAGS; load it in a process started with LD_PRELOAD=sanitizer_preload()).
    cxx_flags: more compiler flags (e.g. "-O2 -D_GLIBCXX_ASSERTIONS").
    """
    try:
        header_dir = require_header_dir(header_dir)
    except library.PluginLibraryError as e:
        raise HarnessError(f"{e} (build_harness: header_dir)") from e
    header_dir = Path(header_dir).resolve()
    kernels_cpp = Path(kernels_cpp).resolve()
    out_dir = Path(out_dir).resolve()
    if not kernels_cpp.is_file():
        raise HarnessError(f"kernel table {kernels_cpp} does not exist: {library.KERNELS_HINT}")
    cuda_include_dir = cuda_include_dir if cuda_include_dir is not None else default_cuda_include_dir()
    options = ["-DEDGE_SWIN_BUILD_HARNESS=ON"]
    if compiler:
        options.append(f"-DCMAKE_CXX_COMPILER={compiler}")
    flags = " ".join(filter(None, [SANITIZE_FLAGS if sanitize else "", cxx_flags]))
    if flags:
        # Debug: CMake adds no -O/-DNDEBUG of its own after these flags.
        options += ["-DCMAKE_BUILD_TYPE=Debug", f"-DCMAKE_CXX_FLAGS={flags}"]
    if sanitize:
        options.append("-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined")
    return library.cmake_build(header_dir, kernels_cpp, out_dir, HARNESS_NAME, target=HARNESS_TARGET,
                               options=tuple(options), cuda_include_dir=cuda_include_dir, jobs=jobs)


# ------------------------------------------------------------------------------------------------ load


class NodeHarness:
    """The loaded harness library: thin typed wrappers over its four C functions (csrc/node_c_api.cpp)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            lib = ctypes.CDLL(str(path))
            self._abi = lib.edge_swin_node_abi_version
            self._workspace = lib.edge_swin_node_workspace_bytes
            self._kernel_sm = lib.edge_swin_node_kernel_sm
            self._run = lib.edge_swin_node_run
        except (OSError, AttributeError) as e:
            raise HarnessError(f"{path} is not a loadable harness library ({e}): rebuild it; {BUILD_HINT}") from e
        self._abi.restype, self._abi.argtypes = ctypes.c_int32, []
        i32, i64, ptr = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p
        self._workspace.restype = ctypes.c_size_t
        self._workspace.argtypes = [i64, i64, i64, i64, i32]
        self._kernel_sm.restype = i32
        self._kernel_sm.argtypes = [i32, i32, i32, i32, i32, ctypes.c_char_p, ctypes.c_size_t]
        self._run.restype = i32
        self._run.argtypes = [i32, i32, i32, i32, i32, ctypes.c_float, i32, i64, i64, i64, i64,
                              ctypes.POINTER(ptr), i32, ptr, ptr, ptr, ctypes.c_char_p, ctypes.c_size_t]
        self.lib = lib
        if self.abi_version() != ABI_VERSION:
            raise HarnessError(f"{path} has harness ABI {self.abi_version()}, this edge_swin expects {ABI_VERSION}: "
                               f"rebuild it; {BUILD_HINT}")

    def abi_version(self) -> int:
        return int(self._abi())

    def workspace_bytes(self, batch: int, height: int, width: int, channels: int, int8: int) -> int:
        """int8: the node kind (FP16_NODE, INT8_NODE_FP32_IO, INT8_NODE_FP16_IO; a bool means 0 or 1)."""
        return int(self._workspace(batch, height, width, channels, int(int8)))

    def kernel_sm(self, int8: int, window, shifted: bool, device_sm: int) -> tuple[int, str]:
        """(SM of the attention cubin the launcher would load on a `device_sm` GPU, or 0; the reason when 0: also
        when the node's qkv or proj linear has no cubin there). int8: the node kind, as in workspace_bytes."""
        err = ctypes.create_string_buffer(ERROR_BYTES)
        sm = self._kernel_sm(int(int8), int(window[0]), int(window[1]), int(bool(shifted)), int(device_sm), err,
                             ERROR_BYTES)
        return int(sm), err.value.decode(errors="replace")

    def run(self, *, num_heads: int, window, shift, scale: float, int8: int, shape, pointers, output: int,
            workspace: int, stream: int) -> tuple[int, str]:
        """edge_swin_node_run with raw device addresses: (status, error text). Asynchronous on `stream`.
        int8: the node kind, as in workspace_bytes."""
        err = ctypes.create_string_buffer(ERROR_BYTES)
        array = (ctypes.c_void_p * max(len(pointers), 1))(*pointers)
        b, h, w, c = (int(v) for v in shape)
        status = self._run(int(num_heads), int(window[0]), int(window[1]), int(shift[0]), int(shift[1]),
                           float(scale), int(int8), b, h, w, c, array, len(pointers), output, workspace,
                           stream, err, ERROR_BYTES)
        return int(status), err.value.decode(errors="replace")


def default_harness_path() -> Path:
    """$EDGE_SWIN_NODE_HARNESS, else build/plugins/libedge_swin_node_harness.so (relative to the working directory)."""
    return Path(os.environ.get("EDGE_SWIN_NODE_HARNESS") or DEFAULT_OUT / HARNESS_NAME)


def load_harness(path: str | Path | None = None) -> NodeHarness:
    """Load (once per path and process) the harness library at `path` (default: default_harness_path()).

    A library rebuilt at the same path is NOT reloaded in the same process (dlopen hands back the first one):
    build different kernel tables into different folders.
    """
    path = Path(path) if path is not None else default_harness_path()
    if not path.is_file():
        raise HarnessError(f"the node harness {path} is not built: {BUILD_HINT}")
    key = str(path.resolve())
    if key not in _loaded:
        _loaded[key] = NodeHarness(path.resolve())
    return _loaded[key]


# ------------------------------------------------------------------------------------------------ run


def require_cuda():
    """torch, with a clear error when there is no CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        raise HarnessError("the node harness runs the plugin's cubins on a GPU: needs a CUDA GPU and driver "
                           "(torch.cuda.is_available() is False here). On a CPU use edge_swin.plugins.swin_window_attention.emulate "
                           "(Triton's interpreter) instead")
    return torch


def _check_inputs(tensors, scales, num_heads: int, window, shift) -> list[str]:
    """The plugin's checkInputs (swin_window_attention_plugin.cpp) on torch tensors: problems, empty if fine."""
    x = tensors[0]
    c, n = num_heads * HEAD_DIM, window[0] * window[1]
    if x.dim() != 4 or x.shape[-1] != c:
        return [f"input 0 (x) is {list(x.shape)}; expected [B, H, W, C = num_heads * 32 = {c}]"]
    want = {1: (3 * c, c), 2: (3 * c,), 3: (c, c), 4: (c,), 5: (num_heads, n, n)}
    problems = [f"input {i} ({INPUT_NAMES[i]}) is {list(tensors[i].shape)}, expected {list(s)} for num_heads "
                f"{num_heads}, window {window[0]}x{window[1]}" for i, s in want.items() if tuple(tensors[i].shape) != s]
    mask = tensors[6]
    if any(shift):
        windows = -(-x.shape[1] // window[0]) * -(-x.shape[2] // window[1])
        if tuple(mask.shape) != (windows, n, n):
            problems.append(f"input 6 (mask) is {list(mask.shape)}, expected {[windows, n, n]} (one shift mask per "
                            f"window of the {x.shape[1]}x{x.shape[2]} map)")
    elif mask.dim() != 3:
        problems.append(f"input 6 (mask) is {list(mask.shape)}; expected rank 3 ([nW, N, N], or [1, 1, 1] for W-MSA)")
    for i, s in enumerate(scales or (), start=FP16_INPUTS):
        want_numel = 3 * c if i == 8 else c if i == 14 else 1
        if s.numel() != want_numel:
            problems.append(f"input {i} ({INPUT_NAMES[i]}) has {s.numel()} values, expected {want_numel}")
    return problems


class NodeLaunch:
    """One node, ready to launch: inputs checked and held (contiguous, 16-byte aligned, on one GPU), y (NaN-poisoned,
    so an unwritten element shows) and the workspace allocated. Calling it enqueues the plugin's three launches on
    PyTorch's current stream of that GPU, without synchronising, and returns y (benchmarks time this).

    tensors: inputs 0-6 of the node (function.py order); attrs: num_heads, window_size, shift_size, scale and
    int8_scales (inputs 7-14, or None for an FP16 node): what emulate.node_inputs_of returns.
    """

    def __init__(self, tensors, attrs: dict, harness: NodeHarness | None = None):
        torch = require_cuda()
        self.harness = harness or load_harness()
        scales = attrs.get("int8_scales")
        self.int8 = scales is not None
        self.num_heads = int(attrs["num_heads"])
        self.window = tuple(int(v) for v in attrs["window_size"])
        self.shift = tuple(int(v) for v in attrs["shift_size"])
        self.scale = float(attrs["scale"])
        if attrs.get("version", FUNCTION_VERSION) != FUNCTION_VERSION:
            raise HarnessError(f"node version {attrs['version']}: the harness runs version {FUNCTION_VERSION}")
        if len(tensors) != FP16_INPUTS or (self.int8 and len(scales) != len(INT8_INPUTS) - FP16_INPUTS):
            raise HarnessError(f"{len(tensors)} tensors and {0 if scales is None else len(scales)} scales: a node "
                               f"has {FP16_INPUTS} tensors and, for INT8, {len(INT8_INPUTS) - FP16_INPUTS} scales")
        x = tensors[0]
        # README "Variants": an FP16 node has fp16 tensors; an INT8 node fp16 or fp32 ones (x's), fp32 scales
        io = x.dtype if self.int8 and x.dtype in (torch.float16, torch.float32) else torch.float16
        self.kind = FP16_NODE if not self.int8 else INT8_NODE_FP32_IO if io == torch.float32 else INT8_NODE_FP16_IO
        if not x.is_cuda:
            raise HarnessError(f"x is on {x.device}: put the node's inputs on a CUDA device")
        self.device = x.device
        wrong = [f"{INPUT_NAMES[i]} {t.dtype} on {t.device}" for i, t in enumerate(tensors)
                 if t.dtype != io or t.device != self.device]
        wrong += [f"{INPUT_NAMES[FP16_INPUTS + i]} {s.dtype} on {s.device}" for i, s in enumerate(scales or ())
                  if s.dtype != torch.float32 or s.device != self.device]
        if wrong:
            raise HarnessError(f"an {'INT8' if self.int8 else 'FP16'} node takes "
                               f"{'float16 or float32 (x decides)' if self.int8 else io} tensors (and fp32 scales) "
                               f"on {self.device}; got {', '.join(wrong)}")
        problems = _check_inputs(tensors, scales, self.num_heads, self.window, self.shift)
        if problems:
            raise HarnessError("node inputs do not match its attributes: " + "; ".join(problems))

        major, minor = torch.cuda.get_device_capability(self.device)
        self.device_sm = major * 10 + minor
        self.cubin_sm, why = self.harness.kernel_sm(self.kind, self.window, any(self.shift), self.device_sm)
        if self.cubin_sm == 0:
            raise HarnessError(f"{self.harness.path}: {why}")

        def aligned(t):
            t = t.contiguous()
            return t if t.data_ptr() % 16 == 0 else t.clone()  # the cubins assume 16; a fresh allocation is 512

        self.inputs = [aligned(t) for t in (*tensors, *(s.reshape(-1) for s in scales or ()))]
        self.shape = tuple(int(v) for v in x.shape)
        with torch.cuda.device(self.device):
            self.y = torch.full(self.shape, float("nan"), dtype=io, device=self.device)
            nbytes = self.harness.workspace_bytes(*self.shape, self.kind)
            self.workspace = torch.empty(max(nbytes, 1), dtype=torch.uint8, device=self.device)

    def __call__(self):
        import torch

        with torch.cuda.device(self.device):  # the device's primary context current on this thread
            stream = torch.cuda.current_stream(self.device)
            status, error = self.harness.run(
                num_heads=self.num_heads, window=self.window, shift=self.shift, scale=self.scale, int8=self.kind,
                shape=self.shape, pointers=[t.data_ptr() for t in self.inputs], output=self.y.data_ptr(),
                workspace=self.workspace.data_ptr(), stream=stream.cuda_stream)
        if status != 0:
            raise HarnessError(f"edge_swin_node_run failed (status {status}): {error}")
        return self.y


def run_node_inputs(tensors, attrs: dict, harness: NodeHarness | None = None):
    """One node from its inputs (emulate.node_inputs_of's (tensors, attrs), on a CUDA device): y, synchronised."""
    import torch

    launch = NodeLaunch(tensors, attrs, harness)
    y = launch()
    torch.cuda.current_stream(launch.device).synchronize()  # also surfaces a fault in the kernels
    return y


def run_node_on_gpu(module, x, *, harness: NodeHarness | None = None, io=None, device=None):
    """`module`'s forward (WindowAttention: FP16 node; calibrated QuantWindowAttention: INT8 node) as one plugin node
    through the harness: y [B, H, W, C] on the GPU, of the node's io dtype. Compare with `module(x)`.

    x may be on the CPU; the node's inputs go to `device` (default: x's CUDA device, else the current one).
    io: the node's tensor dtype (default fp16 for a float module, fp32 for a quantized one; an INT8 node also
    runs with fp16, as in an FP16+INT8 engine).
    """
    torch = require_cuda()
    from edge_swin.plugins.swin_window_attention.emulate import node_inputs_of

    device = torch.device(device) if device is not None else (
        x.device if x.is_cuda else torch.device("cuda", torch.cuda.current_device()))
    tensors, attrs = node_inputs_of(module, x.to(device), io)
    return run_node_inputs(tensors, attrs, harness)


# ------------------------------------------------------------------------------------------------ CLI


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_swin.plugins.swin_window_attention.testing.harness",
                                     description="Build the node harness library (GPU tests and benchmarks).")
    parser.add_argument("--kernels", type=Path, default=DEFAULT_KERNELS,
                        help="kernel table from python -m edge_swin.plugins.swin_window_attention.aot.build (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--headers", type=Path, default=None, help="TensorRT include folder (default: found)")
    parser.add_argument("--cuda-include", type=Path, default=None, help="folder of cuda.h (default: found)")
    args = parser.parse_args(argv)
    try:
        path = build_harness(args.kernels, args.out, header_dir=args.headers, cuda_include_dir=args.cuda_include)
    except library.PluginLibraryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
