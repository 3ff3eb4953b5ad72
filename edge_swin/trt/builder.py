"""ONNX + target -> TensorRT engine, its metadata sidecar and its build log.

    from edge_swin.trt.builder import build_engine
    built = build_engine("export/model_int8.onnx", "engine/model_int8.engine", "rtx", precision="int8")
    built.metadata["layers"]["counts"]        # {'fp32': ..., 'int8': ...}

One code path for full TensorRT (10.x on JetPack 6/7, 11.x in NGC containers) and TensorRT-RTX (PyPI; its
builder needs no GPU): both are reached through `edge_swin.trt.backend.load`, and only the parts of the API
they share are used, plus two capability checks (`Backend.weak_typing`, `Backend.timing_cache`).

Precision. INT8 is explicit: the Q/DQ nodes of the QAT export decide what is INT8 (no calibrator). What is
not quantized falls back according to the TensorRT that builds:
- TensorRT 10.x: the INT8 file is parsed into a weakly typed network and built with the FP16 and INT8 flags,
  so unquantized layers run in FP16 where TensorRT finds it faster (the classic "INT8 + FP16 fallback").
- TensorRT 11.x (strongly typed only: kFP16/kINT8 are gone and kSTRONGLY_TYPED is ignored, NvInfer.h 11.1)
  and TensorRT-RTX (always strongly typed): every tensor has the type the file gives it, so the FP32 Q/DQ
  file's unquantized layers run in FP32. The FP16 engine comes from the FP16 export instead.
FP32 and FP16 engines are always strongly typed (the file's types). An FP32 network whose window attention
is TensorRT's fused attention layer (the `attention23` body) has it marked decomposable: TensorRT has no
FP32 fused-attention kernel ("Attention operation was not supported by a dedicated kernel") and the build
fails otherwise. The build log says which of these applied.

A build either leaves engine + sidecar + log complete, or none of them (atomic writes; on failure nothing).
"""
from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_swin.errors import EdgeSwinError, PluginLibraryError, TargetError
from edge_swin.plugins.swin_window_attention.contract import PLUGIN_NAMESPACE, add_plugin_namespace, attention_nodes
from edge_swin.plugins.swin_window_attention import library
from edge_swin.trt import backend as trt_backend
from edge_swin.trt import layer_report
from edge_swin.trt.metadata import (
    GpuInfo,
    cuda_gpu,
    make_metadata,
    sidecar_path,
    write_metadata,
)
from edge_swin.trt.targets import Target, get_target
from edge_swin.trt.trt_logger import capture_logger
from edge_swin.utils.io import CorruptFileError, atomic_path, sha256_file, verify_digest, write_text

PRECISIONS = ("fp32", "fp16", "int8", "fp8")


class EngineBuildError(EdgeSwinError):
    """The ONNX file did not parse or the engine did not build; the message carries TensorRT's reason."""


@dataclass
class EngineBuild:
    engine: Path
    metadata_path: Path
    log_path: Path
    metadata: dict
    layers: dict          # edge_swin.trt.layer_report: source, counts, layers
    seconds: float


def log_path(engine_path: str | Path) -> Path:
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".build.log")


# ---------------------------------------------------------------------------------------------------- the host


def on_jetson_with_tensorrt(target: Target, gpu: Callable[[], GpuInfo | None] = cuda_gpu,
                            machine: Callable[[], str] = platform.machine) -> tuple[bool, str]:
    """(True, "") on the device itself: aarch64, full TensorRT imports, and the GPU is the target's SM."""
    if machine() != "aarch64":
        return False, f"this host is {machine()}, not the Jetson (aarch64)"
    if not trt_backend.available("tensorrt"):
        return False, "TensorRT (python3-libnvinfer, part of JetPack) does not import"
    here = gpu()
    if here is None or not target.runs_on_sm(here.sm):
        return False, f"the GPU here ({here.name + ', SM ' + str(here.sm) if here else 'none'}) is not {target.sm_requirement()}"
    return True, ""


