#!/usr/bin/env python3
"""Write the JSON sidecar of an engine that build_engine.sh built with trtexec (no edge_swin package here).

The sidecar has the same fields as edge_swin.trt.metadata.make_metadata, so edge_swin's loader and the C++
example check it the same way. Standard library only, plus the `tensorrt` Python module where JetPack has it
(python3-libnvinfer): with it the engine is deserialized (the plugin library loaded first) and its I/O
tensors and built layers (engine inspector) are read; without it, the names and shapes come from the
bundle's manifest (read from the ONNX file when the bundle was written) and the layers are not inspected.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

FORMAT = "edge-swin-engine/1"  # edge_swin.trt.metadata.FORMAT
# Fields the device measures; engine_metadata_fields from the host may add others but not replace these.
MEASURED = ("format", "engine", "tensorrt", "target", "precision", "network_typing", "precisions", "layers",
            "inputs", "outputs", "onnx", "plugin", "built")
PRECISION_KEYS = ("int8", "fp16", "bf16", "fp32", "float", "fp8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _layers_module():
    """edge_swin.trt.layer_report where edge_swin is installed, else the copy this bundle carries."""
    try:
        from edge_swin.trt import layer_report as layers
        return layers
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import edge_swin_layers as layers
        return layers


def _dtype_name(dtype) -> str:
    name = str(dtype).split(".")[-1].lower()
    return {"float": "float32", "half": "float16", "int8": "int8", "int32": "int32", "int64": "int64",
            "bool": "bool", "bf16": "bfloat16"}.get(name, name)


def inspect_engine(engine_path: Path, plugin: Path | None) -> dict:
    """TensorRT's own view of the engine: version, I/O tensors, layers as built. Raises where it cannot."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    if plugin is not None:
        trt.get_plugin_registry().load_library(str(plugin))
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine returned None (see the TensorRT log above)")
    inputs, outputs = [], []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        entry = {"name": name, "shape": [int(d) for d in engine.get_tensor_shape(name)],
                 "dtype": _dtype_name(engine.get_tensor_dtype(name))}
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            if -1 in entry["shape"]:
                lo, opt, hi = engine.get_tensor_profile_shape(name, 0)
                entry["profile"] = {"min": list(lo), "opt": list(opt), "max": list(hi)}
            inputs.append(entry)
        else:
            outputs.append(entry)
    inspector = engine.create_engine_inspector()
    info = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    report = _layers_module().inspector_report(info)
    return {"version": str(trt.__version__), "inputs": inputs, "outputs": outputs, "layers": report}


def from_manifest(manifest: dict, precision: str) -> tuple[list, list]:
    onnx = manifest["onnx"][precision]
    batch = manifest["target"]["batch"]
    inputs = []
    for t in onnx["inputs"]:
        entry = dict(t)
        if t["shape"] and not isinstance(t["shape"][0], int):
            tail = t["shape"][1:]
            entry["profile"] = {"min": [batch[0], *tail], "opt": [batch[1], *tail], "max": [batch[2], *tail]}
        inputs.append(entry)
    return inputs, [dict(t) for t in onnx["outputs"]]


def accuracy_of(manifest: dict, precision: str):
    """The accuracy of the model that went into this engine: the manifest's entry for the precision when it is
    keyed by precision (as the pipeline's engine stage writes it), else the whole record."""
    accuracy = manifest.get("accuracy")
    if isinstance(accuracy, dict) and accuracy and set(accuracy) <= {"int8", "fp16", "fp32"}:
        return accuracy.get(precision)
    return accuracy


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, required=True, help="the bundle's manifest.json")
    ap.add_argument("--precision", required=True)
    ap.add_argument("--onnx", type=Path, required=True, help="the ONNX file the engine was built from")
    ap.add_argument("--typing", choices=("strong", "weak"), required=True)
    ap.add_argument("--plugin", type=Path, default=None, help="the plugin library the engine was built with")
    ap.add_argument("--dla", action="store_true")
    ap.add_argument("--build-seconds", type=float, default=None)
    ap.add_argument("--header-tensorrt", default="unknown", help="TensorRT version of the headers the plugin used")
    args = ap.parse_args(argv)

    manifest = json.loads(args.manifest.read_text())
    target = manifest["target"]
    notes = []
    try:
        seen = inspect_engine(args.engine, args.plugin)
    except Exception as e:  # noqa: BLE001  (no tensorrt module, no GPU, a bad engine: the sidecar says which)
        why = f"{type(e).__name__}: {e}"
        print(f"write_engine_metadata: engine not inspected ({why}); names and shapes from the manifest",
              file=sys.stderr)
        inputs, outputs = from_manifest(manifest, args.precision)
        seen = {"version": args.header_tensorrt, "inputs": inputs, "outputs": outputs,
                "layers": {"source": f"not inspected ({why})", "counts": {}}}
        notes.append(f"TensorRT version from the headers the plugin was built with; engine not inspected: {why}")

    counts = seen["layers"]["counts"]
    plugin = None
    if args.plugin is not None:
        plugin = {"library": args.plugin.name, "sha256": sha256_file(args.plugin),
                  "layers": counts.get("plugin", "?")}
    metadata = {
        "format": FORMAT,
        "engine": {"file": args.engine.name, "sha256": sha256_file(args.engine), "bytes": args.engine.stat().st_size},
        "tensorrt": {"flavour": "tensorrt", "version": seen["version"]},
        "target": {"name": target["name"], "sm": target["sm"], "min_sm": target.get("min_sm"), "gpu": target["gpu"],
                   "tensorrt": target["tensorrt"], "hardware_compatibility": target["hardware_compatibility"],
                   "version_compatible": target["version_compatible"], "dla": bool(args.dla)},
        "precision": args.precision,
        "network_typing": args.typing,
        "precisions": sorted(k for k in counts if k in PRECISION_KEYS),
        "layers": {"source": seen["layers"]["source"], "counts": counts},
        "inputs": seen["inputs"],
        "outputs": seen["outputs"],
        "onnx": {"file": str(args.onnx), "sha256": sha256_file(args.onnx)},
        "plugin": plugin,
        "accuracy": accuracy_of(manifest, args.precision),
        "preprocess": None,
        "classes": None,
        "built": {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
                  "machine": platform.machine(), "seconds": args.build_seconds},
        "notes": notes + [f"built by the bundle's build_engine.sh with trtexec ({args.typing}ly typed)"],
    }
    for key, value in (manifest.get("engine_metadata_fields") or {}).items():
        if key in MEASURED:
            continue
        metadata[key] = value + metadata["notes"] if key == "notes" and isinstance(value, list) else value

    out = args.engine.with_name(args.engine.name + ".json")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(metadata, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    print(f"[build_engine] sidecar written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
