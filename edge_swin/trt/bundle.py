"""The Jetson bundle: everything an Orin or a Thor needs to build its own engine, written on an x86 host.

A Jetson engine can only be built on the Jetson (TensorRT builds for the GPU it runs on, and JetPack 6's
CUDA 12.6 cannot use a plugin compiled by the host's CUDA 13), so for `build_on = "device"` targets the
pipeline's engine stage writes `runs/<name>/bundle/` instead:

    manifest.json             target row, expected JetPack/L4T/CUDA/TensorRT, versions, ONNX sha256 and I/O,
                              accuracy, the sidecar fields from the host, and the sha256 of every other file
    onnx/model_int8.onnx      the quantized (Q/DQ) export; model_fp8.onnx (Thor: FP8 Q/DQ, FP16 graph) and
                              model_fp16.onnx when the target allows them
    onnx/*.inlined.onnx       the same files with the SwinWindowAttention functions inlined (trtexec --no-plugin)
    plugin/csrc/              the plugin's C++ sources and CMakeLists.txt (edge_swin/plugins/swin_window_attention/csrc)
    plugin/kernels/           embedded_kernels.cpp: the Triton kernels compiled ahead of time for the target's SM
    build_engine.sh           plugin (CMake) -> engine (edge_swin's builder, or trtexec) -> sidecar
    bundle.env                the values build_engine.sh reads (input name, batch profile, workspace, ...)
    write_engine_metadata.py  the sidecar writer used after trtexec (+ edge_swin_layers.py, its layer report)
    Dockerfile.jetson         the repository's, its BASE_IMAGE defaulting to the target's JetPack image, so the
                              bundle alone builds an image on the device
    examples/cpp/             the C++ embedding example (`classify`), built by Dockerfile.jetson
    README.md                 what to run on the Orin

The folder is written under a temporary name beside `out_dir` and renamed into place only when complete;
a failure leaves no half bundle (and an existing bundle stays as it was).
"""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import stat
import string
import tempfile
from pathlib import Path

from edge_swin import __version__
from edge_swin.errors import EdgeSwinError, TargetError
from edge_swin.plugins.swin_window_attention.contract import DOMAIN, model_windows
from edge_swin.plugins.swin_window_attention import library
from edge_swin.plugins.swin_window_attention.aot.kernel_cache import manifest_ptxas, read_manifest
from edge_swin.plugins.swin_window_attention.plugin_build import kernel_table
from edge_swin.trt.builder import onnx_for_parser
from edge_swin.trt.targets import Target, load_targets
from edge_swin.utils.io import sha256_file

FORMAT = "edge-swin-bundle/1"
TEMPLATES = Path(__file__).with_name("bundle_templates")
REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = library.CSRC
KNOWN_PRECISIONS = ("fp8", "int8", "fp16", "fp32")
# What each JetPack carries (docs/findings.md), keyed by the target's TensorRT release.
PLATFORMS = {
    "10.3.0": {"jetpack": "6.1 / 6.2", "l4t": "R36.4", "cuda": "12.6", "image": "nvcr.io/nvidia/l4t-jetpack:r36.4.0"},
    "10.13.3": {"jetpack": "7.0", "l4t": "R38.2", "cuda": "13.0", "image": "nvcr.io/nvidia/tensorrt:25.08-py3"},
    "10.16": {"jetpack": "7.2", "l4t": "R39.2", "cuda": "13.2", "image": None},
}
DOCKERFILE_BASE_IMAGE = "ARG BASE_IMAGE="  # the line of Dockerfile.jetson a bundle sets to its target's image
_SKIP_SOURCES = shutil.ignore_patterns("build", "build-*", ".cmake-*", "__pycache__", "*.o", "*.so", "*.pyc")
_ONNX_ELEM_TYPES = {1: "float", 10: "half", 16: "bf16", 3: "int8", 6: "int32", 7: "int64", 9: "bool"}


class BundleError(TargetError):
    """The bundle cannot be written from what was given; the message names the fix."""


