"""The SwinWindowAttention plugin library (edge_swin/plugins/swin_window_attention/csrc) on a CPU.

(a) It compiles and links (no libnvinfer, no libcuda) against each TensorRT header set we target
    ($EDGE_SWIN_TRT_HEADERS_ROOT: 10.3.0 JetPack 6, 10.16 JetPack 7, 11.1 current), and loads with dlopen here.
(b) TensorRT-RTX loads it (built against 11.1) and maps every SwinWindowAttention node of a real FP16 and
    INT8 export to a plugin layer: fields, input/output types and shapes, formats, workspace; the engine builds.
    Without it, the same files build from the function body.
(c) Broken nodes (head dim 64, a window with no kernels, a bias that does not fit the window, an old
    signature version, an FP32 node) fail at build time with the plugin's own message.
(d) Without TensorRT (tests/plugins/plugin_harness.cpp): which cubin each device SM gets, the fields' round trip
    through getFieldsToSerialize (INT32 or INT64 fields in), and enqueue refusing cleanly without a GPU driver.

The kernel table is a stub (tests/plugins/stub_kernels.py: the real table's variants, empty cubins): the
builder never launches a kernel. enqueue, engine deserialisation and the kernels' numbers need a GPU.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import pytest
import torch
from onnx import helper

from edge_swin.export import export_onnx
from edge_swin.plugins.swin_window_attention.contract import HEAD_DIM, OP_TYPE, PLUGIN_NAMESPACE, PLUGIN_VERSION, add_plugin_namespace, attention_nodes
from edge_swin.plugins.swin_window_attention import library
from edge_swin.trt import backend, rtx_alias
from tests.export.helpers import make_block, make_model, randomize_
from tests.helpers import needs_trtrtx
from tests.plugins.stub_kernels import write_stub_table
from tests.plugins.toolchain import header_dir, needs_cmake_and_compiler

# tensorrt-<release>/include under $EDGE_SWIN_TRT_HEADERS_ROOT; 10.13.3: JetPack 7.0 (Jetson Thor)
HEADER_SETS = ("10.3.0", "10.13.3", "10.16", "11.1")
# TensorRT-RTX 1.7 loads libraries built against the 11.1 (or 10.3) headers (test (b) below proves the 11.1 one);
# 11.1 is the API generation closest to RTX 1.7.
RTX_HEADERS = library.RTX_HEADER_SET


def needs_toolchain():
    needs_cmake_and_compiler("the plugin library")


@pytest.fixture(scope="module")
def stub_table(tmp_path_factory) -> Path:
    return write_stub_table(tmp_path_factory.mktemp("kernels") / "embedded_kernels.cpp")


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("plugins")


def built_library(version: str, stub_table: Path, build_dir: Path) -> Path:
    """The library built against `version`'s headers (once per module: later calls find it built)."""
    needs_toolchain()
    out = build_dir / version
    lib = out / library.LIBRARY_NAME
    if not lib.exists():
        library.build_library(header_dir(version), stub_table, out)
    return lib


# ---- (a) compiles against every header set ------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("version", HEADER_SETS)
def test_library_builds_against_headers(version, stub_table, build_dir):
    lib = built_library(version, stub_table, build_dir)
    # Loads on this GPU-less machine without TensorRT: it links neither libnvinfer nor libcuda.
    handle = ctypes.CDLL(str(lib))
    get_creators = handle.getCreators
    get_creators.restype = ctypes.c_void_p
    count = ctypes.c_int32(0)
    assert get_creators(ctypes.byref(count)) and count.value == 1
    if shutil.which("readelf"):
        dynamic = subprocess.run(["readelf", "-dW", str(lib)], capture_output=True, text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]", dynamic)
        assert needed and not [n for n in needed if "nvinfer" in n or "libcuda" in n or "tensorrt" in n], needed
    if shutil.which("nm"):
        symbols = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True,
                                 check=True).stdout
        # every defined dynamic symbol, weak and GNU-unique ones included (plugin.map keeps the rest local)
        exported = {line.split()[-1] for line in symbols.splitlines() if len(line.split()) == 3}
        assert exported == {"getCreators", "setLoggerFinder"}, exported


