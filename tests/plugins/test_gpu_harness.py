"""The node harness (csrc/node_c_api.cpp, edge_swin/plugins/swin_window_attention/testing/harness.py): the plugin's own KernelLauncher::run driven
from Python, so the embedded cubins can be compared with the PyTorch module on a GPU.

On a CPU (CI): the harness builds against the 11.1 headers with a stub kernel table, exports only its C API and
links neither libcuda nor libnvinfer; the workspace size is kernel_launcher.h's formula; the cubin each device SM
would get and the "rebuild for this SM" message; every refusal (bad node, misaligned pointer, no CUDA driver)
comes back as a status and a message in the error buffer (the launcher's logger routed there), never a crash;
the Python side checks node inputs like the plugin's checkInputs and names the fix when there is no GPU or no
harness.

On a GPU (`gpu`): the real kernel table for this GPU's SM (python -m edge_swin.plugins.swin_window_attention.aot.build --arch <sm>, in a
subprocess: this process runs Triton's interpreter), the harness built on it, and one node per case through it
against the module: FP16 within 2e-3 relative of the float64 module; INT8 with test_emulated_node's rule (its
own functions). Inputs of another block, a rolled mask or a dropped shift must fail the same comparison; a
table without this SM must be refused by the launcher with its message.
"""
from __future__ import annotations

import copy
import ctypes
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edge_swin.plugins.swin_window_attention.aot import build as aot_build
from edge_swin.plugins.swin_window_attention.testing import harness as hn
from edge_swin.plugins.swin_window_attention import library, trt_headers
from tests.export.helpers import make_block
from tests.plugins.stub_kernels import FP8_SMS, write_stub_table
from tests.plugins.toolchain import compile_fake_driver, header_dir, needs_cmake_and_compiler
from tests.plugins.node_checks import (
    BLOCKS,
    SWIN_T_STAGE1,
    assert_int8_close,
    exact_for,
    int8_compare,
    rel_err,
    rounded_to,
    seeded,
)

REPO = Path(__file__).resolve().parents[2]
STUB_SMS = (80, 90)  # no sm_75, 86, 87 or 89 cubins: the fallback and refusal paths
FAKE = 0x100000      # an aligned device address that must never be dereferenced here
C_API = {"edge_swin_node_abi_version", "edge_swin_node_workspace_bytes", "edge_swin_node_kernel_sm",
         "edge_swin_node_run"}


def rtx_headers() -> Path:
    return header_dir(library.RTX_HEADER_SET)


def needs_toolchain():
    needs_cmake_and_compiler("the harness")
    if hn.default_cuda_include_dir() is None:
        pytest.skip("no cuda.h + cuda_runtime_api.h (CUDA toolkit or Triton's copy) to build the harness against")


@pytest.fixture(scope="module")
def stub_harness(tmp_path_factory) -> hn.NodeHarness:
    needs_toolchain()
    d = tmp_path_factory.mktemp("harness_stub")
    table = write_stub_table(d / "embedded_kernels.cpp", sms=STUB_SMS)
    return hn.load_harness(hn.build_harness(table, d / "lib", header_dir=rtx_headers(), jobs=2))


def align(nbytes: int) -> int:
    return (nbytes + 255) // 256 * 256


# ---- CPU: the library, its C API and its refusals --------------------------------------------------------------

def test_harness_exports_only_its_c_api(stub_harness):
    lib = str(stub_harness.path)
    if shutil.which("nm"):
        symbols = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True)
        # every defined dynamic symbol (T, D, B, R, weak W/V, GNU-unique u): libstdc++ instantiations and their
        # static data stay local too (node_harness.map), so no other C++ library in the process binds to ours
        exported = {line.split()[-1] for line in symbols.stdout.splitlines() if len(line.split()) == 3}
        assert exported == C_API, exported
    if shutil.which("readelf"):
        dynamic = subprocess.run(["readelf", "-dW", lib], capture_output=True, text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]", dynamic)
        assert needed and not [n for n in needed if "nvinfer" in n or "libcuda" in n or "tensorrt" in n], needed
    assert stub_harness.abi_version() == hn.ABI_VERSION


@pytest.mark.parametrize("kind", [hn.FP16_NODE, hn.INT8_NODE_FP32_IO, hn.INT8_NODE_FP16_IO])
@pytest.mark.parametrize("shape", [(1, 8, 8, 64), (2, 9, 11, 64), (8, 56, 56, 96), (3, 7, 7, 768)])
def test_workspace_bytes_match_the_formula(stub_harness, shape, kind):
    """kernel_launcher.h: qkv [tokens, 3C] then out [tokens, C], each 256-byte aligned: fp16 for an FP16 node, int8
    for an INT8 node whatever its io (3C + C bytes a token: the node is memory-bound)."""
    b, h, w, c = shape
    tokens, elem = b * h * w, 2 if kind == hn.FP16_NODE else 1
    assert stub_harness.workspace_bytes(*shape, kind) == align(tokens * 3 * c * elem) + align(tokens * c * elem)