def write_bundle(out_dir: Path, *, target: Target, onnx: dict[str, Path], accuracy: dict | None,
                 engine_metadata_fields: dict | None = None, kernels_dir: Path | None = None,
                 inline_copies: bool = True) -> Path:
    """Write the bundle for a Jetson `target` into `out_dir` (replaced as a whole); returns `out_dir`.

    onnx: precision -> ONNX file ("int8", "fp16", "fp32"); the precisions the target allows are bundled
      (at least one must be given), others are listed in the manifest as left out.
    accuracy: the model's measured accuracy (recorded in the manifest and in every engine's sidecar).
    engine_metadata_fields: extra sidecar fields from the host, e.g. {"preprocess": {...}, "classes": [...]}.
    kernels_dir: a folder from `python -m edge_swin.plugins.swin_window_attention.aot.build` holding embedded_kernels.cpp for the
      target's SM; None builds it here (ahead of time, no GPU) through edge_swin.plugins.swin_window_attention.aot.build.
    inline_copies: also write each ONNX with its functions inlined, for trtexec without the plugin.
    """
    out_dir = Path(out_dir)
    chosen = _check_inputs(target, onnx)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        onnx_info = _copy_onnx(chosen, tmp / "onnx", inline_copies)
        windows = {tuple(w) for entry in onnx_info.values() for w in entry["windows"]}
        plugin = _copy_plugin(target, tmp / "plugin", kernels_dir, windows)
        extras = _copy_extras(tmp, PLATFORMS.get(target.tensorrt, {}).get("image"))
        default = next(p for p in target.precisions if p in chosen)
        _write_env(tmp / "bundle.env", target, onnx_info[default], list(chosen), default, plugin)
        manifest = _manifest(target, onnx_info, chosen, onnx, accuracy, engine_metadata_fields, plugin, extras,
                             default)
        _write_readme(tmp / "README.md", target, manifest)
        manifest["files"] = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


# ------------------------------------------------------------------------------------------------ inputs


def _check_inputs(target: Target, onnx: dict[str, Path]) -> dict[str, Path]:
    if not target.is_jetson:
        raise BundleError(
            f"target {target.name} ({target.gpu}) is not a Jetson target: its engine is built directly where its "
            f"GPU (or, for rtx, TensorRT-RTX) is, with edge_swin.trt.builder.build_engine / `python -m pipelines.build "
            f"--target {target.name}`. Bundles are for targets with build_on = \"device\": "
            + ", ".join(_jetson_names()))
    unknown = sorted(set(onnx) - set(KNOWN_PRECISIONS))
    if unknown:
        raise BundleError(f"unknown ONNX precision(s) {', '.join(unknown)}: onnx maps {', '.join(KNOWN_PRECISIONS)} "
                          "to files")
    chosen = {p: Path(onnx[p]) for p in target.precisions if onnx.get(p) is not None}
    if not chosen:
        raise BundleError(f"no ONNX file for target {target.name}'s precisions ({', '.join(target.precisions)}); got "
                          f"{', '.join(onnx) or 'none'}. Run the qat and export stages first (python -m pipelines.build "
                          f"--target {target.name}), which write export/model_int8.onnx and model_fp16.onnx")
    for precision, path in chosen.items():
        if not path.is_file():
            raise BundleError(f"{precision} ONNX file not found: {path}. Re-run the export stage")
    return chosen


def _jetson_names() -> list[str]:
    return [t.name for t in load_targets().values() if t.is_jetson]


# ------------------------------------------------------------------------------------------------ ONNX