def test_build_errors_name_the_fix(tmp_path, stub_table):
    with pytest.raises(library.PluginLibraryError, match="NvInferRuntime.h missing"):
        library.build_library(tmp_path, stub_table, tmp_path / "out")
    headers = header_dir(RTX_HEADERS)
    with pytest.raises(library.PluginLibraryError, match=r"python -m edge_swin\.plugins\.swin_window_attention\.aot\.build"):
        library.build_library(headers, tmp_path / "absent.cpp", tmp_path / "out")
    with pytest.raises(library.PluginLibraryError, match="pipelines.plugin_library"):
        library.load_library(tmp_path / library.LIBRARY_NAME, trt=None)  # refused before TensorRT is asked
    assert not (tmp_path / "out" / library.LIBRARY_NAME).exists()


# ---- (b) TensorRT-RTX: every node becomes a plugin layer, the engine builds ------------------------------------

@dataclass
class RtxBuild:
    parsed: bool
    built: bool
    errors: list[str]
    layer_types: dict[str, int] = field(default_factory=dict)
    plugin_layers: list[dict] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)

    def plugin_log(self, node: str, call: str) -> list[str]:
        prefix = f"{PLUGIN_NAMESPACE}::{OP_TYPE} '{node}': {call}"
        return [m for _, m in self.log if m.startswith(prefix)]

    def errors_logged(self) -> str:
        return "\n".join(m for sev, m in self.log if sev in ("ERROR", "INTERNAL_ERROR"))


def _type_name(tensor) -> str:
    return str(tensor.dtype).split(".")[-1]