def test_workspace_bytes_refuses_nonsense(stub_harness):
    assert stub_harness.workspace_bytes(0, 8, 8, 64, False) == 0
    assert stub_harness._workspace(1, 8, 8, 64, 4) == 0  # int8Mode must be 0-3 (3: the FP8 node)
    # the FP8 node's workspaces are one byte an element, as the INT8 node's: 3C + C bytes a token
    assert stub_harness._workspace(1, 8, 8, 64, hn.FP8_NODE) == stub_harness._workspace(1, 8, 8, 64, 2) > 0


def test_kernel_choice_per_sm(stub_harness):
    """A cubin for sm_XY serves X.Z with Z >= Y; sm_90 is sm_90a (9.0 only); otherwise 0 and how to fix it."""
    for kind in (hn.FP16_NODE, hn.INT8_NODE_FP32_IO, hn.INT8_NODE_FP16_IO):
        chosen = {sm: stub_harness.kernel_sm(kind, (7, 7), True, sm)[0] for sm in (75, 80, 86, 89, 90, 100)}
        assert chosen == {75: 0, 80: 80, 86: 80, 89: 80, 90: 90, 100: 0}
    # FP8: the stub table holds it for sm_90 only (FP8 tensor cores: 89, 90, 110); sm_80/86 have none
    fp8 = {sm: stub_harness.kernel_sm(hn.FP8_NODE, (7, 7), True, sm)[0] for sm in (80, 86, 89, 90)}
    assert fp8 == {80: 0, 86: 0, 89: 0, 90: 90}
    sm, why = stub_harness.kernel_sm(False, (7, 7), True, 75)
    assert sm == 0 and "no compiled swin_linear_fp16" in why and "sm_80, sm_90a" in why
    assert "python -m edge_swin.plugins.swin_window_attention.aot.build --arch 75" in why
    sm, why = stub_harness.kernel_sm(True, (8, 8), False, 80)  # linear exists, this window does not
    assert sm == 0 and "swin_window_attention_int8 (io fp32, window 8x8, unshifted)" in why and "none" in why
    sm, why = stub_harness.kernel_sm(hn.INT8_NODE_FP16_IO, (7, 7), True, 75)  # the INT8 node's qkv launch first
    assert sm == 0 and "no compiled swin_qkv_int8 (io fp16)" in why


def run_raw(harness, **overrides):
    """edge_swin_node_run with fake aligned pointers (an FP16 7x7 SW-MSA node unless overridden)."""
    args = {"num_heads": 3, "window": (7, 7), "shift": (3, 3), "scale": 32 ** -0.5, "int8": False,
            "shape": (1, 14, 14, 96), "pointers": [FAKE] * 7, "output": FAKE, "workspace": FAKE, "stream": 0}
    args.update(overrides)
    return harness.run(**args)


def test_run_without_a_driver_fails_with_a_message(stub_harness):
    """This machine has no libcuda.so.1: non-zero, the launcher's reason in the buffer, no pointer touched."""
    if torch.cuda.is_available():
        pytest.skip("a CUDA driver is present: the refusal without one cannot be shown here")
    for int8 in (False, True):
        status, error = run_raw(stub_harness, int8=int8, pointers=[FAKE] * (15 if int8 else 7))
        assert status != 0
        assert re.search(r"libcuda\.so\.1|no current CUDA context", error), error
        assert error.startswith("edge_swin_node_run (num_heads=3 window_size=[7, 7] shift_size=[3, 3]"), error


BAD_NODES = {
    # overrides -> the message (C++ checks before any driver call)
    "6 inputs for FP16": ({"pointers": [FAKE] * 6}, r"6 inputs for an FP16 node; expected 7"),
    "7 inputs for INT8": ({"int8": True}, r"7 inputs for an INT8 node; expected 15"),
    "C is not heads * 32": ({"num_heads": 1}, r"C = 96 channels for num_heads = 1"),
    "window 8x8": ({"window": (8, 8), "shift": (4, 4)}, r"window 8x8 \(shifted\) has no compiled kernels"),
    "shift outside the window": ({"shift": (7, 0)}, r"shift_size \[7, 0\] must lie in \[0, window\)"),
    "empty map": ({"shape": (1, 0, 14, 96)}, r"x is \[1, 0, 14, 96\]; every dimension must be at least 1"),
    # ... and in KernelLauncher::run itself, through its logger into the buffer
    "misaligned input": ({"pointers": [FAKE] * 3 + [FAKE + 8] + [FAKE] * 3}, r"input 3 is null or not 16-byte aligned"),
    "null workspace": ({"workspace": 0}, r"workspace is null or not 16-byte aligned"),
    "too many tokens": ({"shape": (700000, 56, 56, 96)}, r"exceeds the kernels' 32-bit M argument"),
}


