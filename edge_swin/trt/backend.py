"""The one place that imports TensorRT: `tensorrt` (full TensorRT, NGC / JetPack) or `tensorrt_rtx` (TensorRT-RTX).

Everything else gets the module through `load()` and talks to the part of the
API both share (Builder, OnnxParser, BuilderConfig, Logger, serialized
networks), so the code CI runs on a CPU through TensorRT-RTX is the code users
run with TensorRT on a GPU.

Which flavour: `EDGE_SWIN_TRT` = "tensorrt" | "tensorrt_rtx" forces one;
otherwise full TensorRT where it imports, else TensorRT-RTX.

The libtensorrt_rtx.so gotcha (FINDINGS "Proving the plugin on a CPU"): the RTX
ONNX parser `dlopen`s the unversioned `libtensorrt_rtx.so` when it imports a
plugin node, the wheel ships only `libtensorrt_rtx.so.1`, and without the
unversioned name on the library path the process aborts. The loader's search
path is fixed when the process starts (LD_LIBRARY_PATH is read once), so a
symlink in a private directory cannot be put on it later. What works without
touching the installed wheel or re-executing: glibc answers a `dlopen` by bare
name from the already-loaded objects whose SONAME equals that name. So
`_preload_rtx_alias` builds (once, cached under ~/.cache/edge_swin) a tiny
forwarding library whose SONAME is `libtensorrt_rtx.so` and whose only
dependency is `libtensorrt_rtx.so.1`, and loads it RTLD_GLOBAL before the
import; `dlsym` on its handle finds the real library's symbols through that
dependency. It needs a C compiler the first time; without one, the parser
still works for every model without a registered plugin (ours parse through
the function body), and `rtx_alias_status()` says why plugin nodes would abort.
"""
from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge_swin.errors import EdgeSwinError, PluginLibraryError  # noqa: F401  (PluginLibraryError: re-exported)

FLAVOURS = ("tensorrt", "tensorrt_rtx")
_ALIAS_STATUS = "not attempted"


class TensorRTUnavailable(EdgeSwinError):
    """Neither TensorRT nor TensorRT-RTX imports here."""


@dataclass(frozen=True)
class Backend:
    trt: object          # the imported module
    flavour: str         # "tensorrt" or "tensorrt_rtx"
    version: str

    @property
    def is_rtx(self) -> bool:
        return self.flavour == "tensorrt_rtx"

    @property
    def major(self) -> int:
        """The release's major number (TensorRT 10 / 11; TensorRT-RTX 1)."""
        try:
            return int(self.version.split(".")[0])
        except ValueError:
            return 0

    @property
    def weak_typing(self) -> bool:
        """Whether a weakly typed network with the FP16/INT8 builder flags exists (TensorRT 10.x; not 11, not RTX).

        TensorRT 11 removed BuilderFlag.kFP16/kINT8 and ignores kSTRONGLY_TYPED (always strongly typed: see
        third_party/tensorrt-11.1/include/NvInfer.h); TensorRT-RTX networks are always strongly typed.
        """
        return not self.is_rtx and hasattr(self.trt.BuilderFlag, "FP16") and hasattr(self.trt.BuilderFlag, "INT8")

    @property
    def timing_cache(self) -> bool:
        """Whether the builder has a timing cache worth persisting (TensorRT-RTX >= 1.2: its calls are no-ops)."""
        return not self.is_rtx and hasattr(self.trt.IBuilderConfig, "create_timing_cache")


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "edge_swin" / "trt"


def _preload_rtx_alias() -> None:
    """Make a bare dlopen("libtensorrt_rtx.so") resolve to the wheel's libtensorrt_rtx.so.1 (see module doc)."""
    global _ALIAS_STATUS
    spec = importlib.util.find_spec("tensorrt_rtx_libs")
    if spec is None or not spec.submodule_search_locations:
        _ALIAS_STATUS = "tensorrt_rtx_libs not installed"
        return
    libdir = Path(list(spec.submodule_search_locations)[0])
    real = libdir / "libtensorrt_rtx.so.1"
    if (libdir / "libtensorrt_rtx.so").exists():
        _ALIAS_STATUS = "unversioned library present in the wheel"
        return
    if not real.exists():
        _ALIAS_STATUS = f"{real} missing"
        return
    ctypes.CDLL(str(real), mode=ctypes.RTLD_GLOBAL)
    st = real.stat()
    out = _cache_dir() / f"alias-{st.st_size}-{int(st.st_mtime)}" / "libtensorrt_rtx.so"
    if not out.exists():
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if cc is None:
            _ALIAS_STATUS = "no C compiler to build the libtensorrt_rtx.so alias: plugin nodes would abort the RTX parser"
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            src = Path(tmp) / "alias.c"
            src.write_text("/* SONAME alias for libtensorrt_rtx.so.1 (edge_swin.trt.backend) */\n"
                           "int edge_swin_rtx_alias;\n")
            built = Path(tmp) / "libtensorrt_rtx.so"
            proc = subprocess.run(
                [cc, "-shared", "-fPIC", "-o", str(built), str(src), "-Wl,-soname,libtensorrt_rtx.so",
                 "-Wl,--no-as-needed", f"-L{libdir}", "-l:libtensorrt_rtx.so.1", f"-Wl,-rpath,{libdir}"],
                capture_output=True, text=True)
            if proc.returncode != 0:
                _ALIAS_STATUS = f"building the libtensorrt_rtx.so alias failed: {proc.stderr.strip()[:300]}"
                return
            os.replace(built, out)
    ctypes.CDLL(str(out), mode=ctypes.RTLD_GLOBAL)
    _ALIAS_STATUS = f"alias loaded from {out}"