def rtx_build(path: Path, batch: tuple[int, int, int] | None = None, sm: int | None = None) -> RtxBuild:
    """Parse and build `path` with TensorRT-RTX, keeping the whole log (the plugin logs through it). Not
    build_engine: this reads what the parser and the builder asked the plugin, layer by layer. `sm`: the one
    compute capability to build for (e.g. 89); None: TensorRT-RTX's default."""
    trt = backend.load("tensorrt_rtx").trt

    class Capture(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: list[tuple[str, str]] = []

        def log(self, severity, msg):
            self.messages.append((str(severity).split(".")[-1], msg))

    logger = Capture()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    parsed = bool(parser.parse_from_file(str(path)))
    out = RtxBuild(parsed, False, [str(parser.get_error(i)) for i in range(parser.num_errors)], log=logger.messages)
    if not parsed:
        return out
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        kind = str(layer.type).split(".")[-1]
        out.layer_types[kind] = out.layer_types.get(kind, 0) + 1
        if layer.type == trt.LayerType.PLUGIN_V3:
            layer.__class__ = trt.IPluginV3Layer
            plugin = layer.plugin
            core = plugin.get_capability_interface(trt.PluginCapabilityType.CORE)
            build = plugin.get_capability_interface(trt.PluginCapabilityType.BUILD)
            out.plugin_layers.append({
                "name": layer.name,
                "plugin": (core.plugin_namespace, core.plugin_name, core.plugin_version),
                "metadata": build.metadata_string,  # the plugin's getMetadataString: its fields
                "inputs": [_type_name(layer.get_input(j)) for j in range(layer.num_inputs)],
                "x_shape": tuple(layer.get_input(0).shape),
                "y_shape": tuple(layer.get_output(0).shape),
                "y_type": _type_name(layer.get_output(0)),
            })
    config = builder.create_builder_config()
    if sm is not None:
        config.num_compute_capabilities = 1
        config.set_compute_capability(getattr(trt.ComputeCapability, f"SM{sm}"), 0)
    if batch is not None:
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            t = network.get_input(i)
            rest = tuple(t.shape)[1:]
            profile.set_shape(t.name, (batch[0], *rest), (batch[1], *rest), (batch[2], *rest))
        config.add_optimization_profile(profile)
    out.built = builder.build_serialized_network(network, config) is not None
    return out


def swin_nodes(path: Path) -> list[onnx.NodeProto]:
    return attention_nodes(path)


def with_plugin_namespace(src: Path, dst: Path, **attribute_edits) -> Path:
    """A copy of `src` whose SwinWindowAttention nodes carry plugin_namespace="edge_swin", without which the parser
    uses the function body (edge_swin/plugins/swin_window_attention/library.py says why). `attribute_edits` (name=value) overwrite
    attributes of the first node, to break it on purpose."""
    model = onnx.load(str(src))
    assert add_plugin_namespace(model) > 0
    first = attention_nodes(model)[0]
    for name, value in attribute_edits.items():
        keep = [a for a in first.attribute if a.name != name]
        del first.attribute[:]
        first.attribute.extend(keep + [helper.make_attribute(name, value)])
    onnx.save(model, str(dst))
    return dst


def node_metadata(node: onnx.NodeProto) -> str:
    """What the plugin's getMetadataString says for `node`'s attributes (C++ float printing: 6 digits)."""
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    return (f"num_heads={a['num_heads']} window_size=[{a['window_size'][0]}, {a['window_size'][1]}] "
            f"shift_size=[{a['shift_size'][0]}, {a['shift_size'][1]}] scale={a['scale']:.6g} version={a['version']}")


@pytest.fixture(scope="module")
def rtx_library(stub_table, build_dir) -> Path:
    """The library built against the 11.1 headers, where TensorRT-RTX can load it."""
    if not backend.available("tensorrt_rtx"):
        pytest.skip("tensorrt_rtx is not importable (pip install tensorrt-rtx-cu13)")
    if not rtx_alias.usable():
        pytest.skip(f"the RTX parser would abort on a plugin node: {rtx_alias.status()}")
    return built_library(RTX_HEADERS, stub_table, build_dir)


@pytest.fixture
def plugin_loaded(rtx_library):
    trt = backend.load("tensorrt_rtx").trt
    handle = library.load_library(rtx_library, trt)
    yield handle
    library.unload_library(handle, trt)


@pytest.fixture
def no_plugin(rtx_library):
    trt = backend.load("tensorrt_rtx").trt
    library.unload_all(trt)  # an earlier test (the pipeline's engine stage) may have left one loaded
    assert not library.plugin_registered(trt)


@pytest.fixture(scope="module")
def fp16_onnx(tmp_path_factory) -> Path:
    """swin_nano (4 blocks: W-MSA, SW-MSA, and two W-MSA on the 4x4 map), FP16 export, batch 2."""
    d = tmp_path_factory.mktemp("fp16")
    res = export_onnx(make_model("swin_nano"), d / "nano16.onnx", batch=2, precision="fp16")
    return with_plugin_namespace(res.path, d / "nano16_plugin.onnx")


@pytest.fixture(scope="module")
def int8_onnx(tmp_path_factory) -> dict[str, Path]:
    """INT8 (Q/DQ) exports, dynamic batch: swin_nano (4 nodes; also as an FP16 graph) and a one-block Swin (1 node, for the body path:
    TensorRT-RTX 1.7.1 fails a Q/DQ function body called twice, tests/export/test_int8_export.py)."""
    from torch.utils.data import DataLoader, TensorDataset

    from edge_swin import quant
    from edge_swin.models import create_swin

    d = tmp_path_factory.mktemp("int8")
    calib = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    loader = DataLoader(TensorDataset(calib, torch.zeros(4, dtype=torch.long)), batch_size=4)
    out = {}
    for key, overrides in (("nano", {}), ("one_block", {"depths": (1,), "num_heads": (2,)})):
        model = randomize_(create_swin("swin_nano", num_classes=10, **overrides))
        quant.calibrate(model, loader, "max", progress=False)
        res = export_onnx(model.eval(), d / f"{key}8.onnx", precision="int8", dynamic_batch=True)
        out[key] = with_plugin_namespace(res.path, d / f"{key}8_plugin.onnx")
        if key == "nano":  # the same calibrated model as an FP16 graph (the export stage's model_int8_fp16.onnx)
            res = export_onnx(model.eval(), d / "nano8_fp16.onnx", precision="int8", dynamic_batch=True,
                              high_precision_dtype="fp16")
            out["nano_fp16_graph"] = with_plugin_namespace(res.path, d / "nano8_fp16_plugin.onnx")
    return out


def check_plugin_layers(res: RtxBuild, path: Path, io_type: str, n_inputs: int, max_batch: int):
    """io_type: the node's tensors 0-6 and y; an INT8 node's scales (7-14) are FLOAT whatever its io."""
    nodes = swin_nodes(path)
    types = [io_type] * 7 + ["FLOAT"] * (n_inputs - 7)
    assert res.parsed and res.built, (res.errors, res.errors_logged())
    assert len(res.plugin_layers) == len(nodes) and "SOFTMAX" not in res.layer_types, res.layer_types
    by_name = {p["name"]: p for p in res.plugin_layers}
    # workspace elements: int8 for an INT8 node (int8 q/k/v and attention output), the io type for an FP16 node
    itemsize = 1 if n_inputs == 15 else 2 if io_type == "HALF" else 4
    for node in nodes:
        layer = by_name[node.name]
        assert layer["plugin"] == (PLUGIN_NAMESPACE, OP_TYPE, PLUGIN_VERSION)
        assert layer["metadata"] == node_metadata(node)              # the fields, read back from the plugin
        assert layer["inputs"] == types and layer["y_type"] == io_type
        assert layer["y_shape"] == layer["x_shape"]
        # What the builder asked, from the plugin's own log: the parser's field types ...
        created = res.plugin_log(node.name, "createPlugin (build) fields ")
        assert created and ("num_heads:INT32[1], window_size:INT32[2], shift_size:INT32[2], scale:FLOAT32[1], "
                            "version:INT32[1]") in created[0]
        # ... the formats it probed (our answer: LINEAR only, the file's type only) ...
        probes = res.plugin_log(node.name, "supportsFormatCombination: ")
        accepted = [p for p in probes if p.endswith("-> yes")]
        assert len(accepted) >= n_inputs + 1 and all(any(f" {t} LINEAR -> yes" in p for t in set(types))
                                                      for p in accepted)
        assert any("LINEAR" not in p and p.endswith("-> no") for p in probes)  # it does probe other formats
        # ... configuration, workspace (qkv + out at the max batch, 256-byte aligned; 3C + C bytes a token for INT8)
        # and tactics ...
        assert res.plugin_log(node.name, f"configurePlugin: {n_inputs} inputs, {io_type}")
        _, h, w, c = layer["x_shape"]
        tokens = max_batch * h * w
        align = lambda b: (b + 255) // 256 * 256
        workspace = align(tokens * 3 * c * itemsize) + align(tokens * c * itemsize)
        assert res.plugin_log(node.name, f"getWorkspaceSize: {workspace} bytes")
        assert res.plugin_log(node.name, "getValidTactics: [1]")
        # ... and serialisation into the engine.
        assert res.plugin_log(node.name, f"getFieldsToSerialize: {node_metadata(node)}")
    return by_name


@pytest.mark.trtrtx
@needs_trtrtx
def test_fp16_export_builds_with_plugin(plugin_loaded, fp16_onnx):
    res = rtx_build(fp16_onnx)
    layers = check_plugin_layers(res, fp16_onnx, "HALF", 7, max_batch=2)
    shifts = {re.search(r"shift_size=(\[[^]]*\])", layer["metadata"]).group(1) for layer in layers.values()}
    assert shifts == {"[0, 0]", "[2, 2]"}  # W-MSA and SW-MSA nodes both became plugin layers
    print(f"FP16 swin_nano: {len(layers)} PLUGIN_V3 layers, layer types {res.layer_types}")


@pytest.mark.trtrtx
@needs_trtrtx
def test_int8_export_builds_with_plugin(plugin_loaded, int8_onnx):
    res = rtx_build(int8_onnx["nano"], batch=(1, 2, 8))
    layers = check_plugin_layers(res, int8_onnx["nano"], "FLOAT", 15, max_batch=8)
    assert all(layers[n]["x_shape"][0] == -1 for n in layers)  # the dynamic batch reaches the plugin
    print(f"INT8 swin_nano: {len(layers)} PLUGIN_V3 layers, layer types {res.layer_types}")


@pytest.mark.trtrtx
@needs_trtrtx
def test_int8_fp16_graph_builds_with_plugin(plugin_loaded, int8_onnx):
    """The INT8 export with an FP16 graph (model_int8_fp16.onnx; the engine stage builds the INT8 plugin engine
    from it): the INT8 node takes fp16 x, weights, biases and y, and float32 scales (the exporter keeps them
    float32 for the node and casts inside the body), so every node is a plugin layer and nothing falls back to
    model_int8.onnx."""
    path = int8_onnx["nano_fp16_graph"]
    model = onnx.load(str(path))
    scale_types = {i.name: i.data_type for i in model.graph.initializer}
    for node in swin_nodes(path):
        assert {scale_types.get(name) for name in node.input[7:]} <= {onnx.TensorProto.FLOAT, None}, node.name
    res = rtx_build(path, batch=(1, 2, 8))
    layers = check_plugin_layers(res, path, "HALF", 15, max_batch=8)
    for name in layers:  # x HALF accepted, a HALF scale never
        assert res.plugin_log(name, "supportsFormatCombination: pos 0 HALF LINEAR -> yes")
        assert not res.plugin_log(name, "supportsFormatCombination: pos 7 HALF LINEAR -> yes")
    print(f"INT8 swin_nano, FP16 graph: {len(layers)} PLUGIN_V3 layers, layer types {res.layer_types}")


@pytest.mark.trtrtx
@needs_trtrtx
def test_without_plugin_the_body_builds(no_plugin, fp16_onnx, int8_onnx):
    for path, batch in ((fp16_onnx, None), (int8_onnx["one_block"], (1, 2, 8))):
        res = rtx_build(path, batch)
        assert res.parsed and res.built, (path.name, res.errors, res.errors_logged())
        assert not res.plugin_layers and res.layer_types["SOFTMAX"] == len(swin_nodes(path)), res.layer_types


# ---- (c) broken nodes fail at build time with the plugin's message -----------------------------------------------

BROKEN = {
    # node attribute edits -> the plugin's message
    "head_dim_64": ({"num_heads": 1}, r"C = 64 channels for num_heads = 1 \(head dim 64\).*head dim 32"),
    "window_8x8": ({"window_size": [8, 8]}, r"window 8x8 has no compiled kernels \(fp16: 4x4, 7x7, 12x12"),
    "bias_not_7x7": ({"window_size": [7, 7]}, r"input 5 \(rel_bias\) is \[2, 16, 16\], expected \[2, 49, 49\]"),
    "version_1": ({"version": 1}, r"node signature version 1, this plugin implements version 2"),
}


@pytest.mark.trtrtx
@needs_trtrtx
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_node_fails_with_plugin_message(plugin_loaded, fp16_onnx, tmp_path, case):
    edits, message = BROKEN[case]
    res = rtx_build(with_plugin_namespace(fp16_onnx, tmp_path / f"{case}.onnx", **edits))
    assert not (res.parsed and res.built)
    assert re.search(message, res.errors_logged()), res.errors_logged()


@pytest.mark.trtrtx
@needs_trtrtx
def test_fp32_node_is_refused(plugin_loaded, tmp_path):
    block = make_block(dim=2 * HEAD_DIM, heads=2, feat=(8, 8), window=4, shift=True)
    res = export_onnx(block, tmp_path / "blk32.onnx")
    out = rtx_build(with_plugin_namespace(res.path, tmp_path / "blk32_plugin.onnx"))
    assert not (out.parsed and out.built)
    assert "FP32 node (7 inputs, FLOAT): the plugin has FP16 and INT8 kernels only" in out.errors_logged()


# ---- what TensorRT does without TensorRT: variant choice per SM, field round trip, a refused enqueue ----------

def cuda_include_dir() -> Path:
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "include" / "cuda.h").is_file():
            return Path(root) / "include"
    pytest.skip("no CUDA headers (cuda.h) under $CUDA_HOME or /usr/local/cuda")


