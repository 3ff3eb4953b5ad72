"""The JSON sidecar beside every engine, and the checks that refuse an engine this machine cannot run.

`model_int8.engine` gets `model_int8.engine.json`: TensorRT flavour and version, target, SM, precisions,
input/output names and shapes, the sha256 of the engine, the ONNX file and the plugin library, the accuracy
of the model that went in, and how the image must be prepared. A TensorRT engine only runs on the GPU family
and the exact TensorRT release it was built for, and a plugin engine only with the plugin library it was
built with; deserialising it elsewhere fails deep in TensorRT (or, worse, runs a mismatched plugin).
`check_engine` turns each of those cases into one message that names the fix, before TensorRT is asked.
"""
from __future__ import annotations

import datetime as dt
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.trt import backend
from edge_swin.trt.targets import FP8_MIN_SM
from edge_swin.utils.io import sha256_file, write_json

FORMAT = "edge-swin-engine/1"


class EngineMismatch(EdgeSwinError):
    """The engine was built for another GPU, TensorRT release or plugin library than this machine has."""


class MetadataError(EdgeSwinError):
    """The sidecar is missing, unreadable, or does not describe this engine."""


class NeedsGPU(EdgeSwinError):
    """Running an engine needs a CUDA GPU and there is none."""


@dataclass(frozen=True)
class GpuInfo:
    name: str
    sm: int  # compute capability as major * 10 + minor: 87 for Orin, 90 for H100


