"""Stage `engine`: the export stage's ONNX files as TensorRT engines for the target, or the Jetson bundle.

Per target (`build_on` in edge_swin/trt/targets.toml):
- "cpu" (rtx): TensorRT-RTX builds here, no GPU: INT8 from model_int8.onnx, FP16 from model_fp16.onnx, FP32
  (the native baseline) from model_fp32.onnx, each with its metadata sidecar and build log. If our plugin
  library can be built and loaded here, the FP16 and INT8 files are built a second time with each
  SwinWindowAttention node as a plugin layer (`*_plugin.engine`); if not, the stage records why. A strongly
  typed builder (TensorRT-RTX, TensorRT 11) builds the INT8 plugin engine from model_int8_fp16.onnx (the
  FP16 graph, where the target allows FP16), so its unquantized layers and the plugin's io are FP16; should
  that build fail (a plugin without an fp16-io INT8 node), from model_int8.onnx, and the stage says why.
- FP8 runs (swin_fp8): the FP8 engine from model_fp8_fp16.onnx where the target allows FP16 (else
  model_fp8.onnx), strongly typed on every TensorRT; the FP8 plugin engine from the same file where the plugin
  library has kernels for an SM with FP8 tensor cores (the node's FP8 kernels exist for sm_89, 90, 110 only).
- "gpu" (t4 ... h100): the same with full TensorRT, on a host with that GPU (pipelines.build checks before
  training starts).
- "device" (Jetson): on the Jetson itself (aarch64, TensorRT, its GPU) the same; on any other host the
  bundle (runs/<name>/bundle/) that build_engine.sh turns into engines on the device.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from edge_swin.data import IMAGENET_MEAN, IMAGENET_STD
from edge_swin.data.transforms import DEFAULT_CROP_PCT
from edge_swin.errors import EdgeSwinError
from edge_swin.plugins.swin_window_attention import library as plugin_library
from edge_swin.plugins.swin_window_attention.kernels.spec import FP8_SMS
from edge_swin.trt import backend, rtx_alias
from edge_swin.trt.builder import build_engine, check_build_host, log_path, on_jetson_with_tensorrt
from edge_swin.trt.bundle import write_bundle
from edge_swin.trt.metadata import sidecar_path
from edge_swin.trt.plugin_cache import copy_into, plugin_library_for
from edge_swin.utils.io import sha256_file
from edge_swin.utils.manifest import Stage
from pipelines.stages.context import RunContext
from pipelines.stages.rebuild import begin

BUILDER_VERSION = 1  # bump when the builder's settings change what an engine contains
PLUGIN_PRECISIONS = ("fp16", "int8", "fp8")  # the node's kinds; FP8 only where the library has FP8 kernels


def run(ctx: RunContext) -> None:
    target = ctx.target
    if target.build_on == "device":
        on_device, why = on_jetson_with_tensorrt(target)
        if not on_device:
            _bundle(ctx, why)
            return
    check_build_host(target)  # pipelines.build checked this before training; a clear error if it changed since
    _build(ctx)


# ------------------------------------------------------------------------------------------------------ engines


def _sources(ctx: RunContext) -> dict[str, Path]:
    # FP8 engines are strongly typed everywhere: built from the FP16-graph file when there is one
    quant = (ctx.onnx_quant_fp16 or ctx.onnx_quant) if ctx.quant_format == "fp8" else ctx.onnx_quant
    sources = {"fp32": ctx.onnx_fp32, "fp16": ctx.onnx_fp16, ctx.quant_format: quant}
    return {p: path for p, path in sources.items() if path is not None and (p == "fp32" or p in ctx.target.precisions)}


def preprocess(ctx: RunContext) -> dict:
    """What an application must do to an image before the engine: the run's eval transform, in words and numbers."""
    crop_pct = 1.0 if ctx.args.data is None else DEFAULT_CROP_PCT
    return {"img_size": ctx.img_size, "crop_pct": crop_pct, "resize": "bicubic, short side to img_size / crop_pct",
            "crop": "center, img_size", "channels": "RGB", "scale": "1/255", "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD), "layout": "NCHW float32"}


def accuracy(ctx: RunContext, precision: str) -> dict | None:
    """The measured accuracy of the model that went into a `precision` engine (qat stage, else train stage)."""
    qat = (ctx.stages.get("qat") or {}).get("numbers") or {}
    quantized = precision in ("int8", "fp8")
    name = ("qat" if "qat" in qat else "ptq") if quantized else "fp32"
    if qat.get(name):
        m = qat[name]
        return {"top1": m["top1"], "top5": m.get("top5"), "model": f"PyTorch {name.upper()}",
                "measured_by": "qat stage, validation split"}
    train = (ctx.stages.get("train") or {}).get("numbers") or {}
    if not quantized and "val_top1" in train:
        return {"top1": train["val_top1"], "top5": train.get("val_top5"), "model": "PyTorch FP32",
                "measured_by": "train stage, validation split"}
    return None


def _plugin_library(ctx: RunContext, stage: Stage, flavour: str) -> tuple[Path | None, list[int], str]:
    """(library in the stage folder, SMs with kernels, notes) when our plugin library can be had here, else
    (None, [], why not)."""
    if flavour == "tensorrt_rtx" and not rtx_alias.usable():
        return None, [], f"the TensorRT-RTX parser would abort on a plugin node: {rtx_alias.status()}"
    sources = [path for p, path in _sources(ctx).items() if p in PLUGIN_PRECISIONS]
    library, sms, notes = plugin_library_for(sources, ctx.target)
    if library is None:
        return None, [], notes
    library = copy_into(library, stage.path("plugin"))
    try:
        plugin_library.load_library(library, backend.load(flavour).trt)
    except EdgeSwinError as e:
        return None, [], f"the plugin library does not load: {e}"
    return library, sms, notes


def plugin_precisions(sources, plugin_sms) -> list[str]:
    """The precisions among `sources` built a second time with the plugin: FP16 and INT8 wherever the library is,
    FP8 where its kernel table covers an SM with FP8 kernels (a table for an Orin, sm_87, has none)."""
    has_fp8 = bool(set(plugin_sms) & set(FP8_SMS))
    return [p for p in PLUGIN_PRECISIONS if p in sources and (p != "fp8" or has_fp8)]


def _build(ctx: RunContext) -> None:
    target, args = ctx.target, ctx.args
    be = backend.load(target.flavour)
    sources = _sources(ctx)
    dla = bool(getattr(args, "dla", False))
    int8_fp16 = _int8_fp16_source(ctx, be)
    stage_inputs = {"target": target.as_dict(), "tensorrt": f"{be.flavour} {be.version}", "builder": BUILDER_VERSION,
                    "onnx": {p: sha256_file(path) for p, path in sources.items()}, "dla": dla,
                    "int8_fp16_graph": sha256_file(int8_fp16) if int8_fp16 else None,
                    "accuracy": {p: accuracy(ctx, p) for p in sources}, "classes": ctx.classes,
                    "preprocess": preprocess(ctx)}
    probe = Stage(ctx.out_dir, "engine", stage_inputs)  # the plugin library is an input too: find it first
    plugin_path, plugin_sms, plugin_reason = _plugin_library(ctx, probe, be.flavour) if any(
        p in sources for p in PLUGIN_PRECISIONS) else (None, [], "no FP16, INT8 or FP8 ONNX file to build it from")
    stage_inputs["plugin"] = (sha256_file(plugin_path), plugin_sms) if plugin_path else f"not available: {plugin_reason}"
    stage = Stage(ctx.out_dir, "engine", stage_inputs)
    if stage.up_to_date():
        print(f"[engine] up to date: {stage.dir}")
        _finish(ctx, stage)
        return

    begin(ctx, stage)
    artifacts, engines = {}, {}
    plans = [(p, p, [src], None) for p, src in sources.items()]
    if plugin_path:
        plans += [(f"{p}_plugin", p, [int8_fp16, sources[p]] if p == "int8" and int8_fp16 else [sources[p]],
                   plugin_path) for p in plugin_precisions(sources, plugin_sms)]
    for name, precision, onnx_paths, library in plans:
        out = stage.path(f"model_{name}.engine")
        fallback = None
        for onnx_path in onnx_paths:  # the FP16-graph INT8 file first, model_int8.onnx if that fails
            print(f"[engine] building {out.name} from {onnx_path.name} with {be.flavour} {be.version}"
                  f"{' and our plugin' if library else ''}")
            try:
                built = build_engine(onnx_path, out, target, precision=precision, plugin_library=library,
                                     plugin_sms=plugin_sms if library else None,
                                     timing_cache=stage.path("timing.cache"), dla=dla,
                                     accuracy=accuracy(ctx, precision), preprocess=preprocess(ctx),
                                     classes=ctx.classes, quiet=True)
                break
            except EdgeSwinError as e:
                if library is None:
                    raise  # the native engines are what this stage promises: a failure fails the run
                print(f"[engine] {out.name} from {onnx_path.name} failed: {e}")
                if onnx_path == onnx_paths[-1]:
                    engines[name] = {"status": f"failed: {e}"}
                    built = None
                else:
                    fallback = f"from {onnx_path.name} failed ({str(e)[:300]})"
        if built is None:
            continue
        meta = built.metadata
        engines[name] = {"status": "built", "precision": precision, "plugin_layers": (meta["plugin"] or {}).get("layers", 0),
                         "bytes": meta["engine"]["bytes"], "build_seconds": meta["built"]["seconds"],
                         "layers": meta["layers"]["counts"], "layer_source": meta["layers"]["source"],
                         "onnx": onnx_path.name, **({"fp16_graph_fallback": fallback} if fallback else {})}
        artifacts[name], artifacts[f"{name}_metadata"], artifacts[f"{name}_log"] = out, sidecar_path(out), log_path(out)
        counts = ", ".join(f"{k} {v}" for k, v in meta["layers"]["counts"].items())
        print(f"[engine] {out.name}: {meta['engine']['bytes'] / 1e6:.1f} MB in {meta['built']['seconds']:.1f} s; "
              f"layers {counts} ({'engine inspector' if meta['layers']['source'].startswith('engine inspector') else 'network before the build'})")
    if plugin_path:
        artifacts["plugin_library"] = plugin_path
        custom = {n: e for n, e in engines.items() if n.endswith("_plugin") and e["status"] == "built"}
        plugin_note = "; ".join(f"{n}: {e['plugin_layers']} SwinWindowAttention plugin layers" for n, e in custom.items())
        plugin_note = plugin_note or "plugin library loaded but every plugin engine failed (see engines)"
        plugin_note += f"; kernels for SM {', '.join(map(str, plugin_sms))}" + (f"; {plugin_reason}" if plugin_reason else "")
    else:
        plugin_note = f"not available: {plugin_reason}"
        print(f"[engine] plugin engines: {plugin_note}")
    timing = stage.dir / "timing.cache"
    if timing.is_file():
        artifacts["timing_cache"] = timing
    numbers = {"tensorrt": f"{be.flavour} {be.version}", "built": sum(e["status"] == "built" for e in engines.values()),
               "plugin": plugin_note, "engines": engines}
    stage.finish(artifacts, numbers)
    _finish(ctx, stage)


def _int8_fp16_source(ctx: RunContext, be) -> Path | None:
    """model_int8_fp16.onnx where the builder is strongly typed (the file's types are the engine's: an FP16 graph
    makes its unquantized layers and the plugin's io FP16); None for a weakly typed TensorRT 10, whose FP16 flag
    does that from model_int8.onnx."""
    from edge_swin.trt.builder import network_typing

    if ctx.onnx_quant_fp16 is None or ctx.quant_format != "int8" or "int8" not in ctx.target.precisions:
        return None
    return ctx.onnx_quant_fp16 if network_typing(be, "int8") == "strong" else None


def _finish(ctx: RunContext, stage: Stage) -> None:
    ctx.stages["engine"] = stage.manifest
    ctx.engines = {name: stage.artifact(name) for name, e in stage.manifest["numbers"]["engines"].items()
                   if e["status"] == "built"}


# ------------------------------------------------------------------------------------------------------- bundle


def _tree_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + sha256_file(path).encode())
    return digest.hexdigest()