def _onnx_io(path: Path) -> dict:
    """Input/output names, shapes ("batch" for a symbolic axis) and dtypes, read without the weights."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}

    def describe(value) -> dict:
        t = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        return {"name": value.name, "shape": shape, "dtype": _ONNX_ELEM_TYPES.get(t.elem_type, str(t.elem_type))}

    inputs = [describe(v) for v in model.graph.input if v.name not in initializers]
    outputs = [describe(v) for v in model.graph.output]
    external = sorted({e.value for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
                       for e in t.external_data if e.key == "location"})
    return {"inputs": inputs, "outputs": outputs, "external_data": external,
            "custom_ops": sum(n.domain == DOMAIN for n in model.graph.node), "functions": len(model.functions),
            "windows": [list(w) for w in model_windows([model])]}


def _copy_onnx(chosen: dict[str, Path], dest: Path, inline_copies: bool) -> dict[str, dict]:
    dest.mkdir(parents=True)
    info = {}
    for precision, src in chosen.items():
        io = _onnx_io(src)
        if len(io["inputs"]) != 1:
            raise BundleError(f"{src} has {len(io['inputs'])} inputs ({[i['name'] for i in io['inputs']]}); the "
                              "bundle's build script expects one image input [N, 3, H, W]")
        shape = io["inputs"][0]["shape"]
        if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
            raise BundleError(f"{src}: input {io['inputs'][0]['name']} has shape {shape}; expected [batch, 3, H, W] "
                              "with a fixed image size (export with a fixed --img-size)")
        target_file = dest / f"model_{precision}.onnx"
        shutil.copyfile(src, target_file)
        for name in io["external_data"]:  # weights stored beside the file travel with it
            shutil.copyfile(src.parent / name, dest / name)
        entry = {"file": f"onnx/{target_file.name}", "source": str(src), "sha256": sha256_file(target_file),
                 "bytes": target_file.stat().st_size, **io}
        if inline_copies and io["functions"]:
            inlined = dest / f"model_{precision}.inlined.onnx"
            inlined.write_bytes(onnx_for_parser(target_file, inline_functions=True))
            entry["inlined"] = {"file": f"onnx/{inlined.name}", "sha256": sha256_file(inlined)}
        info[precision] = entry
    return info


# ------------------------------------------------------------------------------------------------ plugin


def _copy_plugin(target: Target, dest: Path, kernels_dir: Path | None, windows: set[tuple[int, int]]) -> dict:
    """Plugin sources + the target SM's kernel table; {"available": False, "reason": ...} where either is missing."""
    if not windows:
        return {"available": False, "reason": "the ONNX files have no SwinWindowAttention nodes (a --no-custom-op "
                                              "export): there is nothing for the plugin to replace"}
    if not (PLUGIN_SOURCES / "CMakeLists.txt").is_file():
        return {"available": False, "reason": f"no plugin sources with a CMakeLists.txt in {PLUGIN_SOURCES}"}
    shutil.copytree(PLUGIN_SOURCES, dest / "csrc", ignore=_SKIP_SOURCES)
    kernels_cpp, kernel_manifest, reason = _kernel_table(target, kernels_dir, windows)
    plugin = {"library": "libedge_swin_plugins.so", "sources": "plugin/csrc", "sm": target.sm,
              "windows": sorted(list(w) for w in windows),
              "source_files": sorted(str(p.relative_to(dest / "csrc")) for p in (dest / "csrc").rglob("*")
                                     if p.is_file())}
    if kernels_cpp is None:
        return {**plugin, "available": False, "reason": reason}
    (dest / "kernels").mkdir()
    shutil.copyfile(kernels_cpp, dest / "kernels" / "embedded_kernels.cpp")
    if kernel_manifest is not None and kernel_manifest.is_file():
        shutil.copyfile(kernel_manifest, dest / "kernels" / "manifest.json")
    return {**plugin, "available": True, "kernels": "plugin/kernels/embedded_kernels.cpp",
            "kernel_table_sha256": sha256_file(dest / "kernels" / "embedded_kernels.cpp"),
            "ptxas": manifest_ptxas(kernel_manifest), "precisions": _kernel_precisions(kernel_manifest)}


def _kernel_precisions(kernel_manifest: Path | None) -> list[str]:
    """The node precisions the kernel table has kernels for (its entries' "mode"); the plugin's FP16 and INT8 when
    the manifest does not say. build_engine.sh uses the plugin only for these."""
    modes = {e.get("mode") for e in read_manifest(kernel_manifest)} if kernel_manifest is not None else set()
    modes = sorted(m for m in modes if m in KNOWN_PRECISIONS)
    return modes or ["fp16", "int8"]