@pytest.mark.parametrize("case", sorted(BAD_NODES))
def test_bad_nodes_are_refused_with_a_message(stub_harness, case):
    overrides, message = BAD_NODES[case]
    status, error = run_raw(stub_harness, **overrides)
    assert status != 0 and re.search(message, error), error


def test_bad_int8_mode_and_tiny_error_buffer(stub_harness):
    status, error = run_raw(stub_harness, int8=4)
    assert status != 0 and "int8Mode is 4" in error
    # A short buffer gets a truncated, NUL-terminated message; a null one is allowed.
    small = ctypes.create_string_buffer(b"\xff" * 16)
    ptrs = (ctypes.c_void_p * 6)(*([FAKE] * 6))
    status = stub_harness._run(3, 7, 7, 3, 3, 0.17, 0, 1, 14, 14, 96, ptrs, 6, FAKE, FAKE, None, small, 16)
    assert status != 0 and small.raw[15:16] == b"\0" and small.value == b"edge_swin_node_"
    assert stub_harness._run(3, 7, 7, 3, 3, 0.17, 0, 1, 14, 14, 96, ptrs, 6, FAKE, FAKE, None, None, 0) != 0


def test_python_errors_name_the_fix(tmp_path):
    with pytest.raises(hn.HarnessError, match=r"not built: build it with `python -m edge_swin\.plugins\.swin_window_attention\.aot\.build"):
        hn.load_harness(tmp_path / hn.HARNESS_NAME)
    with pytest.raises(hn.HarnessError, match="no TensorRT headers"):
        hn.build_harness(tmp_path / "absent.cpp", tmp_path / "out", header_dir=tmp_path)
    (tmp_path / "not_a_library.so").write_text("nope")
    with pytest.raises(hn.HarnessError, match="not a loadable harness library"):
        hn.load_harness(tmp_path / "not_a_library.so")
    if not torch.cuda.is_available():
        with pytest.raises(hn.HarnessError, match=r"needs a CUDA GPU.*edge_swin\.plugins\.swin_window_attention\.emulate"):
            hn.run_node_on_gpu(make_block(dim=64, heads=2), torch.randn(1, 8, 8, 64))
    with pytest.raises(hn.HarnessError, match=r"python -m edge_swin\.plugins\.swin_window_attention\.aot\.build"):
        hn.build_harness(tmp_path / "absent.cpp", tmp_path / "out", header_dir=rtx_headers())


def test_input_checks_mirror_the_plugin():
    """_check_inputs on the exporter's own inputs: none for the right block; the plugin's message for a wrong one."""
    from edge_swin.plugins.swin_window_attention.emulate import node_inputs_of

    block = make_block(dim=64, heads=2, feat=(9, 11), window=4, shift=True, seed=1)
    tensors, _ = node_inputs_of(block, seeded((1, 9, 11, 64), seed=2))

    def check(ts, heads=2):
        return hn._check_inputs(ts, None, heads, (4, 4), (2, 2))

    assert check(tensors) == []
    assert tuple(tensors[6].shape) == (9, 16, 16)  # 3 x 3 windows of the padded 12 x 12 map
    other = make_block(dim=64, heads=2, feat=(14, 14), window=7, shift=True, seed=3)
    t7, _ = node_inputs_of(other, seeded((1, 14, 14, 64), seed=4))
    assert check([*tensors[:5], t7[5], tensors[6]]) == [
        "input 5 (rel_bias) is [2, 49, 49], expected [2, 16, 16] for num_heads 2, window 4x4"]
    assert re.match(r"input 6 \(mask\) is \[4, 49, 49\], expected \[9, 16, 16\]",
                    check([*tensors[:6], t7[6]])[0])
    assert check(tensors, heads=3)[0].startswith("input 0 (x) is [1, 9, 11, 64]; expected [B, H, W, C = num_heads")


def _kernels_bench():
    spec = importlib.util.spec_from_file_location("kernels_bench_aot", REPO / "benchmarks" / "kernels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_aot_without_gpu_writes_nothing(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark would measure")
    out = tmp_path / "k.json"
    assert _kernels_bench().main(["--aot", "--out", str(out)]) == 0
    assert "not available: needs a CUDA GPU" in capsys.readouterr().out and not out.exists()