def rtx_alias_status() -> str:
    return _ALIAS_STATUS


def _import(flavour: str):
    if flavour == "tensorrt_rtx":
        try:
            _preload_rtx_alias()
        except OSError as e:  # a broken wheel shows up in the import below with its own message
            globals()["_ALIAS_STATUS"] = f"preload failed: {e}"
    return importlib.import_module(flavour)


@functools.lru_cache(maxsize=None)
def load(flavour: str | None = None) -> Backend:
    """The TensorRT module to use: `flavour`, $EDGE_SWIN_TRT, else tensorrt, else tensorrt_rtx."""
    wanted = flavour or os.environ.get("EDGE_SWIN_TRT") or None
    if wanted is not None and wanted not in FLAVOURS:
        raise TensorRTUnavailable(f"unknown TensorRT flavour '{wanted}': use one of {', '.join(FLAVOURS)}")
    errors = []
    for name in ([wanted] if wanted else list(FLAVOURS)):
        try:
            mod = _import(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        return Backend(trt=mod, flavour=name, version=str(getattr(mod, "__version__", "?")))
    raise TensorRTUnavailable(
        "no TensorRT here (" + "; ".join(errors) + "). Install TensorRT (NGC container, JetPack) or, "
        "to parse and build on a CPU, `pip install tensorrt-rtx-cu13`.")


def available(flavour: str | None = None) -> bool:
    try:
        load(flavour)
        return True
    except TensorRTUnavailable:
        return False


@dataclass
class BuildResult:
    flavour: str
    version: str
    parsed: bool
    built: bool
    errors: list[str]
    num_layers: int = 0
    layer_types: dict | None = None
    engine_bytes: int = 0
    parse_s: float = 0.0
    build_s: float = 0.0
    plugin_layers: int = 0
    engine: bytes | None = None

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("engine")
        return d


def _parser_errors(parser) -> list[str]:
    return [str(parser.get_error(i)) for i in range(parser.num_errors)]


PLUGIN_NAME, PLUGIN_VERSION, PLUGIN_NAMESPACE = "SwinWindowAttention", "1", "edge_swin"


def plugin_registered(flavour: str | None = None) -> bool:
    """Whether our SwinWindowAttention plugin creator is in this process's TensorRT plugin registry."""
    registry = load(flavour).trt.get_plugin_registry()
    try:
        return registry.get_creator(PLUGIN_NAME, PLUGIN_VERSION, PLUGIN_NAMESPACE) is not None
    except (TypeError, RuntimeError):  # bindings without the 3-argument lookup
        return any(c.name == PLUGIN_NAME and c.plugin_namespace == PLUGIN_NAMESPACE
                   for c in getattr(registry, "all_creators", registry.plugin_creator_list))


def onnx_for_parser(onnx_path, *, inline_functions: bool, plugin_namespace: str | None = None):
    """The ONNX bytes to hand the parser: the file as written, or with its local functions inlined.

    Why inline ourselves: the ONNX parser inlines a local function by importing
    its body once per call, and names each QuantizeLinear/DequantizeLinear
    layer after the body node's first output (`node_of_<output>`), which is the
    same on every call; TensorRT-RTX 1.7.1 refuses the second call's layer
    ("the new name is already in use"), so an INT8 file with more than one
    SwinWindowAttention node does not parse. `onnx.inliner` gives every call's
    values fresh names; the graph is otherwise the one the parser would have
    built. When our plugin is registered the nodes must stay (the plugin
    replaces them), and no body is imported, so nothing collides.

    plugin_namespace: give every SwinWindowAttention node that attribute (when it has none), which is what
    makes the parser look the node up as a plugin instead of importing its function body (measured with
    TensorRT-RTX 1.7.1: edge_swin/plugins/library.py); ONNX Runtime ignores it.
    """
    import onnx
    import onnx.inliner

    model = onnx.load(str(onnx_path))
    if inline_functions and len(model.functions):
        model = onnx.inliner.inline_local_functions(model)
    if plugin_namespace is not None:  # files exported before the exporter wrote the attribute itself
        from edge_swin.plugins.library import add_plugin_namespace

        add_plugin_namespace(model, plugin_namespace)
    return model.SerializeToString()


def parse_and_build(onnx_path, *, precision: str = "fp32", batch: tuple[int, int, int] | None = None,
                    workspace_mib: int = 1024, flavour: str | None = None, build: bool = True,
                    keep_engine: bool = False, inline_functions: bool | None = None) -> BuildResult:
    """Parse an ONNX file with NVIDIA's ONNX parser and (optionally) build a serialized engine.

    precision: "fp32" | "fp16" | "int8": what the file was exported as. The network is strongly typed
    where the API allows (types come from the ONNX file); only an old TensorRT without that flag gets
    the FP16/INT8 builder flags. `batch` = (min, opt, max) sets an optimisation profile on the dynamic axis 0.
    inline_functions: None = inline the local functions unless our plugin is registered (see `onnx_for_parser`).
    """
    import time

    be = load(flavour)
    trt = be.trt
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    # Strongly typed where the API has the flag (TensorRT >= 10; TensorRT-RTX is always strongly typed):
    # the precision is the ONNX file's (FP16 export, Q/DQ), not a builder guess.
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if inline_functions is None:
        inline_functions = not plugin_registered(flavour)
    t0 = time.perf_counter()
    ok = parser.parse(onnx_for_parser(onnx_path, inline_functions=inline_functions), str(onnx_path))
    parse_s = time.perf_counter() - t0
    result = BuildResult(be.flavour, be.version, bool(ok), False, _parser_errors(parser), parse_s=parse_s)
    if not ok:
        return result
    result.num_layers = network.num_layers
    types: dict[str, int] = {}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        name = str(layer.type).split(".")[-1]
        types[name] = types.get(name, 0) + 1
        if name.startswith("PLUGIN"):
            result.plugin_layers += 1
    result.layer_types = dict(sorted(types.items()))
    if not build:
        return result

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if not strongly_typed:
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        elif precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    if any(-1 in tuple(t.shape) for t in inputs):
        lo, opt, hi = batch or (1, 1, 1)
        profile = builder.create_optimization_profile()
        for t in inputs:
            shape = tuple(t.shape)
            if any(d == -1 for d in shape[1:]):
                result.errors.append(f"input {t.name} has dynamic axes other than the batch: {shape}")
                return result
            profile.set_shape(t.name, (lo, *shape[1:]), (opt, *shape[1:]), (hi, *shape[1:]))
        config.add_optimization_profile(profile)
    t0 = time.perf_counter()
    engine = builder.build_serialized_network(network, config)
    result.build_s = time.perf_counter() - t0
    if engine is None:
        result.errors.append("build_serialized_network returned None (see the TensorRT log)")
        return result
    data = bytes(memoryview(engine))
    result.built = True
    result.engine_bytes = len(data)
    if keep_engine:
        result.engine = data
    return result


def load_plugin_library(path, flavour: str | None = None):
    """Load our plugin library into this process's registry (once per file) and check our creator is there.

    Before parsing: the ONNX parser maps a SwinWindowAttention node to a plugin only if its creator is
    registered when the node is imported. The loading itself is edge_swin.plugins.library's.
    """
    path = Path(path)
    if not path.is_file():
        raise PluginLibraryError(f"plugin library not found: {path}. Build it with `python -m edge_swin.plugins.build` "
                                 "(kernels) and edge_swin.plugins.library.build_library, or drop the plugin option")
    try:
        from edge_swin.plugins import library
    except ImportError as e:
        raise PluginLibraryError(f"edge_swin.plugins.library does not import ({e}): cannot load {path}") from None
    return library.load_library(path, flavour)


def capture_logger(flavour: str | None = None, echo_from: int = 1):
    """A TensorRT logger that keeps every message (for build logs and error messages) and prints those at or above
    severity `echo_from` (0 internal error, 1 error, 2 warning, 3 info, 4 verbose)."""
    trt = load(flavour).trt

    class CaptureLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: list[tuple[int, str]] = []

        def log(self, severity, msg):
            level = int(severity)
            self.messages.append((level, str(msg)))
            if level <= echo_from:
                print(f"[TensorRT] {msg}")

        def errors(self) -> list[str]:
            return [m for level, m in self.messages if level <= 1]

    return CaptureLogger()
