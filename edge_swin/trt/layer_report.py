"""Which layers of an engine run in INT8, FP8, FP16, FP32 and in our plugin: the build log's table.

Two sources, best first:
- the engine inspector (`ICudaEngine.create_engine_inspector`, DETAILED profiling verbosity): the layers
  TensorRT actually built, after fusion, with their tensor formats. It needs the engine deserialised, which
  needs a CUDA GPU (TensorRT-RTX on a CPU refuses: "CUDA driver version is insufficient").
- the network before the build: layer types and tensor types as parsed. Where the network is strongly typed
  (TensorRT 11, TensorRT-RTX, or an FP16 file) those types are what runs, except that a MatMul/Conv whose
  inputs come from DequantizeLinear is fused with it into an INT8 (or FP8) kernel (explicit quantization); in a weakly
  typed network (TensorRT 10 with the FP16 flag) float layers are the builder's choice of FP16 or FP32, and are
  counted as "float". Counts are of network layers, not of the fused kernels the engine ends up with.
The report always names its source.
"""
from __future__ import annotations

import json

SOURCE_INSPECTOR = "engine inspector (layers as built)"
SOURCE_NETWORK = "network before the build (no engine inspector: {why})"

_COMPUTE = {"MATRIX_MULTIPLY", "CONVOLUTION", "DECONVOLUTION"}
_THROUGH = {"SHUFFLE", "IDENTITY"}  # layers a DequantizeLinear commutes through on its way into a fused kernel
_SKIP = {"CONSTANT", "SHAPE", "QUANTIZE", "DEQUANTIZE", "ASSERTION"}
_FLOAT_TYPES = {"FLOAT": "fp32", "HALF": "fp16", "BF16": "bf16", "INT8": "int8", "FP8": "fp8"}


def _name(enum_value) -> str:
    return str(enum_value).split(".")[-1]


def network_report(network, *, weak_typing: bool, why: str) -> dict:
    """The precision of every compute layer of a parsed network (see the module doc for what it can know)."""
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    producer = {}
    for layer in layers:
        for j in range(layer.num_outputs):
            producer[layer.get_output(j).name] = layer

    def from_dequantize(tensor) -> str | None:
        """"int8" / "fp8": the type a DequantizeLinear feeding `tensor` reads (through shuffles), else None."""
        seen = 0
        while tensor is not None and seen < 8:
            layer = producer.get(tensor.name)
            if layer is None:
                return None
            kind = _name(layer.type)
            if kind == "DEQUANTIZE":
                source = layer.get_input(0)
                return "fp8" if source is not None and _name(source.dtype) == "FP8" else "int8"
            if kind not in _THROUGH or layer.num_inputs == 0:
                return None
            tensor, seen = layer.get_input(0), seen + 1
        return None

    rows, qdq = [], {"QUANTIZE": 0, "DEQUANTIZE": 0}
    for layer in layers:
        kind = _name(layer.type)
        if kind in qdq:
            qdq[kind] += 1
        if kind in _SKIP:
            continue
        if kind.startswith("PLUGIN"):
            rows.append({"name": layer.name, "type": kind, "precision": "plugin"})
            continue
        out_type = _name(layer.get_output(0).dtype) if layer.num_outputs else "?"
        if out_type not in _FLOAT_TYPES:
            continue  # shape arithmetic (INT32/INT64/BOOL): no compute precision to speak of
        if kind in _COMPUTE:
            inputs = [layer.get_input(j) for j in range(min(layer.num_inputs, 2))]
            sources = [from_dequantize(t) if t is not None else None for t in inputs]
            if sources and all(sources):
                rows.append({"name": layer.name, "type": kind, "precision": "fp8" if "fp8" in sources else "int8"})
                continue
        precision = _FLOAT_TYPES[out_type]
        if weak_typing and precision == "fp32":
            precision = "float"  # FP16 allowed: the builder picks per layer
        rows.append({"name": layer.name, "type": kind, "precision": precision})
    report = _summary(rows, SOURCE_NETWORK.format(why=why))
    report["qdq_layers"] = {"quantize": qdq["QUANTIZE"], "dequantize": qdq["DEQUANTIZE"]}
    return report


def _format_precision(fmt: str) -> str:
    text = fmt.lower()
    for token, precision in (("int8", "int8"), ("fp8", "fp8"), ("bf16", "bf16"), ("fp16", "fp16"), ("half", "fp16"),
                             ("fp32", "fp32"), ("float", "fp32"), ("int32", "int32"), ("int64", "int64")):
        if token in text:
            return precision
    return "other"


def inspector_report(engine_information: str) -> dict:
    """The precision of every built layer from the inspector's JSON (LayerInformationFormat.JSON, DETAILED).

    A layer's precision is its inputs' (a fused DQ -> MatMul reads INT8 and may write float); plugin and
    reformat layers are their own rows. Without DETAILED verbosity the inspector gives names only: those
    layers are counted as "unknown".
    """
    info = json.loads(engine_information)
    rows = []
    for layer in info.get("Layers", []):
        if isinstance(layer, str):
            rows.append({"name": layer, "type": "?", "precision": "unknown"})
            continue
        kind = str(layer.get("LayerType", "?"))
        if "plugin" in kind.lower():
            precision = "plugin"
        elif "reformat" in kind.lower():
            precision = "reformat"
        else:
            ports = layer.get("Inputs") or layer.get("Outputs") or []
            kinds = [_format_precision(str(p.get("Format/Datatype", ""))) for p in ports if isinstance(p, dict)]
            float_kinds = [k for k in kinds if k not in ("int32", "int64", "other")]
            precision = "int8" if "int8" in kinds else "fp8" if "fp8" in kinds else (float_kinds[0] if float_kinds else (kinds[0] if kinds else "unknown"))
        rows.append({"name": str(layer.get("Name", "?")), "type": kind, "precision": precision})
    return _summary(rows, SOURCE_INSPECTOR)


def _summary(rows: list[dict], source: str) -> dict:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["precision"]] = counts.get(row["precision"], 0) + 1
    return {"source": source, "counts": dict(sorted(counts.items())), "layers": rows}


def format_report(report: dict, title: str) -> str:
    """The build log's text: a one-line count per precision, then every layer."""
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items()) or "none"
    lines = [f"# {title}", f"# layers by precision: {counts}", f"# source: {report['source']}"]
    if "qdq_layers" in report:
        q = report["qdq_layers"]
        lines.append(f"# Q/DQ layers: {q['quantize']} quantize, {q['dequantize']} dequantize")
    lines += [f"{row['precision']:8s} {row['type']:24s} {row['name']}" for row in report["layers"]]
    return "\n".join(lines) + "\n"