# ---- GPU: the embedded cubins, launched by the plugin's code, against the module ---------------------------------

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the harness runs cubins)")


def device_sm() -> int:
    major, minor = torch.cuda.get_device_capability()
    return major * 10 + minor


def skip_unbuilt_window(window):
    """Windows a build leaves out on some SMs (window_attention.WINDOW_SMS: 12x12 spills on sm_75) are skipped there."""
    from edge_swin.plugins.swin_window_attention.kernels.window_attention import WINDOW_SMS

    sms = WINDOW_SMS.get(window * window)
    if sms is not None and device_sm() not in sms:
        pytest.skip(f"window {window}x{window} is not built for sm_{device_sm()} (window_attention.WINDOW_SMS)")


def gpu_headers() -> Path:
    found = trt_headers.header_set(library.RTX_HEADER_SET) or library.default_header_dir()
    if found is None:
        pytest.skip(f"no TensorRT headers to build the harness against: {trt_headers.FIX}")
    return found


@pytest.fixture(scope="module")
def gpu_harness(tmp_path_factory) -> hn.NodeHarness:
    """The real kernel table for this GPU's SM, compiled here, and the harness on it."""
    needs_toolchain()
    sm = device_sm()
    if sm not in aot_build.ALL_ARCHS:
        pytest.skip(f"this GPU is sm_{sm}; the AOT build targets {aot_build.ALL_ARCHS}")
    d = tmp_path_factory.mktemp("harness_gpu")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the build needs the real compiler
    proc = subprocess.run([sys.executable, "-m", "edge_swin.plugins.swin_window_attention.aot.build", "--arch", str(sm), "--out",
                           str(d / "kernels"), "--no-progress", "--jobs", str(min(8, os.cpu_count() or 1))],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return hn.load_harness(hn.build_harness(d / "kernels" / "embedded_kernels.cpp", d / "lib",
                                            header_dir=gpu_headers()))


# (name, feature map, window, shift, dim, heads, batch): test_emulated_node's blocks (W-MSA, SW-MSA, a padded
# 9x11 map, the 4x4 map at C 128), a Swin-T stage-1 SW-MSA block at batch 8, and window 12 (N = 144) at 384.
GPU_CASES = [*BLOCKS, (*SWIN_T_STAGE1[:-1], 8), ("swin_b384_stage1_swmsa", (96, 96), 12, True, 128, 4, 2)]
GPU_IDS = [c[0] for c in GPU_CASES]


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("case", GPU_CASES, ids=GPU_IDS)
def test_gpu_fp16_node_matches_module(gpu_harness, case):
    name, feat, window, shift, dim, heads, batch = case
    skip_unbuilt_window(window)
    block = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=31)
    x16 = seeded((batch, *feat, dim), seed=32).half()
    y = hn.run_node_on_gpu(block, x16, harness=gpu_harness)
    assert y.dtype == torch.float16 and y.is_cuda and not y.isnan().any(), "NaN poison left: a token was not written"
    with torch.no_grad():
        ref = copy.deepcopy(block).double()(x16.double())
    err = rel_err(y.cpu(), ref)
    print(f"GPU harness {name}: fp16 rel err {err:.2e}")
    assert err < 2e-3


@pytest.fixture(scope="module")
def quant():
    # a GPU machine without modelopt (the lent ones: its wheels are too big to carry) skips the INT8 comparison
    pytest.importorskip("modelopt", reason="modelopt is not installed: the INT8 node's fake-quant reference needs it")
    import edge_swin.quant as q  # modelopt: slow import, once

    return q


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("io", [torch.float32, torch.float16], ids=["fp32io", "fp16io"])
@pytest.mark.parametrize("case", GPU_CASES, ids=GPU_IDS)
def test_gpu_int8_node_matches_fake_quant_module(gpu_harness, quant, case, io):
    """The INT8 node (int8 workspaces) with fp32 io (FP32 Q/DQ graph) and fp16 io (FP16+INT8 engine) against the
    fake-quant block on the same io-rounded x and biases (node_checks.rounded_to)."""
    from edge_swin.plugins.swin_window_attention.kernels.spec import INT8_FP32_IO_SMS

    name, feat, window, shift, dim, heads, batch = case
    skip_unbuilt_window(window)
    if io == torch.float32 and device_sm() not in INT8_FP32_IO_SMS:
        pytest.skip(f"the INT8 node's fp32-io kernels are not built for sm_{device_sm()} (spec.INT8_FP32_IO_SMS)")
    fp32 = make_block(dim=dim, heads=heads, feat=feat, window=window, shift=shift, seed=33)
    qblock = quant.quantize_block(copy.deepcopy(fp32), seeded((8, *feat, dim), seed=34))
    x = seeded((batch, *feat, dim), seed=35).to(io)
    y = hn.run_node_on_gpu(qblock, x, harness=gpu_harness, io=io)
    assert y.dtype == io and not y.isnan().any(), "NaN poison left: a token was not written"
    x = x.float()
    with torch.no_grad():
        c = int8_compare(y.cpu(), rounded_to(qblock, io)(x), rounded_to(fp32, io)(x), exact_for(io))
    assert_int8_close(f"GPU harness {name} ({io})", c)