@pytest.fixture(scope="module")
def harness(tmp_path_factory, rtx_library) -> Path:
    """tests/plugins/plugin_harness.cpp, built with kernel_table.cpp and a stub table that has no sm_86 cubins."""
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        pytest.skip("no C++ compiler")
    d = tmp_path_factory.mktemp("harness")
    table = write_stub_table(d / "table.cpp", sms=(75, 80, 87, 89, 90))
    csrc = library.CSRC
    exe = d / "plugin_harness"
    subprocess.run([compiler, "-std=c++17", "-O1", f"-I{csrc}", "-isystem", str(header_dir(RTX_HEADERS)),
                    "-isystem", str(cuda_include_dir()), str(Path(__file__).with_name("plugin_harness.cpp")),
                    str(csrc / "kernel_table.cpp"), str(table), "-ldl", "-o", str(exe)], check=True)
    return exe


def test_variant_choice_per_sm(harness):
    """A cubin for sm_XY runs on X.Z, Z >= Y; sm_90 is sm_90a (9.0 only); no cubin for a newer major."""
    out = subprocess.run([str(harness), "select"], capture_output=True, text=True, check=True).stdout
    chosen = dict(re.findall(r"sm (\d+) -> (\w+)", out))
    assert chosen == {"75": "75", "80": "80", "86": "80", "87": "87", "89": "89", "90": "90", "100": "none",
                      "120": "none"}