def _kernel_table(target: Target, kernels_dir: Path | None,
                  windows: set[tuple[int, int]]) -> tuple[Path | None, Path | None, str]:
    """(embedded_kernels.cpp, manifest.json, "") for the target's SM, or (None, None, why not).

    kernels_dir: a `python -m edge_swin.plugins.swin_window_attention.aot.build` output to use; None: the node's
    ahead-of-time build for the target's SM with the ptxas of its CUDA release (plugin_build.kernel_table, cached).
    """
    try:
        kernels = kernel_table(windows, [int(target.sm)], cuda=target.cuda, kernels_dir=kernels_dir)
    except EdgeSwinError as e:  # a given table without the target's SM: the caller's mistake, named
        raise BundleError(f"the given kernel table is not for {target.name}'s sm_{target.sm}: {e}") from e
    if kernels.folder is None:
        return None, None, f"the ahead-of-time kernel build for sm_{target.sm} failed: {kernels.notes}"
    return kernels.cpp, kernels.manifest, ""


# ------------------------------------------------------------------------------------------------ scripts, docs


def _copy_extras(dest: Path, base_image: str | None = None) -> dict:
    """build_engine.sh and its helpers from bundle_templates/, the Dockerfile (BASE_IMAGE defaulting to
    `base_image`, the target's JetPack image) and the C++ example."""
    script = dest / "build_engine.sh"
    shutil.copyfile(TEMPLATES / "build_engine.sh", script)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    shutil.copyfile(TEMPLATES / "write_engine_metadata.py", dest / "write_engine_metadata.py")
    shutil.copyfile(Path(__file__).with_name("layer_report.py"), dest / "edge_swin_layers.py")
    extras = {"dockerfile": None, "examples_cpp": None}
    dockerfile = REPO_ROOT / "Dockerfile.jetson"
    if dockerfile.is_file():
        lines = dockerfile.read_text().splitlines(keepends=True)
        if base_image:
            if not any(line.startswith(DOCKERFILE_BASE_IMAGE) for line in lines):
                raise BundleError(f"{dockerfile} has no '{DOCKERFILE_BASE_IMAGE}...' line to set the target's image")
            lines = [f"{DOCKERFILE_BASE_IMAGE}{base_image}\n" if line.startswith(DOCKERFILE_BASE_IMAGE) else line
                     for line in lines]
        (dest / "Dockerfile.jetson").write_text("".join(lines))
        extras["dockerfile"] = "Dockerfile.jetson"
        extras["dockerfile_base_image"] = base_image or next(
            (line.split("=", 1)[1].strip() for line in lines if line.startswith(DOCKERFILE_BASE_IMAGE)), None)
    example = REPO_ROOT / "examples" / "cpp"
    if (example / "CMakeLists.txt").is_file():
        shutil.copytree(example, dest / "examples" / "cpp", ignore=_SKIP_SOURCES)
        extras["examples_cpp"] = "examples/cpp"
    return extras


