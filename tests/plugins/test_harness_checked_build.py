"""The refusal path of the node harness, built the ways that expose undefined behaviour (a segfault seen on an H200).

On an H200, `test_gpu_table_without_this_sm_is_refused` died with SIGSEGV inside NodeHarness.kernel_sm: a
harness built on that machine from a stub table with only sm_75 cubins crashed at the first SM it had no
cubin for, where the same table built here refused correctly. Here the same stub table is built
  - by g++ at -O0 with AddressSanitizer, UBSan (every report fatal) and libstdc++ assertions, and
  - by clang++ at -O2 with libstdc++ assertions (a second compiler; skipped where clang is not installed),
and a subprocess (the ASan runtime preloaded) asks it for every SM's cubin and runs a node on a fake CUDA
driver that reports an SM the table lacks: every refusal must come back as a message, never a crash or a
sanitizer report.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_swin.plugins.swin_window_attention.testing import harness as hn
from edge_swin.plugins.swin_window_attention import library
from tests.plugins.stub_kernels import write_stub_table
from tests.plugins.toolchain import compile_fake_driver, header_dir, needs_cmake_and_compiler

REPO = Path(__file__).resolve().parents[2]

# Just enough of libcuda.so.1 for the launcher to reach its "no cubin for this GPU" refusal.
FAKE_DRIVER_C = r"""
#include <stdlib.h>
typedef int CUresult;
static int ctx;
CUresult cuCtxGetCurrent(void** c) { *c = &ctx; return 0; }
CUresult cuCtxGetDevice(int* d) { *d = 0; return 0; }
CUresult cuDeviceGetAttribute(int* v, int attr, int d) {
    int sm = atoi(getenv("FAKE_CUDA_SM")); (void)d; *v = attr == 75 ? sm / 10 : attr == 76 ? sm % 10 : -1; return 0; }
CUresult cuModuleLoadData(void** m, const void* image) { (void)m; (void)image; return 1; }
CUresult cuModuleUnload(void* m) { (void)m; return 0; }
CUresult cuModuleGetFunction(void** f, void* m, const char* name) { (void)f; (void)m; (void)name; return 1; }
CUresult cuFuncSetAttribute(void* f, int attr, int value) { (void)f; (void)attr; (void)value; return 1; }
CUresult cuGetErrorString(CUresult r, const char** s) { (void)r; *s = "fake"; return 0; }
CUresult cuLaunchKernel(void* f, unsigned a, unsigned b, unsigned c, unsigned d, unsigned e, unsigned g,
                        unsigned h, void* s, void** p, void** x) { abort(); }
"""

# Every SM the kernel_sm C API may be asked for, then one node of each kind (FP16, INT8 fp32 io, INT8 fp16 io) on
# the fake sm_90 driver.
# torch (and, on a GPU machine, CUDA initialised) first: the GPU test that crashed ran in such a process, where
# torch's CUDA libraries are loaded RTLD_GLOBAL and could interpose symbols the harness binds at load time.
REFUSALS = """
import json, sys
import torch
if torch.cuda.is_available():
    torch.zeros(1, device="cuda")
from edge_swin.plugins.swin_window_attention.testing import harness as hn
h = hn.load_harness(sys.argv[1])
out = {"kernel_sm": {f"{i8}/{sm}": h.kernel_sm(i8, (7, 7), True, sm) for i8 in (hn.FP16_NODE, hn.INT8_NODE_FP32_IO,
                     hn.INT8_NODE_FP16_IO) for sm in (70, 75, 80, 86, 87, 89, 90, 100, 120)}}
out["unknown_window"] = h.kernel_sm(False, (5, 9), False, 75)
out["run"] = [h.run(num_heads=3, window=(7, 7), shift=(3, 3), scale=32 ** -0.5, int8=i8, shape=(1, 14, 14, 96),
                    pointers=[0x100000] * (15 if i8 else 7), output=0x100000, workspace=0x100000, stream=0)
              for i8 in (hn.FP16_NODE, hn.INT8_NODE_FP32_IO, hn.INT8_NODE_FP16_IO)]
print(json.dumps(out))
"""

BUILDS = {
    "gcc-O0-asan-ubsan-assertions": {"compiler": "g++", "sanitize": True},
    "clang-O2-assertions": {"compiler": "clang++", "cxx_flags": "-O2 -D_GLIBCXX_ASSERTIONS"},
}


@pytest.fixture(scope="module")
def fake_driver(tmp_path_factory) -> Path:
    return compile_fake_driver(tmp_path_factory.mktemp("fake_cuda_min"), FAKE_DRIVER_C)


@pytest.mark.slow
@pytest.mark.parametrize("build", list(BUILDS))
def test_refusal_path_is_clean_under_checked_builds(build, tmp_path, fake_driver):
    options = BUILDS[build]
    needs_cmake_and_compiler("the harness")
    if shutil.which(options["compiler"]) is None:
        pytest.skip(f"{options['compiler']} is not installed (apt-get install clang): the second-compiler build")
    if hn.default_cuda_include_dir() is None:
        pytest.skip("no cuda.h (CUDA toolkit or Triton's copy) to build the harness")
    table = write_stub_table(tmp_path / "table.cpp", sms=(75,))  # the table that crashed on the H200
    path = hn.build_harness(table, tmp_path / "lib", header_dir=header_dir(library.RTX_HEADER_SET), jobs=2,
                            **options)
    env = {**os.environ, "LD_LIBRARY_PATH": f"{fake_driver}:{os.environ.get('LD_LIBRARY_PATH', '')}",
           "FAKE_CUDA_SM": "90", "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0"}
    env.pop("TRITON_INTERPRET", None)
    if options.get("sanitize"):
        env["LD_PRELOAD"] = hn.sanitizer_preload(options["compiler"])
    proc = subprocess.run([sys.executable, "-c", REFUSALS, str(path)], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stderr[-4000:]}"
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr[-4000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    # the node's first launch, the one refused: the INT8 node's (fp32 or fp16 io) is swin_qkv_int8
    first = {0: "swin_linear_fp16", 1: "swin_qkv_int8", 2: "swin_qkv_int8"}
    for key, (sm, why) in result["kernel_sm"].items():
        int8, device = (int(v) for v in key.split("/"))
        kernel = first[int8]
        if device in (75, 86, 87, 89) and device // 10 == 7:
            assert (sm, why) == (75, ""), (key, sm, why)
        else:
            assert sm == 0 and f"no compiled {kernel}" in why and "has it for: sm_75" in why, (key, why)
            assert f"--arch {device}" in why, why
    sm, why = result["unknown_window"]
    assert sm == 0 and "window 5x9, unshifted" in why and "none" in why
    for int8, (status, error) in zip((0, 1, 2), result["run"]):
        assert status != 0 and f"no compiled {first[int8]}" in error and "for this GPU (sm_90)" in error, error