@pytest.mark.gpu
@needs_gpu
def test_gpu_wrong_inputs_fail_the_comparison(gpu_harness):
    """Broken on purpose: another block's bias, a rolled mask, the shift dropped: each must miss the reference."""
    from edge_swin.plugins.swin_window_attention.emulate import node_inputs_of

    block = make_block(dim=64, heads=2, feat=(9, 11), window=4, shift=True, seed=36)
    other = make_block(dim=64, heads=2, feat=(9, 11), window=4, shift=True, seed=37)
    x = seeded((2, 9, 11, 64), seed=38).half()
    with torch.no_grad():
        ref = copy.deepcopy(block).double()(x.double())
    tensors, attrs = node_inputs_of(block, x.cuda())
    other_tensors, _ = node_inputs_of(other, x.cuda())
    assert rel_err(hn.run_node_inputs(tensors, attrs, gpu_harness).cpu(), ref) < 2e-3
    breaks = {"bias of another block": ([*tensors[:5], other_tensors[5], tensors[6]], attrs),
              "mask windows off by one": ([*tensors[:6], tensors[6].roll(1, dims=0)], attrs),
              "shift dropped": (tensors, {**attrs, "shift_size": [0, 0]})}
    for what, (ts, at) in breaks.items():
        err = rel_err(hn.run_node_inputs(ts, at, gpu_harness).cpu(), ref)
        print(f"GPU harness, {what}: rel err {err:.2f}")
        assert err > 2e-2, what


@pytest.mark.gpu
@needs_gpu
def test_gpu_side_stream_and_repeat_are_identical(gpu_harness):
    """The launches go to PyTorch's current stream; the same node twice gives the same bits."""
    block = make_block(dim=96, heads=3, feat=(14, 14), window=7, shift=True, seed=39)
    x = seeded((4, 14, 14, 96), seed=40).half().cuda()
    first = hn.run_node_on_gpu(block, x, harness=gpu_harness).clone()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        again = hn.run_node_on_gpu(block, x, harness=gpu_harness)
    side.synchronize()
    assert torch.equal(first, again)


@pytest.mark.gpu
@needs_gpu
def test_gpu_table_without_this_sm_is_refused(tmp_path):
    """The launcher itself (Python's pre-check bypassed) refuses a table with no cubin for this GPU, and says so."""
    needs_toolchain()
    sm = device_sm()
    table = write_stub_table(tmp_path / "table.cpp", sms=(75,) if sm // 10 != 7 else (80,))
    harness = hn.load_harness(hn.build_harness(table, tmp_path / "lib", header_dir=gpu_headers()))
    with pytest.raises(hn.HarnessError, match=rf"no compiled .* for sm_{sm}"):
        hn.run_node_on_gpu(make_block(dim=96, heads=3, feat=(14, 14), window=7, shift=True), torch.randn(1, 14, 14, 96),
                           harness=harness)
    x = torch.zeros(1, 14, 14, 96, dtype=torch.float16, device="cuda")
    ws = torch.empty(harness.workspace_bytes(1, 14, 14, 96, False), dtype=torch.uint8, device="cuda")
    status, error = harness.run(num_heads=3, window=(7, 7), shift=(3, 3), scale=32 ** -0.5, int8=False,
                                shape=x.shape, pointers=[x.data_ptr()] * 7, output=x.data_ptr(),
                                workspace=ws.data_ptr(), stream=torch.cuda.current_stream().cuda_stream)
    assert status != 0 and re.search(rf"no compiled swin_linear_fp16 .* for this GPU \(sm_{sm}\)", error), error


@pytest.mark.gpu
@needs_gpu
def test_gpu_benchmark_aot_runs(gpu_harness, tmp_path):
    out = tmp_path / "k.json"
    args = ["--aot", "--harness", str(gpu_harness.path), "--stages", "4", "--batch", "1", "--warmup", "1",
            "--runs", "3", "--out", str(out)]
    # The JIT contenders need the real Triton compiler: a subprocess without TRITON_INTERPRET.
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "kernels.py"), *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    import json

    rows = json.loads(out.read_text())["rows"]
    assert rows and all(r["aot_node_ms"] > 0 and r["aot_vs_jit_node_max_rel_diff"] < 2e-3 for r in rows), rows