def _bundle(ctx: RunContext, why_not_here: str) -> None:
    """A Jetson target off the device: write the bundle the device builds its engines from."""
    target = ctx.target
    ctx.engines = {}
    sources = _sources(ctx)
    fields = {"classes": ctx.classes, "preprocess": preprocess(ctx)}
    accuracies = {p: accuracy(ctx, p) for p in sources}
    inputs = {"target": target.as_dict(), "onnx": {p: sha256_file(path) for p, path in sources.items()},
              "accuracy": accuracies, "fields": fields}
    stage = Stage(ctx.out_dir, "engine", inputs)
    bundle_dir = ctx.out_dir / "bundle"
    if stage.up_to_date() and bundle_dir.is_dir() and stage.manifest["numbers"].get("bundle_sha256") == _tree_sha256(bundle_dir):
        print(f"[engine] up to date: bundle {bundle_dir}")
    else:
        begin(ctx, stage)
        written = Path(write_bundle(bundle_dir, target=target, onnx=sources, accuracy=accuracies,
                                    engine_metadata_fields=fields))
        numbers = {"bundle": str(written), "bundle_files": sum(1 for p in written.rglob("*") if p.is_file()),
                   "bundle_sha256": _tree_sha256(written), "engines": {}}
        stage.finish({}, numbers, note=f"bundle for the device: {why_not_here}")
        print(f"[engine] {target.name}: bundle written to {written} ({numbers['bundle_files']} files); build the engine "
              "on the device with its build_engine.sh")
    ctx.stages["engine"] = stage.manifest
