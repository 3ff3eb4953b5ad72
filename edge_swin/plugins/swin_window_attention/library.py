"""Build `libedge_swin_plugins.so` (csrc/, CMake, cached) and load it into TensorRT's plugin registry.

    from edge_swin.plugins.swin_window_attention import library
    lib = library.cached_library(header_dir, "build/plugins/embedded_kernels.cpp")   # built once, then cached
    lib = library.build_library(header_dir, "build/plugins/embedded_kernels.cpp", "build/plugins")  # here
    trt = edge_swin.trt.backend.load().trt   # the tensorrt (or tensorrt_rtx) module; this package never imports it
    library.load_library(lib, trt)
    assert library.plugin_registered(trt)

The whole plugin for a target (kernels, headers, library) is plugin_build.build_plugin; the command is
`python -m pipelines.plugin_library --target jetson-orin`.

Which headers: those of the TensorRT that will load the library (trt_headers.py: --trt-headers,
$EDGE_SWIN_TRT_HEADERS, $EDGE_SWIN_TRT_HEADERS_ROOT's sets, or an installed TensorRT's). TensorRT-RTX 1.7 loads
a library built against the 11.1 (or 10.3.0) headers; JetPack 6 needs 10.3.0, JetPack 7 10.16. The library
links neither libnvinfer nor libcuda, so building it needs only a C++17 compiler, CMake, and the TensorRT and
CUDA headers.

Which nodes become plugin layers: TensorRT's ONNX parser imports a node that has a local function as
that function unless the node carries a `plugin_namespace` attribute; with one, it looks the creator up by
(op_type, `plugin_version` or "1", `plugin_namespace`), namespaces compared exactly (measured with
TensorRT-RTX 1.7.1; the ENABLE_PLUGIN_OVERRIDE parser flag alone searches namespace ""). So the file handed
to the parser needs `plugin_namespace="edge_swin"` on each SwinWindowAttention node
(`contract.add_plugin_namespace`); without the library registered, such a node still builds from its function
body, and ONNX Runtime ignores the attribute. The plugin has FP16 and INT8 kernels only: build FP32 engines
without loading the library.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from edge_swin.errors import PluginLibraryError
from edge_swin.plugins.swin_window_attention.aot.kernel_cache import digest, sources_digest
from edge_swin.plugins.swin_window_attention.contract import OP_TYPE, PLUGIN_NAMESPACE, PLUGIN_VERSION
from edge_swin.plugins.swin_window_attention.trt_headers import RTX_HEADER_SET, find_header_dir  # noqa: F401 (RTX_HEADER_SET: re-exported)
from edge_swin.utils.io import atomic_path, cache_root, sha256_file

CSRC = Path(__file__).resolve().parent / "csrc"
LIBRARY_NAME = "libedge_swin_plugins.so"
KERNELS_HINT = "generate it with `python -m edge_swin.plugins.swin_window_attention.aot.build` (writes build/plugins/embedded_kernels.cpp)"

_loaded: dict[str, object] = {}  # resolved library path -> registry handle


def default_header_dir() -> Path | None:
    """The TensorRT headers to build against here when nothing names a release (trt_headers.find_header_dir)."""
    return find_header_dir()


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_step(cmd: list[str], what: str) -> str:
    """Run one build command; PluginLibraryError with the tail of its output when it fails (also harness.py's)."""
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    except OSError as e:
        raise PluginLibraryError(f"{what}: cannot run {cmd[0]} ({e})") from e
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        hint = ""
        if "CMAKE_CXX_COMPILER" in out or "No CMAKE_CXX_COMPILER" in out:
            hint = "\nNo C++ compiler: install one (apt install g++) or point CXX at it."
        raise PluginLibraryError(f"{what} failed (exit {proc.returncode}):\n{_tail(out)}{hint}")
    return proc.stdout + proc.stderr


def cmake_executable() -> str:
    found = shutil.which("cmake")
    if found is None:
        raise PluginLibraryError("cmake not found: install it (apt install cmake, or pip install cmake) to build "
                                 f"{LIBRARY_NAME}")
    return found


def build_library(header_dir: str | Path, kernels_cpp: str | Path, out_dir: str | Path, *,
                  cuda_include_dir: str | Path | None = None, jobs: int | None = None) -> Path:
    """Configure and build the plugin library with CMake; returns `out_dir/libedge_swin_plugins.so`.

    header_dir: the folder holding NvInferRuntime.h (trt_headers.require_header_dir finds one).
    kernels_cpp: the kernel table, embedded_kernels.cpp from `python -m edge_swin.plugins.swin_window_attention.aot.build`.
    out_dir: where the library goes (replaced atomically: a failed build leaves the old one); the CMake
      build tree lives beside it in `.cmake-<key>`, one per header folder and kernel table, so rebuilds are
      incremental and builds against different headers do not collide.
    cuda_include_dir: the folder holding cuda.h (default: CMake looks in the usual places).
    """
    header_dir = Path(header_dir).resolve()
    kernels_cpp = Path(kernels_cpp).resolve()
    out_dir = Path(out_dir).resolve()
    if not (header_dir / "NvInferRuntime.h").is_file():
        raise PluginLibraryError(f"no TensorRT headers in {header_dir} (NvInferRuntime.h missing): pass the include/ "
                                 "folder of the TensorRT that will load the library")
    if not kernels_cpp.is_file():
        raise PluginLibraryError(f"kernel table {kernels_cpp} does not exist: {KERNELS_HINT}")
    return cmake_build(header_dir, kernels_cpp, out_dir, LIBRARY_NAME, cuda_include_dir=cuda_include_dir, jobs=jobs)


def cmake_build(header_dir: Path, kernels_cpp: Path, out_dir: Path, library_name: str, *, target: str | None = None,
                options: tuple[str, ...] = (), cuda_include_dir: str | Path | None = None,
                jobs: int | None = None) -> Path:
    """Configure csrc/ and build `target` (default: all); copy `library_name` to out_dir atomically. The CMake
    tree stays beside it, keyed on its inputs, so rebuilds are incremental (the plugin library and harness.py's)."""
    cmake = cmake_executable()
    key = hashlib.sha256(f"{target}\n{header_dir}\n{kernels_cpp}\n{cuda_include_dir}\n{options}".encode()).hexdigest()[:12]
    tree = out_dir / f".cmake-{key}"
    configure = [cmake, "-S", str(CSRC), "-B", str(tree), "-DCMAKE_BUILD_TYPE=Release", *options,
                 f"-DTENSORRT_INCLUDE_DIR={header_dir}", f"-DEDGE_SWIN_KERNELS_CPP={kernels_cpp}"]
    if cuda_include_dir is not None:
        configure.append(f"-DCUDA_INCLUDE_DIR={Path(cuda_include_dir).resolve()}")
    run_step(configure, f"configuring {library_name} (cmake)")
    run_step([cmake, "--build", str(tree), *(["--target", target] if target else []),
              "-j", str(jobs or os.cpu_count() or 1)], f"building {library_name}")
    built = tree / library_name
    if not built.is_file():
        raise PluginLibraryError(f"cmake finished but {built} is missing")
    out = out_dir / library_name
    with atomic_path(out) as tmp:
        shutil.copyfile(built, tmp)
    return out


def cached_library(header_dir: str | Path, kernels_cpp: str | Path, out_dir: str | Path | None = None) -> Path:
    """The plugin library for this kernel table and these headers: build_library into `out_dir`, or with no
    `out_dir` into a cache folder keyed on the kernel table, the headers and csrc/ (~/.cache/edge_swin/plugins/),
    where a second call finds it built. CMake rebuilds only what changed either way."""
    if out_dir is None:
        kernels_cpp = Path(kernels_cpp)
        if not kernels_cpp.is_file():
            raise PluginLibraryError(f"kernel table {kernels_cpp} does not exist: {KERNELS_HINT}")
        out_dir = cache_root() / "plugins" / digest(sha256_file(kernels_cpp), Path(header_dir).resolve(),
                                                    sources_digest(CSRC, "*"))
        if (out_dir / LIBRARY_NAME).is_file():
            return out_dir / LIBRARY_NAME
    return build_library(header_dir, kernels_cpp, out_dir)


# The registry calls below take the imported TensorRT module (`edge_swin.trt.backend.load(...).trt`: tensorrt or
# tensorrt_rtx) from the caller: this package builds and loads the library, edge_swin.trt decides which TensorRT.


def plugin_registered(trt) -> bool:
    """Whether edge_swin::SwinWindowAttention v1 is in the plugin registry of the TensorRT module `trt`."""
    registry = trt.get_plugin_registry()
    try:
        return registry.get_creator(OP_TYPE, PLUGIN_VERSION, PLUGIN_NAMESPACE) is not None
    except (TypeError, RuntimeError):  # bindings without the 3-argument lookup
        return any(c.name == OP_TYPE and c.plugin_namespace == PLUGIN_NAMESPACE
                   for c in getattr(registry, "all_creators", registry.plugin_creator_list))


def load_library(path: str | Path, trt):
    """Load the plugin library into the registry of the TensorRT module `trt`; returns the registry's handle.

    Loading the same file again returns the first handle. The parser then uses the plugin for every
    SwinWindowAttention node (FP16 and INT8 exports; an FP32 export fails to build: leave the library out).
    Before parsing: the ONNX parser maps a node to a plugin only if its creator is registered when the node
    is imported.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise PluginLibraryError(f"plugin library {path} does not exist: build it with "
                                 "`python -m pipelines.plugin_library --target <name>` (or --arch <sm>)")
    if str(path) in _loaded and plugin_registered(trt):
        return _loaded[str(path)]
    # One SwinWindowAttention creator per process: the registry refuses a second copy (another run's cached
    # library, another build) while one we loaded is registered, so that one goes first.
    unload_all(trt)
    registry = trt.get_plugin_registry()
    try:
        handle = registry.load_library(str(path))
    except Exception as e:  # the bindings raise on a library without getCreators, or a failed dlopen
        raise PluginLibraryError(f"TensorRT could not load {path}: {e}. Rebuild it against the headers of this "
                                 "TensorRT (see edge_swin/plugins/swin_window_attention/library.py)") from e
    if handle is None or not plugin_registered(trt):
        raise PluginLibraryError(
            f"{path} loaded but {PLUGIN_NAMESPACE}::{OP_TYPE} v{PLUGIN_VERSION} is not in the plugin registry "
            "(see the TensorRT log). Was it built from edge_swin/plugins/swin_window_attention/csrc against this TensorRT's headers? "
            "Is another copy already registered?")
    _loaded[str(path)] = handle
    return handle


def unload_all(trt) -> None:
    """Deregister every library `load_library` loaded (the parser goes back to the function bodies)."""
    for handle in list(_loaded.values()):
        unload_library(handle, trt)


def unload_library(handle, trt) -> None:
    """Deregister a library loaded with `load_library` (the parser goes back to the function body)."""
    trt.get_plugin_registry().deregister_library(handle)
    for key, value in list(_loaded.items()):
        if value is handle:
            del _loaded[key]