def check_build_host(target: Target | str, gpu: Callable[[], GpuInfo | None] = cuda_gpu,
                     machine: Callable[[], str] = platform.machine) -> trt_backend.Backend:
    """The TensorRT to build `target` with here, or TargetError saying why not and what to do instead.

    build_on "cpu": TensorRT-RTX must import (no GPU needed). "gpu": a GPU the target's engines run on and
    full TensorRT. "device" (Jetson): only on the device itself; elsewhere the pipeline writes a bundle.
    """
    target = get_target(target) if isinstance(target, str) else target
    if target.build_on == "cpu":
        try:
            return trt_backend.load(target.flavour)
        except trt_backend.TensorRTUnavailable as e:
            raise TargetError(f"target {target.name} builds with {target.flavour}, which does not import here ({e}). "
                              "Install it: pip install tensorrt-rtx-cu13 (or pip install -e '.[rtx]')") from None
    if target.build_on == "device":
        ok, why = on_jetson_with_tensorrt(target, gpu, machine)
        if not ok:
            raise TargetError(f"target {target.name} ({target.gpu}) builds its engine on the device and {why}: run "
                              f"`python -m pipelines.build --target {target.name}` on the Jetson, or use the bundle it "
                              "writes on this host (runs/<name>/bundle/, built there by build_engine.sh)")
        return trt_backend.load("tensorrt")
    here = gpu()
    if here is None:
        raise TargetError(f"target {target.name} builds its engine with TensorRT on its GPU, {target.sm_requirement()}, "
                          "and this machine has no CUDA GPU. On a CPU use --target rtx (TensorRT-RTX builds ahead of "
                          f"time without a GPU), or run this command on the {target.gpu} host")
    if not target.runs_on_sm(here.sm):
        raise TargetError(f"target {target.name} needs {target.sm_requirement()}, but this GPU is {here.name} (SM "
                          f"{here.sm // 10}.{here.sm % 10}): choose this GPU's target (--target), or run on a {target.gpu}")
    try:
        return trt_backend.load(target.flavour)
    except trt_backend.TensorRTUnavailable as e:
        raise TargetError(f"target {target.name} builds with TensorRT {target.tensorrt}, which does not import here "
                          f"({e}): use NVIDIA's TensorRT container, or pip install tensorrt") from None


# ---------------------------------------------------------------------------------------------------- the build


def network_typing(be: trt_backend.Backend, precision: str) -> str:
    """"weak" (FP16 + INT8 flags: unquantized layers may run in FP16) for INT8 on TensorRT 10.x, else "strong".

    FP8 is strongly typed on every TensorRT (what NVIDIA's FP8 ONNX flow builds): the Q/DQ say what is FP8 and
    the file's float type (model_fp8_fp16.onnx: FP16) what the rest runs in."""
    return "weak" if precision == "int8" and be.weak_typing else "strong"