def _write_env(path: Path, target: Target, io: dict, precisions: list[str], default: str, plugin: dict) -> None:
    """The shell values build_engine.sh sources: quoted, one a line."""
    image = io["inputs"][0]
    platform_info = PLATFORMS.get(target.tensorrt, {})
    values = {
        "TARGET_NAME": target.name,
        "TARGET_DESCRIPTION": target.description,
        "TARGET_SM": target.sm,
        "TARGET_DLA": target.dla,
        "EXPECTED_TENSORRT": target.tensorrt,
        "EXPECTED_PLATFORM": (f"JetPack {platform_info['jetpack']}, L4T {platform_info['l4t']}, CUDA "
                              f"{platform_info['cuda']}" if platform_info else target.description),
        "BUNDLE_PRECISIONS": " ".join(precisions),
        "DEFAULT_PRECISION": default,
        "INPUT_NAME": image["name"],
        "INPUT_DIMS": "x".join(str(d) for d in image["shape"][1:]),
        "INPUT_BATCH_DYNAMIC": 0 if isinstance(image["shape"][0], int) else 1,
        "BATCH_MIN": target.batch[0],
        "BATCH_OPT": target.batch[1],
        "BATCH_MAX": target.batch[2],
        "WORKSPACE_MIB": target.workspace_mib,
        "PLUGIN_AVAILABLE": 1 if plugin.get("available") else 0,
        "PLUGIN_PRECISIONS": " ".join(plugin.get("precisions") or []),
        "PLUGIN_UNAVAILABLE_REASON": plugin.get("reason", ""),
    }
    lines = ["# shellcheck shell=bash disable=SC2034  # values only; build_engine.sh sources this file and uses each",
             "# Written by edge_swin.trt.bundle.write_bundle."]
    lines += [f"{k}={shlex.quote(str(v))}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


def _versions() -> dict:
    out = {"edge_swin": __version__, "python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxruntime", "nvidia-modelopt", "triton", "tensorrt", "tensorrt-rtx-cu13"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _manifest(target: Target, onnx_info: dict, chosen: dict, given: dict, accuracy: dict | None,
              fields: dict | None, plugin: dict, extras: dict, default: str) -> dict:
    platform_info = PLATFORMS.get(target.tensorrt)
    left_out = {p: f"target {target.name} allows {', '.join(target.precisions)}" for p in given if p not in chosen}
    return {
        "format": FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "created_on": {"host": platform.node(), "machine": platform.machine(), "system": platform.system()},
        "target": target.as_dict(),
        "expected": {"tensorrt": target.tensorrt, "cuda": target.cuda, **(platform_info or {}),
                     "sm": target.sm, "gpu": target.gpu},
        "versions": _versions(),
        "onnx": onnx_info,
        "onnx_left_out": left_out,
        "default_precision": default,
        "accuracy": accuracy,
        "engine_metadata_fields": fields or {},
        "plugin": plugin,
        "build": {"script": "build_engine.sh", "env": "bundle.env", "batch_profile": list(target.batch),
                  "workspace_mib": target.workspace_mib, "dla": target.dla,
                  "engine_file": "out/model_<precision>[_noplugin][_dla].engine (+ .json sidecar)"},
        **extras,
    }


def _write_readme(path: Path, target: Target, manifest: dict) -> None:
    io = manifest["onnx"][manifest["default_precision"]]["inputs"][0]
    accuracy = manifest.get("accuracy")
    plugin = manifest["plugin"]
    expected = manifest["expected"]
    text = string.Template((TEMPLATES / "README.md.in").read_text()).substitute(
        target=target.name,
        description=target.description,
        sm=target.sm,
        tensorrt=target.tensorrt,
        platform=(f"JetPack {expected['jetpack']} (L4T {expected['l4t']}, CUDA {expected['cuda']}, TensorRT "
                  f"{expected['tensorrt']})" if "jetpack" in expected else target.description),
        image=expected.get("image") or "an L4T image with TensorRT " + target.tensorrt,
        precisions=", ".join(manifest["onnx"]),
        default=manifest["default_precision"],
        input=f"{io['name']} {io['shape']} ({io['dtype']})",
        batch=f"{target.batch[0]} / {target.batch[1]} / {target.batch[2]}",
        workspace=target.workspace_mib,
        dla=("optional: `--dla` puts what DLA core 0 supports there, the rest on the GPU" if target.dla == "optional"
             else "none on this module"),
        plugin=(f"pre-compiled kernels for sm_{target.sm} included" if plugin.get("available")
                else f"NOT included ({plugin.get('reason')}): build with `--no-plugin`"),
        accuracy=json.dumps(accuracy) if accuracy else "not recorded",
        created=manifest["created"],
    )
    path.write_text(text)


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Rename the finished bundle into place; an existing one is moved aside first and removed after."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