# ---- CPU: the launches themselves, recorded by a fake CUDA driver --------------------------------------------------
# The launcher dlopens libcuda.so.1; a stand-in found first on LD_LIBRARY_PATH (a subprocess: the search path is
# read at process start) records what the plugin's code asks of the driver: which cubins it loads for which device
# SM, each launch's kernel, grid, block, shared memory, stream and every argument by the kernel ABI of
# edge_swin/plugins/swin_window_attention/README.md. Everything but the cubins' arithmetic.

FAKE_DRIVER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef int CUresult;
static int ctx;
static FILE* out(void) { static FILE* f; if (!f) f = fopen(getenv("FAKE_CUDA_LOG"), "a"); return f; }
CUresult cuCtxGetCurrent(void** c) { *c = getenv("FAKE_CUDA_NO_CONTEXT") ? 0 : &ctx; return 0; }
CUresult cuCtxGetDevice(int* d) { *d = 0; return 0; }
CUresult cuDeviceGetAttribute(int* v, int attr, int d) {
    int sm = atoi(getenv("FAKE_CUDA_SM")); (void)d;
    *v = attr == 75 ? sm / 10 : attr == 76 ? sm % 10 : -1; return 0; }
CUresult cuModuleLoadData(void** m, const void* image) {
    fprintf(out(), "load %.4s\n", (const char*)image); fflush(out()); *m = malloc(1); return 0; }
CUresult cuModuleUnload(void* m) { free(m); return 0; }
CUresult cuModuleGetFunction(void** f, void* m, const char* name) { (void)m; *f = strdup(name); return 0; }
CUresult cuFuncSetAttribute(void* f, int attr, int value) {
    fprintf(out(), "attribute %s %d %d\n", (const char*)f, attr, value); fflush(out()); return 0; }
CUresult cuGetErrorString(CUresult r, const char** s) { (void)r; *s = "fake"; return 0; }
CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void* stream, void** params, void** extra) {
    const char* name = f; int pointers, ints, floats, i, k = 0;
    if (!strcmp(name, "swin_linear_fp16")) { pointers = 4; ints = 3; floats = 0; }
    else if (!strcmp(name, "swin_linear_int8") || !strcmp(name, "swin_linear_fp8")) { pointers = 6; ints = 3; floats = 0; }
    else if (!strcmp(name, "swin_qkv_int8") || !strcmp(name, "swin_qkv_fp8")) { pointers = 9; ints = 2; floats = 1; }
    else if (!strcmp(name, "swin_window_attention_fp16")) { pointers = 5; ints = 5; floats = 1; }
    else { pointers = 10; ints = 5; floats = 1; }
    fprintf(out(), "launch %s grid %u %u %u block %u %u %u shared %u stream %p extra %p args", name, gx, gy, gz,
            bx, by, bz, shared, stream, (void*)extra);
    for (i = 0; i < pointers; ++i) fprintf(out(), " %llx", *(unsigned long long*)params[k++]);
    for (i = 0; i < ints; ++i) fprintf(out(), " %d", *(int*)params[k++]);
    for (i = 0; i < floats; ++i) fprintf(out(), " %.9g", *(float*)params[k++]);
    for (i = 0; i < 2; ++i) fprintf(out(), " %p", *(void**)params[k++]);  /* Triton's two scratch pointers */
    fprintf(out(), "\n"); fflush(out()); return 0; }
"""

# The subprocess: run nodes given as JSON through the harness, print one JSON result a node.
RUN_NODES = """
import json, sys
from edge_swin.plugins.swin_window_attention.testing import harness as hn
h = hn.load_harness(sys.argv[1])
for node in json.loads(sys.argv[2]):
    print(json.dumps(h.run(**node)), flush=True)