def onnx_for_parser(onnx_path, *, inline_functions: bool, plugin_namespace: str | None = None) -> bytes:
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
    TensorRT-RTX 1.7.1: edge_swin/plugins/swin_window_attention/library.py); ONNX Runtime ignores it.
    """
    import onnx
    import onnx.inliner

    model = onnx.load(str(onnx_path))
    if inline_functions and len(model.functions):
        model = onnx.inliner.inline_local_functions(model)
    if plugin_namespace is not None:  # files exported before the exporter wrote the attribute itself
        add_plugin_namespace(model, plugin_namespace)
    return model.SerializeToString()


def _dtype(t) -> str:
    return str(t.dtype).split(".")[-1].lower()


def _io(network, profile_batch: tuple[int, int, int]) -> tuple[list[dict], list[dict]]:
    inputs, outputs = [], []
    for i in range(network.num_inputs):
        t = network.get_input(i)
        shape = [int(d) for d in t.shape]
        entry = {"name": t.name, "shape": shape, "dtype": _dtype(t)}
        if shape and shape[0] == -1:
            entry["profile"] = {k: [b, *shape[1:]] for k, b in zip(("min", "opt", "max"), profile_batch)}
        inputs.append(entry)
    for i in range(network.num_outputs):
        t = network.get_output(i)
        outputs.append({"name": t.name, "shape": [int(d) for d in t.shape], "dtype": _dtype(t)})
    return inputs, outputs


def _mark_attention_decomposable(trt, network) -> int:
    """FP32 attention has no fused kernel: let TensorRT decompose it (see the module doc). Returns how many."""
    if not hasattr(trt, "IAttentionInputLayer") or not hasattr(trt.LayerType, "ATTENTION_INPUT"):
        return 0
    marked = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type == trt.LayerType.ATTENTION_INPUT:
            layer.__class__ = trt.IAttentionInputLayer  # the bindings' way to reach a layer's subclass API
            layer.attention.decomposable = True
            marked += 1
    return marked


def _layers_from_engine(trt, serialized, logger) -> dict:
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine returned None")
    inspector = engine.create_engine_inspector()
    return layer_report.inspector_report(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


def build_engine(onnx_path: str | Path, out_path: str | Path, target: Target | str, *, precision: str,
                 plugin_library: str | Path | None = None, plugin_sms: list[int] | None = None,
                 timing_cache: str | Path | None = None, dla: bool = False,
                 accuracy: dict | None = None, preprocess: dict | None = None, classes: list[str] | None = None,
                 gpu: Callable[[], GpuInfo | None] = cuda_gpu, quiet: bool = False) -> EngineBuild:
    """Build `onnx_path` into `out_path` for `target`, with `<out>.json` (metadata) and `<out>.build.log`.

    precision: what the file was exported as ("fp32", "fp16", "int8" = Q/DQ); "fp32" (the native baseline) is
      always allowed, the others must be among the target's precisions.
    plugin_library: load it and let our plugin replace each SwinWindowAttention node (the file is parsed with
      its nodes; the build fails if none became a plugin layer). Without it every node's body is inlined.
    plugin_sms: the SMs the library has kernels for (recorded; loading refuses other GPUs). None: not known.
    timing_cache: a file read before and written after the build (where the TensorRT has a timing cache).
    dla: put what the DLA can run on DLA core 0, the rest on the GPU (targets with dla = "optional").
    accuracy / preprocess / classes: recorded in the sidecar (the model's measured accuracy, the image
      transform an application must apply, the class names).
    """
    started = time.perf_counter()
    target = get_target(target) if isinstance(target, str) else target
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    if precision not in PRECISIONS:
        raise EngineBuildError(f"unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision != "fp32" and precision not in target.precisions:
        raise EngineBuildError(f"target {target.name} allows {', '.join(target.precisions)} (and the FP32 baseline), "
                               f"not {precision}")
    if not onnx_path.is_file():
        raise EngineBuildError(f"ONNX file not found: {onnx_path}. Export it first (python -m pipelines.build --target "
                               f"{target.name} runs the export stage before the engine stage)")
    if plugin_library is not None and not Path(plugin_library).is_file():
        raise PluginLibraryError(
            f"plugin library not found: {plugin_library}. Build it (python -m pipelines.plugin_library --target "
            f"{target.name}) or build without the plugin")
    if dla and target.dla != "optional":
        raise EngineBuildError(f"target {target.name} has no DLA (dla = {target.dla!r} in targets.toml): drop --dla")
    be = check_build_host(target, gpu=gpu)
    trt = be.trt
    notes: list[str] = []
    if be.flavour == "tensorrt" and not be.version.startswith(target.tensorrt):
        notes.append(f"target {target.name} pins TensorRT {target.tensorrt}; this build uses {be.version} "
                     "(the engine runs only with the TensorRT that built it)")
    use_plugin = plugin_library is not None
    if use_plugin:
        library.load_library(plugin_library, trt)

    logger = capture_logger(be.flavour, echo_from=-1 if quiet else 1)
    builder = trt.Builder(logger)
    typing = network_typing(be, precision)
    flags = 0
    if typing == "strong" and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    # Without the plugin the bodies are inlined by us (onnx_for_parser says why) - also when a plugin
    # library is already loaded in this process, which would otherwise replace the nodes.
    try:
        data = onnx_for_parser(onnx_path, inline_functions=not use_plugin,
                               plugin_namespace=PLUGIN_NAMESPACE if use_plugin else None)
    except Exception as e:  # protobuf's DecodeError and friends: one message, no traceback
        raise EngineBuildError(f"{onnx_path} is not a readable ONNX file ({type(e).__name__}: {e}): export it again") from None
    if not parser.parse(data, str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"NVIDIA's ONNX parser ({be.flavour} {be.version}) refused {onnx_path}: "
                               + "; ".join(errors[:3]))
    custom_ops = len(attention_nodes(onnx_path))
    why_no_inspector = "no CUDA GPU here to deserialise the engine"
    net_report = layer_report.network_report(network, weak_typing=typing == "weak", why=why_no_inspector)
    plugin_layers = net_report["counts"].get("plugin", 0)
    if use_plugin and plugin_layers == 0:
        raise EngineBuildError(f"the plugin library {plugin_library} is registered but none of the {custom_ops} "
                               f"SwinWindowAttention nodes of {onnx_path.name} became a plugin layer: the library's "
                               "creator does not match the nodes (name, version, namespace or input count)")
    if precision == "fp32":
        marked = _mark_attention_decomposable(trt, network)
        if marked:
            notes.append(f"{marked} fused attention layers marked decomposable (TensorRT has no FP32 fused-attention "
                         "kernel)")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, target.workspace_mib << 20)
    if typing == "weak":
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.INT8)
    inputs, outputs = _io(network, target.batch)
    dynamic = [t for t in inputs if -1 in t["shape"]]
    if dynamic:
        profile = builder.create_optimization_profile()
        for t in dynamic:
            if -1 in t["shape"][1:]:
                raise EngineBuildError(f"input {t['name']} of {onnx_path.name} has dynamic axes other than the batch "
                                       f"({t['shape']}): export it with a fixed image size")
            profile.set_shape(t["name"], *(t["profile"][k] for k in ("min", "opt", "max")))
        config.add_optimization_profile(profile)
    if hasattr(config, "profiling_verbosity"):
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # so the engine inspector can name precisions
    if target.hardware_compatibility == "ampere_plus":
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    if target.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if dla:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = 0
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    cache_note = _attach_timing_cache(be, config, timing_cache)
    notes.append(cache_note)

    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - t0
    if serialized is None:
        raise EngineBuildError(f"{be.flavour} {be.version} could not build {onnx_path.name} ({precision}) for "
                               f"{target.name}: " + ("; ".join(logger.errors()[-3:]) or "see the TensorRT log above"))
    if be.timing_cache and timing_cache is not None:
        with atomic_path(timing_cache, digest=True) as tmp:  # the digest: read back only if intact
            tmp.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))

    report = net_report
    if gpu() is not None:
        try:
            report = _layers_from_engine(trt, serialized, logger)
        except Exception as e:  # keep the network's view, and say why the engine's is missing
            report = layer_report.network_report(network, weak_typing=typing == "weak",
                                                 why=f"inspector failed: {type(e).__name__}: {e}")

    plugin = None
    if use_plugin:
        library_path = Path(plugin_library).resolve()
        try:
            recorded = str(library_path.relative_to(out_path.parent.resolve()))
        except ValueError:
            recorded = str(library_path)
        plugin = {"library": recorded, "sha256": sha256_file(library_path), "layers": plugin_layers,
                  "custom_ops": custom_ops, "sms": sorted(plugin_sms) if plugin_sms else None}
    elif custom_ops:
        notes.append(f"{custom_ops} SwinWindowAttention nodes built from their function body (no plugin)")

    sidecar, log = sidecar_path(out_path), log_path(out_path)
    try:
        with atomic_path(out_path) as tmp:
            tmp.write_bytes(bytes(memoryview(serialized)))
        metadata = make_metadata(
            engine_path=out_path, flavour=be.flavour, version=be.version, target=target, precision=precision,
            typing=typing, inputs=inputs, outputs=outputs, onnx_path=onnx_path, plugin=plugin, layers=report,
            accuracy=accuracy, preprocess=preprocess, classes=classes, dla=dla, build_seconds=round(build_s, 2),
            notes=notes)
        write_metadata(out_path, metadata)
        write_text(log, _log_text(onnx_path, out_path, target, be, precision, typing, inputs, notes, report,
                                  net_report, plugin, build_s, logger))
    except BaseException:
        for path in (out_path, sidecar, log):
            path.unlink(missing_ok=True)
        raise
    return EngineBuild(out_path, sidecar, log, metadata, report, time.perf_counter() - started)


def _attach_timing_cache(be: trt_backend.Backend, config, path: str | Path | None) -> str:
    if not be.timing_cache:
        return ("timing cache: not used (TensorRT-RTX >= 1.2 ignores timing-cache calls; it compiles kernels on the "
                "GPU at run time)" if be.is_rtx else "timing cache: not in this TensorRT's API")
    if path is None:
        return "timing cache: in memory only (no file given)"
    path = Path(path)
    data, damaged = b"", ""
    if path.is_file():
        try:  # a cache only saves build time: a damaged one is left out and written again, not fed to TensorRT
            verify_digest(path, "")
            data = path.read_bytes()
        except CorruptFileError:
            damaged = "; the file there does not match its digest and is ignored"
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, False)
    return (f"timing cache: {path} ({'read ' + str(len(data)) + ' bytes' if data else 'new'}; written after the "
            f"build{damaged})")


def _log_text(onnx_path, out_path, target, be, precision, typing, inputs, notes, report, net_report, plugin,
              build_s, logger) -> str:
    flags = {"weak": "FP16 + INT8 flags on a weakly typed network (unquantized layers may run in FP16)",
             "strong": "strongly typed: every layer runs in the type the ONNX file gives it"}[typing]
    shapes = ", ".join(f"{t['name']} {t['shape']} {t['dtype']}" for t in inputs)
    plugin_text = (f"library {plugin['library']}, {plugin['layers']} of {plugin['custom_ops']} SwinWindowAttention "
                   "nodes are plugin layers" if plugin else "none")
    lines = [f"# edge-swin engine build: {out_path.name}",
             f"# onnx: {onnx_path} (sha256 {sha256_file(onnx_path)[:12]})",
             f"# target: {target.name} ({target.description})",
             f"# TensorRT: {be.flavour} {be.version}; precision {precision}; {flags}",
             f"# batch profile (min, opt, max): {target.batch}; workspace {target.workspace_mib} MiB",
             f"# inputs: {shapes}",
             f"# plugin: {plugin_text}",
             f"# build: {build_s:.1f} s"]
    lines += [f"# note: {n}" for n in notes]
    if report is not net_report:
        counts = ", ".join(f"{k} {v}" for k, v in net_report["counts"].items())
        lines.append(f"# network before the build, for comparison: {counts}")
    lines.append("")
    text = "\n".join(lines) + "\n" + layer_report.format_report(report, "layers")
    warnings = [m for level, m in logger.messages if level <= 2]
    if warnings:
        text += "\n# TensorRT warnings and errors\n" + "\n".join(warnings) + "\n"
    return text


# ---------------------------------------------------------------------------------------------------- the CLI


def main(argv: list[str] | None = None) -> int:
    """python -m edge_swin.trt.builder: one engine from one ONNX file (what a device-side script calls)."""
    import argparse
    import json
    import sys

    p = argparse.ArgumentParser(prog="python -m edge_swin.trt.builder", description=main.__doc__)
    p.add_argument("onnx", type=Path, help="the exported ONNX file (model_int8.onnx, model_fp16.onnx, model_fp32.onnx)")
    p.add_argument("--target", required=True, help="a target of edge_swin/trt/targets.toml")
    p.add_argument("--precision", required=True, choices=PRECISIONS, help="what the file was exported as")
    p.add_argument("--out", type=Path, required=True, help="the .engine to write (+ .json sidecar, .build.log)")
    p.add_argument("--plugin-library", type=Path, help="build SwinWindowAttention nodes as our plugin")
    p.add_argument("--timing-cache", type=Path, help="timing-cache file, read and updated (full TensorRT)")
    p.add_argument("--dla", action="store_true", help="DLA core 0 with GPU fallback (targets with a DLA)")
    p.add_argument("--metadata-fields", type=Path,
                   help="JSON with 'accuracy', 'preprocess' and 'classes' to record in the sidecar")
    args = p.parse_args(argv)
    try:
        fields = json.loads(args.metadata_fields.read_text()) if args.metadata_fields else {}
        built = build_engine(args.onnx, args.out, args.target, precision=args.precision,
                             plugin_library=args.plugin_library, timing_cache=args.timing_cache, dla=args.dla,
                             accuracy=fields.get("accuracy"), preprocess=fields.get("preprocess"),
                             classes=fields.get("classes"))
    except (EdgeSwinError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in built.metadata["layers"]["counts"].items())
    print(f"{built.engine}: {built.metadata['engine']['bytes'] / 1e6:.1f} MB, layers {counts}\n"
          f"metadata {built.metadata_path}\nlog {built.log_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