def test_fields_round_trip_and_enqueue_refuses_without_a_gpu(harness, rtx_library):
    out = subprocess.run([str(harness), "roundtrip", str(rtx_library)], capture_output=True, text=True,
                         check=True).stdout
    facts = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines() if not line.startswith("log")}
    node = "num_heads=3 window_size=[7, 7] shift_size=[3, 3] scale=0.176777 version=2"
    assert facts["creators"] == "1 kind PLUGIN CREATOR_V3ONE"
    assert facts["creator"] == "edge_swin SwinWindowAttention 1"
    assert facts["build"] == facts["build64"] == facts["runtime"] == node  # INT32 or INT64 fields; serialised
    # onShapeChange accepts each node kind (0), then enqueue reaches the driver and refuses (1) ...
    assert facts["enqueue_fp16"] == facts["enqueue_int8_fp32io"] == facts["enqueue_int8_fp16io"] == "0 1", out
    refused = [line for line in out.splitlines() if line.startswith("log 1 ")]  # severity 1 = kERROR
    assert len(refused) == 3 and all(re.search(r"libcuda\.so\.1|no current CUDA context", r) for r in refused), out
    # ... and the formats offered are what the kernels have: FP16 node HALF; INT8 node HALF or FLOAT io (tensors
    # 1-6 and y x's type), FLOAT scales
    formats = {k.removeprefix("format_"): v for k, v in facts.items() if k.startswith("format_")}
    assert formats == {"fp16_node_x_half": "1", "fp16_node_x_float": "0", "int8_node_x_half": "1",
                       "int8_node_x_float": "1", "int8_node_x_int8": "0", "int8_half_weight_half": "1",
                       "int8_half_weight_float": "0", "int8_half_scale_float": "1", "int8_half_scale_half": "0",
                       "int8_half_y_half": "1", "int8_half_y_float": "0", "int8_float_y_float": "1"}, out