"""


@pytest.fixture(scope="module")
def fake_driver(tmp_path_factory) -> Path:
    return compile_fake_driver(tmp_path_factory.mktemp("fake_cuda"), FAKE_DRIVER_C)


@pytest.fixture(scope="module")
def fake_cubin_harness(tmp_path_factory) -> Path:
    """The harness on a stub table whose cubins are 4 bytes ("FAKE"): the fake driver loads anything. The 12x12
    attention variants claim 64 KiB of shared memory, to show the opt-in above 48 KiB."""
    needs_toolchain()
    d = tmp_path_factory.mktemp("harness_fake_cubins")
    table = write_stub_table(d / "embedded_kernels.cpp", sms=STUB_SMS)
    text = table.read_text()
    rows = text.count("nullptr, 0},")
    text = text.replace("nullptr, 0},", "kFakeCubin, 4},").replace(
        "namespace edge_swin {\n", 'namespace edge_swin {\nunsigned char const kFakeCubin[] = "FAKE";\n', 1)
    text, big = re.subn(r'(, 12, 12, [01], "swin_window_attention_\w+", \d+), 0,', r"\1, 65536,", text)
    fp8_sms = [sm for sm in STUB_SMS if sm in FP8_SMS]
    assert rows > 0 and text.count("kFakeCubin, 4},") == rows and big == (3 * len(STUB_SMS) + len(fp8_sms)) * 2, \
        "tests/plugins/stub_kernels.py changed its row format: update this fixture"
    table.write_text(text)
    return hn.build_harness(table, d / "lib", header_dir=rtx_headers(), jobs=2)


def fake_run(harness_path: Path, driver: Path, nodes: list[dict], sm: int, **env) -> tuple[list, list[str]]:
    log = driver / f"log-{os.getpid()}-{len(list(driver.iterdir()))}.txt"
    full_env = {**os.environ, "LD_LIBRARY_PATH": f"{driver}:{os.environ.get('LD_LIBRARY_PATH', '')}",
                "FAKE_CUDA_LOG": str(log), "FAKE_CUDA_SM": str(sm), **env}
    proc = subprocess.run([sys.executable, "-c", RUN_NODES, str(harness_path), json.dumps(nodes)], env=full_env,
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    return results, (log.read_text().splitlines() if log.exists() else [])


def node(int8=False, window=(7, 7), shift=(3, 3), shape=(2, 14, 14, 96), stream=0xABC000) -> dict:
    """Distinct, aligned fake addresses: input i at (i + 1) * 0x10000, output 0x900000, workspace 0xA00000.
    int8: the node kind (harness.FP16_NODE / INT8_NODE_FP32_IO / INT8_NODE_FP16_IO; True = fp32 io)."""
    return {"num_heads": shape[3] // 32, "window": window, "shift": shift, "scale": 32 ** -0.5, "int8": int(int8),
            "shape": shape, "pointers": [(i + 1) * 0x10000 for i in range(15 if int8 else 7)], "output": 0x900000,
            "workspace": 0xA00000, "stream": stream}


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def expected_launches(n: dict) -> list[str]:
    """README "Kernel ABI" and "Description", with the stub table's tiles (linears: 64 rows a program,
    every column, 8 warps; attention BLOCK_M 16, 4 warps) and shared memory (64 KiB for 12x12). INT8 nodes:
    int8 workspaces (3C + C bytes a token), swin_qkv_int8 -> swin_window_attention_int8 -> swin_linear_int8."""
    b, h, w, c = n["shape"]
    int8 = bool(n["int8"])  # INT8 or FP8: the same launches and arguments, their own kernels
    mode = {hn.FP16_NODE: "fp16", hn.FP8_NODE: "fp8"}.get(int(n["int8"]), "int8")
    m, elem = b * h * w, 1 if int8 else 2
    p = [f"{v:x}" for v in n["pointers"]]
    x, qkv_w, qkv_b, proj_w, proj_b, bias, mask, *s = p
    qkv = 0xA00000
    out = qkv + align(m * 3 * c * elem)
    y = f"{n['output']:x}"
    wh, ww = n["window"]
    windows = b * cdiv(h, wh) * cdiv(w, ww)
    shared = 65536 if (wh, ww) == (12, 12) else 0
    tail = f"stream {hex(n['stream'])} extra (nil) args"
    nulls = "(nil) (nil)"
    scale = f"{ctypes.c_float(n['scale']).value:.9g}"  # passed as a C float
    linear = f"grid {cdiv(m, 64)} 1 1 block 256 1 1 shared 0 {tail}"
    if int8:  # scales: 0 qkv_x, 1 qkv_w, 2 q, 3 k, 4 softmax, 5 v, 6 proj_x, 7 proj_w
        first = (f"launch swin_qkv_{mode} {linear} {x} {qkv_w} {qkv_b} {qkv:x} {s[0]} {s[1]} {s[2]} {s[3]} {s[5]} "
                 f"{m} {c} {scale} {nulls}")
        att_scales = " " + " ".join(s[2:7])
        last = f"launch swin_linear_{mode} {linear} {out:x} {proj_w} {proj_b} {y} {s[6]} {s[7]} {m} {c} {c} {nulls}"
    else:
        first = f"launch swin_linear_fp16 {linear} {x} {qkv_w} {qkv_b} {qkv:x} {m} {3 * c} {c} {nulls}"
        att_scales = ""
        last = f"launch swin_linear_fp16 {linear} {out:x} {proj_w} {proj_b} {y} {m} {c} {c} {nulls}"
    return [
        first,
        (f"launch swin_window_attention_{mode} grid {windows} {c // 32} {cdiv(wh * ww, 16)} block 128 1 1 "
         f"shared {shared} {tail} {qkv:x} {qkv_b} {bias} {mask} {out:x}{att_scales} {h} {w} {n['shift'][0]} "
         f"{n['shift'][1]} {c} {scale} {nulls}"),
        last,
    ]


def test_fake_driver_sees_the_kernel_abi(fake_cubin_harness, fake_driver):
    """FP16 and INT8 nodes (SW-MSA 7x7 on a padded 14x15 map, INT8 with fp32 and fp16 io, 12x12 W-MSA): kernels,
    grids, blocks, shared memory, stream and every argument as the README's contract says; the sm_80 cubins serve
    an sm_86 device."""
    nodes = [node(), node(int8=hn.INT8_NODE_FP32_IO, shape=(2, 14, 15, 96)),
             node(int8=hn.INT8_NODE_FP16_IO, shape=(2, 14, 15, 96)),
             node(window=(12, 12), shift=(0, 0), shape=(1, 24, 24, 128))]
    results, log = fake_run(fake_cubin_harness, fake_driver, nodes, sm=86)
    assert results == [[0, ""]] * 4, results
    launches = [line for line in log if line.startswith("launch")]
    assert launches == [line for n in nodes for line in expected_launches(n)]
    # An FP16 node loads its two cubins (one linear for qkv and proj), an INT8 node three, once per (kind, window);
    # the 12x12 attention opts in to 64 KiB of shared memory.
    assert log.count("load FAKE") == 2 + 3 + 3 + 2
    assert [line for line in log if line.startswith("attribute")] == ["attribute swin_window_attention_fp16 8 65536"]


def test_fake_driver_records_fp8_launches(fake_cubin_harness, fake_driver):
    """The FP8 node (SW-MSA 7x7, padded map; 12x12 W-MSA) on an sm_90 device: swin_qkv_fp8 ->
    swin_window_attention_fp8 -> swin_linear_fp8 with the INT8 node's arguments and one-byte workspaces. On sm_80
    (no FP8 tensor cores: the table has no FP8 cubin for it) the node is refused, nothing launched."""
    nodes = [node(int8=hn.FP8_NODE, shape=(2, 14, 15, 96)),
             node(int8=hn.FP8_NODE, window=(12, 12), shift=(0, 0), shape=(1, 24, 24, 128))]
    results, log = fake_run(fake_cubin_harness, fake_driver, nodes, sm=90)
    assert results == [[0, ""]] * 2, results
    launches = [line for line in log if line.startswith("launch")]
    assert launches == [line for n in nodes for line in expected_launches(n)]
    assert log.count("load FAKE") == 3 + 3
    assert [line for line in log if line.startswith("attribute")] == ["attribute swin_window_attention_fp8 8 65536"]
    (status, error), = fake_run(fake_cubin_harness, fake_driver, nodes[:1], sm=80)[0]
    assert status != 0 and re.search(r"no compiled swin_qkv_fp8 .*for this GPU \(sm_80\); the library has it for: "
                                     r"sm_90a", error), error


def test_fake_driver_caches_cubins_per_node_kind(fake_cubin_harness, fake_driver):
    """The same node twice: loaded once. W-MSA after SW-MSA: its own cubins (a launcher per window and shift)."""
    nodes = [node(), node(), node(shift=(0, 0)), node(shift=(0, 0))]
    results, log = fake_run(fake_cubin_harness, fake_driver, nodes, sm=90)
    assert results == [[0, ""]] * 4
    assert log.count("load FAKE") == 4
    attention = [line.split(" grid")[0] for line in log if "window_attention" in line]
    assert len(attention) == 4


@pytest.mark.parametrize(("sm", "env", "message"), [
    (75, {}, r"no compiled swin_linear_fp16 \(io fp16\) for this GPU \(sm_75\); the library has it for: sm_80, sm_90a"),
    (100, {}, r"for this GPU \(sm_100\)"),
    (90, {"FAKE_CUDA_NO_CONTEXT": "1"}, r"no current CUDA context"),
])
def test_fake_driver_refusals(fake_cubin_harness, fake_driver, sm, env, message):
    """The launcher's own refusals with a driver present: no cubin for the device's SM, no current context."""
    results, log = fake_run(fake_cubin_harness, fake_driver, [node()], sm=sm, **env)
    (status, error), = results
    assert status != 0 and re.search(message, error), error
    assert not [line for line in log if line.startswith(("launch", "load"))], log