def cuda_gpu() -> GpuInfo | None:
    """The current CUDA device (through torch), or None where there is no GPU."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        major, minor = torch.cuda.get_device_capability()
        return GpuInfo(torch.cuda.get_device_name(), major * 10 + minor)
    except Exception:  # a broken driver is no GPU for our purposes; the caller says what is needed
        return None


def sidecar_path(engine_path: str | Path) -> Path:
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def _min_sm(target, precision: str) -> int | None:
    """The lowest SM the engine runs on: the target's, raised to FP8 tensor cores' for an FP8 engine of a target
    that spans SMs (rtx: from 7.5, its FP8 engines from 8.9)."""
    if precision == "fp8" and not isinstance(target.sm, int):
        return max(target.min_sm or 0, FP8_MIN_SM)
    return target.min_sm


def make_metadata(*, engine_path: Path, flavour: str, version: str, target, precision: str, typing: str,
                  inputs: list[dict], outputs: list[dict], onnx_path: Path, plugin: dict | None,
                  layers: dict, accuracy: dict | None = None, preprocess: dict | None = None,
                  classes: list[str] | None = None, dla: bool = False, build_seconds: float | None = None,
                  notes: list[str] | None = None) -> dict:
    """The sidecar's content (see the module doc). `layers` is edge_swin.trt.layer_report's report."""
    return {
        "format": FORMAT,
        "engine": {"file": engine_path.name, "sha256": sha256_file(engine_path), "bytes": engine_path.stat().st_size},
        "tensorrt": {"flavour": flavour, "version": version},
        "target": {"name": target.name, "sm": target.sm, "min_sm": _min_sm(target, precision), "gpu": target.gpu,
                   "tensorrt": target.tensorrt, "hardware_compatibility": target.hardware_compatibility,
                   "version_compatible": target.version_compatible, "dla": dla},
        "precision": precision,
        "network_typing": typing,
        "precisions": sorted(k for k in layers["counts"] if k in ("int8", "fp16", "bf16", "fp32", "float", "fp8")),
        "layers": {"source": layers["source"], "counts": layers["counts"]},
        "inputs": inputs,
        "outputs": outputs,
        "onnx": {"file": str(onnx_path), "sha256": sha256_file(onnx_path)},
        "plugin": plugin,
        "accuracy": accuracy,
        "preprocess": preprocess,
        "classes": classes,
        "built": {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
                  "machine": platform.machine(), "seconds": build_seconds},
        "notes": notes or [],
    }


def write_metadata(engine_path: str | Path, metadata: dict) -> Path:
    path = sidecar_path(engine_path)
    write_json(path, metadata)
    return path


def read_metadata(engine_path: str | Path) -> dict:
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        raise MetadataError(f"engine not found: {engine_path}. Build it with `python -m pipelines.build --target ...` "
                            "(or edge_swin.trt.builder.build_engine)")
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise MetadataError(f"{engine_path} has no metadata sidecar ({path.name}): engines built by edge-swin carry one; "
                            "rebuild the engine with edge_swin.trt.builder, or pass check=False to load it unchecked")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise MetadataError(f"{path} is not valid JSON ({e}): rebuild the engine") from None
    if metadata.get("format") != FORMAT:
        raise MetadataError(f"{path} is not an edge-swin engine sidecar (format {metadata.get('format')!r}, "
                            f"expected {FORMAT!r}): rebuild the engine")
    return metadata


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for p in version.split(".")[:3]:
        try:
            parts.append(int(p))
        except ValueError:
            break
    return tuple(parts)


def runtime_accepts(built: str, current: str, version_compatible: bool) -> bool:
    """Same release (major.minor.patch) - or, for a version-compatible engine, the same major or newer."""
    if version_compatible:
        return _release(current)[:1] == _release(built)[:1] and _release(current) >= _release(built)
    return _release(current) == _release(built)


def _installed(flavour: str) -> str | None:
    try:
        return backend.load(flavour).version
    except backend.TensorRTUnavailable:
        return None


def check_engine(engine_path: str | Path, *, plugin_library: str | Path | None = None,
                 gpu: Callable[[], GpuInfo | None] = cuda_gpu,
                 tensorrt_version: Callable[[str], str | None] = _installed, check_hash: bool = True) -> dict:
    """Refuse (one clear message) an engine this process cannot run; return its metadata with the plugin library
    to load resolved under metadata["plugin"]["resolved"] (None when the engine has no plugin layers).

    Checks, in order: sidecar present and of this engine (sha256), TensorRT flavour and release, plugin
    library (present, same sha256), then a CUDA GPU and its SM against the target's. `gpu` and
    `tensorrt_version` are injectable so each refusal can be tested on a machine without either.
    """
    engine_path = Path(engine_path)
    meta = read_metadata(engine_path)
    if check_hash and sha256_file(engine_path) != meta["engine"]["sha256"]:
        raise MetadataError(f"{engine_path} does not match its sidecar (sha256 differs): the engine was rebuilt or "
                            "replaced without its .json; rebuild both together")

    trt_meta, target = meta["tensorrt"], meta["target"]
    built_with = f"{trt_meta['flavour']} {trt_meta['version']}"
    current = tensorrt_version(trt_meta["flavour"])
    if current is None:
        fix = ("pip install 'tensorrt-rtx-cu13==" + trt_meta["version"].rsplit(".", 1)[0] + ".*'"
               if trt_meta["flavour"] == "tensorrt_rtx" else f"use the container / JetPack with TensorRT {trt_meta['version']}")
        raise EngineMismatch(f"{engine_path.name} was built with {built_with}, which is not installed here: {fix}, "
                             f"or rebuild the engine with the TensorRT you have")
    if not runtime_accepts(trt_meta["version"], current, bool(target.get("version_compatible"))):
        raise EngineMismatch(f"{engine_path.name} was built with {built_with} but this process has "
                             f"{trt_meta['flavour']} {current}: TensorRT engines only load in the release that built "
                             f"them. Rebuild it here (python -m pipelines.build --target {target['name']}) or install "
                             f"{trt_meta['flavour']} {trt_meta['version']}")

    plugin = meta.get("plugin") or {}
    resolved = None
    if plugin.get("sha256"):
        candidate = Path(plugin_library) if plugin_library else None
        if candidate is None and plugin.get("library"):
            recorded = Path(plugin["library"])
            candidate = recorded if recorded.is_absolute() else engine_path.parent / recorded
        if candidate is None or not candidate.is_file():
            raise EngineMismatch(f"{engine_path.name} has {plugin.get('layers', '?')} SwinWindowAttention plugin layers "
                                 f"and needs its plugin library (sha256 {plugin['sha256'][:12]}), "
                                 f"{'not found at ' + str(candidate) if candidate else 'none was given'}: pass "
                                 "plugin_library=<path to the libedge_swin_plugins.so it was built with>")
        digest = sha256_file(candidate)
        if digest != plugin["sha256"]:
            raise EngineMismatch(f"the plugin library {candidate} (sha256 {digest[:12]}) is not the one "
                                 f"{engine_path.name} was built with (sha256 {plugin['sha256'][:12]}): load that "
                                 "library, or rebuild the engine with this one")
        resolved = candidate
    meta.setdefault("plugin", None)
    if meta["plugin"] is not None:
        meta["plugin"]["resolved"] = str(resolved) if resolved else None

    here = gpu()
    if here is None:
        raise NeedsGPU(f"running {engine_path.name} needs a CUDA GPU ({_requirement(target)}) and there is none here: "
                       "run it on the target GPU (on a CPU, ONNX Runtime runs the exported .onnx)")
    if not _runs_on(target, here.sm):
        raise EngineMismatch(f"{engine_path.name} was built for target {target['name']} ({_requirement(target)}) but "
                             f"this GPU is {here.name}, SM {here.sm // 10}.{here.sm % 10}: rebuild it for this GPU "
                             "(python -m pipelines.build --target <this GPU's target>)")
    sms = (meta.get("plugin") or {}).get("sms")
    if sms and here.sm not in sms:
        raise EngineMismatch(f"{engine_path.name}'s plugin library has kernels for SM "
                             f"{', '.join(f'{s // 10}.{s % 10}' for s in sms)}, not for this GPU ({here.name}, SM "
                             f"{here.sm // 10}.{here.sm % 10}): use the engine without the plugin, or rebuild the plugin "
                             "kernels for this SM (python -m edge_swin.plugins.swin_window_attention.aot.build --arch ...)")
    return meta


# dtype names as the sidecar writers record them (the builder: TensorRT's enum name lowercased; the bundle's
# script: numpy's) -> numpy's, so the two compare.
_DTYPE_ALIASES = {"float": "float32", "half": "float16", "bf16": "bfloat16"}


def _dtype(name: str | None) -> str | None:
    return None if name is None else _DTYPE_ALIASES.get(str(name).lower(), str(name).lower())


def _same_dims(recorded, actual) -> bool:
    """Equal shapes, a -1 (dynamic) on either side matching any size."""
    return len(recorded) == len(actual) and all(r == a or -1 in (r, a) for r, a in zip(recorded, actual))


def check_bindings(meta: dict, inputs: list[dict], outputs: list[dict], engine_name: str) -> None:
    """Refuse an engine whose own I/O tensors disagree with its sidecar, in one message listing every difference.

    inputs / outputs: the engine's tensors in its order, each {"name", "shape", "dtype"} (shape with -1 for a
    dynamic dimension). Checked: the recorded tensors (names, order, shapes, dtypes), the image size and channels
    the sidecar's preprocessing produces, and the number of class names against the engine's logits.
    """
    problems = []
    for kind, recorded, actual in (("inputs", meta.get("inputs"), inputs), ("outputs", meta.get("outputs"), outputs)):
        if not recorded:
            continue  # sidecars before these fields: the checks below still apply
        names = [t["name"] for t in recorded]
        if names != [t["name"] for t in actual]:
            problems.append(f"{kind} {names} in the sidecar, {[t['name'] for t in actual]} in the engine")
            continue
        for r, a in zip(recorded, actual):
            if not _same_dims(list(r.get("shape") or []), list(a["shape"])):
                problems.append(f"{a['name']} shape {list(r.get('shape') or [])} in the sidecar, {list(a['shape'])} "
                                "in the engine")
            if r.get("dtype") and _dtype(r["dtype"]) != _dtype(a["dtype"]):
                problems.append(f"{a['name']} dtype {_dtype(r['dtype'])} in the sidecar, {_dtype(a['dtype'])} in "
                                "the engine")
    image = list(inputs[0]["shape"]) if inputs else []
    size = (meta.get("preprocess") or {}).get("img_size")
    if size is not None and len(image) == 4 and (image[1] != 3 or any(d not in (int(size), -1) for d in image[2:])):
        problems.append(f"the sidecar's preprocessing makes [3, {size}, {size}] images; the engine takes "
                        f"{image[1:]}")
    classes = meta.get("classes")
    logits = list(outputs[0]["shape"]) if outputs else []
    if classes and logits and logits[-1] not in (len(classes), -1):
        problems.append(f"the sidecar names {len(classes)} classes; the engine outputs {logits[-1]} logits")
    if problems:
        raise MetadataError(f"{engine_name} does not match its sidecar ({sidecar_path(engine_name).name}): "
                            + "; ".join(problems) + ". The engine and its .json come from different builds: "
                            "rebuild both together, or copy the .json that was written with this engine")


def _runs_on(target: dict, sm: int) -> bool:
    """The sidecar's own record decides (the flags the engine was built with), not today's target table."""
    if target.get("hardware_compatibility") == "ampere_plus":
        return sm >= 80
    if isinstance(target["sm"], int):
        return sm == target["sm"]
    return target.get("min_sm") is None or sm >= target["min_sm"]


def _requirement(target: dict) -> str:
    if target.get("hardware_compatibility") == "ampere_plus":
        return "SM >= 8.0 (hardware-compatible engine)"
    sm = target["sm"]
    if isinstance(sm, int):
        return f"SM {sm // 10}.{sm % 10}, {target.get('gpu', '?')}"
    low = target.get("min_sm")
    return f"SM >= {low // 10}.{low % 10}" if low else "any SM"