# ---- one command: python -m pipelines.plugin_library -----------------------------------------------------------

def test_one_command_builds_the_library(stub_table, build_dir, monkeypatch, capsys):
    """Kernels (here the stub table, via EDGE_SWIN_PLUGIN_KERNELS) + CMake, the path printed last. Reuses the
    11.1 CMake tree of built_library, so the build itself is incremental."""
    from pipelines import plugin_library as cli

    lib = built_library(RTX_HEADERS, stub_table, build_dir)
    monkeypatch.setenv("EDGE_SWIN_PLUGIN_KERNELS", str(stub_table))
    assert cli.main(["--arch", "87", "--headers", str(header_dir(RTX_HEADERS)), "--out", str(lib.parent)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str(lib) and lib.is_file() and "sm_87" in out[0]


def test_one_command_refuses_bad_input(tmp_path, capsys):
    from pipelines import plugin_library as cli

    for argv, message in ((["--arch", "88"], "the kernels are built for 75, 80, 86, 87, 89, 90"),
                          (["--arch", "sm87"], "give compute capabilities as numbers"),
                          (["--target", "rtx5090"], "unknown target 'rtx5090'"),
                          (["--arch", "87", "--onnx", str(tmp_path / "absent.onnx")], "ONNX file(s) not found"),
                          (["--arch", "87", "--headers", str(tmp_path)], "no TensorRT headers")):
        assert cli.main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not list(tmp_path.iterdir())
