"""`python -m edge_swin.plugins.swin_window_attention.aot.build` on a CPU: cubins for every SM, their checks, manifest and C++ table.

The build runs in subprocesses without TRITON_INTERPRET (tests/plugins/conftest.py sets it for the
interpreter tests; compiled kernels need it unset when the kernel module is imported). One attention
variant for all six SMs keeps this at ~30 s on our 2-core machine; the full build (every variant of
every kernel module) is run once by CI elsewhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_swin.plugins.swin_window_attention.aot import build as B

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "edge_swin" / "plugins" / "swin_window_attention" / "csrc" / "embedded_kernels.h"
# int8 (fp16 io: built for every SM): also exercises the sm_75 route and the RNE check
VARIANT = "window_attention_int8_fp16io_w7x7_shifted"
GXX = shutil.which("g++")


def _env():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _python(*args, timeout=600):
    return subprocess.run([sys.executable, *args], check=False, cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _readme_header() -> str:
    """The struct of README "Embedded kernel table", for when csrc/embedded_kernels.h is not there."""
    readme = (ROOT / "edge_swin" / "plugins" / "swin_window_attention" / "README.md").read_text()
    block = re.search(r"```cpp\n(.*?)```", readme, re.DOTALL).group(1)
    return "#pragma once\n#include <cstddef>\n#include <cstdint>\n" + block


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("aot") / "plugins"
    result = _python("-m", "edge_swin.plugins.swin_window_attention.aot.build", "--out", str(out), "--only", VARIANT, "--no-progress")
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    return out, json.loads((out / "manifest.json").read_text())


def test_one_cubin_per_sm_with_the_right_architecture(built):
    out, manifest = built
    kernels = manifest["kernels"]
    assert sorted(k["sm"] for k in kernels) == list(B.ALL_ARCHS)
    cuobjdump = B._tools()["cuobjdump"].path
    for k in kernels:
        image = (out / k["file"]).read_bytes()
        listing = subprocess.run([cuobjdump, "-lelf", str(out / k["file"])], check=True, capture_output=True,
                                 text=True).stdout
        expected = f"sm_{k['sm']}a" if k["sm"] >= 90 else f"sm_{k['sm']}"
        assert f".{expected}.cubin" in listing, listing
        assert image[:4] == b"\x7fELF"
        # ELF64 e_flags hold the SM: in the low byte (ptxas 12.x), in the second byte (the CUDA 13 cubin ABI,
        # e.g. 0x06006e02 for sm_110a from ptxas 13.x: Triton compiles sm_100+ with its ptxas-blackwell)
        e_flags = int.from_bytes(image[48:52], "little")
        assert k["sm"] in (e_flags & 0xFF, (e_flags >> 8) & 0xFF), (k["file"], hex(e_flags))
        assert hashlib.sha256(image).hexdigest() == k["sha256"]


def test_manifest_records_resources_and_no_spills(built):
    _, manifest = built
    assert manifest["build"] == "release" and manifest["line_info"] is False
    assert manifest["triton_version"] and re.match(r"\d+\.\d+", manifest["ptxas_version"])
    for k in manifest["kernels"]:
        assert k["name"] == VARIANT and k["symbol"] == "swin_window_attention_int8"
        assert 0 < k["registers"] <= 255 and k["stack"] == 0 and k["spills"] == 0 and k["spill_stores"] == 0
        assert k["num_warps"] == 4 and k["shared"] > 0
        assert k["window"] == [7, 7] and k["shifted"] == 1 and (k["mode"], k["io"]) == ("int8", "fp16")
        assert k["constexprs"]["INT8_DOT"] == (0 if k["sm"] == 75 else 1)
        assert k["block"] == [k["constexprs"]["BLOCK_M"], 64, 0]
        assert k["constexprs"]["BLOCK_M"] == (16 if k["sm"] == 75 else 64)


@pytest.mark.skipif(GXX is None, reason="no g++ on this machine")
def test_embedded_table_compiles_and_holds_the_cubins(built, tmp_path):
    """embedded_kernels.cpp compiles with g++ -std=c++17 against the header, and its table is the manifest."""
    out, manifest = built
    include = HEADER.parent
    if not HEADER.exists():
        include = tmp_path / "include"
        include.mkdir()
        (include / "embedded_kernels.h").write_text(_readme_header())
    dump = tmp_path / "dump.cpp"
    dump.write_text(textwrap.dedent("""
        #include "embedded_kernels.h"
        #include <cstdio>
        int main() {
            for (size_t i = 0; i < edge_swin::kNumEmbeddedKernels; ++i) {
                auto const& k = edge_swin::kEmbeddedKernels[i];
                unsigned sum = 0;
                for (size_t j = 0; j < k.imageSize; ++j) sum = sum * 31u + k.image[j];
                std::printf("%d %d %d %d %d %d %d %s %d %d %d %d %d %zu %u\\n", int(k.family), int(k.mode), int(k.io),
                            k.sm, k.windowH, k.windowW, k.shifted, k.symbol, k.numWarps, k.sharedBytes,
                            k.blockM, k.blockN, k.blockK, k.imageSize, sum);
            }
        }
    """))
    exe = tmp_path / "dump"
    for src in (out / "embedded_kernels.cpp", dump):
        r = subprocess.run([GXX, "-std=c++17", "-Wall", "-Werror", "-c", str(src), "-I", str(include),
                            "-o", str(tmp_path / (src.stem + ".o"))], check=False, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
    subprocess.run([GXX, str(tmp_path / "embedded_kernels.o"), str(tmp_path / "dump.o"), "-o", str(exe)], check=True)
    rows = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    assert len(rows) == len(manifest["kernels"])
    for row, k in zip(rows, manifest["kernels"]):
        image = (out / k["file"]).read_bytes()
        checksum = 0
        for byte in image:
            checksum = (checksum * 31 + byte) & 0xFFFFFFFF
        expected = [1, 1, 1, k["sm"], 7, 7, 1, k["symbol"], k["num_warps"], k["shared"], *k["block"], len(image),
                    checksum]
        assert row.split() == [str(x) for x in expected]


SPILLING = """
import sys
from pathlib import Path
from edge_swin.plugins.swin_window_attention.aot import build as B
from edge_swin.plugins.swin_window_attention.kernels import window_attention as wa
# 12 x 12 window with 64-row query blocks: a 64 x 256 fp32 score tile, far more than 255 registers a thread
variant = wa.attention_variant("fp16", (12, 12), True, block_m=64)
try:
    B.build(Path(sys.argv[1]), archs=(80,), release=True, progress=False,
            variants=[("edge_swin.plugins.swin_window_attention.kernels.window_attention", variant)])
except B.BuildError as exc:
    print("BUILD ERROR:", exc)
    sys.exit(3)
"""


def test_spilling_variant_fails_a_release_build_and_leaves_the_old_output(tmp_path):
    out = tmp_path / "plugins"
    out.mkdir()
    (out / "previous.txt").write_text("an earlier build")
    result = _python("-c", SPILLING, str(out))
    assert result.returncode == 3, f"expected a BuildError:\n{result.stdout}\n{result.stderr[-3000:]}"
    assert "window_attention_fp16_fp16io_w12x12_shifted for sm_80 spills" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["plugins"]       # no temporary directory left behind


def test_build_refuses_the_interpreter():
    """This process has TRITON_INTERPRET=1 (conftest): collecting variants must stop with the fix in the message."""
    assert os.environ.get("TRITON_INTERPRET") == "1"
    with pytest.raises(B.BuildError, match="TRITON_INTERPRET"):
        B.collect_variants()


def test_missing_kernel_module_is_skipped_with_a_warning(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    modules = ("edge_swin.plugins.swin_window_attention.kernels.window_attention", "edge_swin.plugins.swin_window_attention.kernels.not_written_yet")
    with pytest.warns(UserWarning, match="not_written_yet"):
        variants, skipped = B.collect_variants(modules)
    assert list(skipped) == ["edge_swin.plugins.swin_window_attention.kernels.not_written_yet"]
    assert len(variants) == 18 and all(m == modules[0] for m, _ in variants)


def test_unknown_arch_is_refused(tmp_path):
    with pytest.raises(B.BuildError, match="unsupported SM"):
        B.build(tmp_path / "x", archs=(70,), progress=False)


@pytest.mark.slow
def test_full_release_build(tmp_path):
    """The release artifact itself: every variant for every SM compiles without a spill (205 s on 2 busy cores).

    What is not built is exactly what the README says: the 12x12 attention for sm_75, the INT8 node's fp32-io
    kernels for sm_87 and sm_110 (spec.INT8_FP32_IO_SMS), and the FP8 node's kernels outside spec.FP8_SMS.
    24 attention variants (fp16; int8 with fp16 and with fp32 io; fp8; 3 windows x 2 shifts) and 7 linears (fp16;
    swin_qkv_int8 and swin_linear_int8 with int8 x, each for fp16 and fp32 io; swin_qkv_fp8 and swin_linear_fp8
    with fp8 x)."""
    out = tmp_path / "release"
    proc = _python("-m", "edge_swin.plugins.swin_window_attention.aot.build", "--out", str(out), "--no-progress", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    kernels = manifest["kernels"]
    assert all(k["spills"] == 0 and k["stack"] == 0 for k in kernels)
    built_for = {(k["name"], k["sm"]) for k in kernels}
    names = {k["name"] for k in kernels}
    missing = {(n, sm) for n in names for sm in B.ALL_ARCHS} - built_for
    fp32io_int8 = {n for n in names if "int8_fp32io" in n}
    fp8 = {n for n in names if "_fp8_" in n}
    assert missing == ({(n, 75) for n in names if "w12x12" in n} | {(n, sm) for n in fp32io_int8 for sm in (87, 110)}
                       | {(n, sm) for n in fp8 for sm in (75, 80, 86, 87)})
    assert len(fp32io_int8) == 8 and len(fp8) == 8
    assert len(missing) == 8 + 8 * 2 + 8 * 4 - 2  # the fp8 12x12 pair is counted once (not built for sm_75)
    assert len(names) == 31 and len(kernels) == 31 * 7 - len(missing)
    linears = [k for k in kernels if k["family"] != "window_attention"]
    # the per-SM tiles of kernels/linear.py TILES reached the table (8 warps; 128 rows on sm_90 for wgmma)
    assert {(k["sm"], tuple(k["block"]), k["num_warps"]) for k in linears} >= {(90, (128, 32, 128), 8),
                                                                               (80, (64, 32, 128), 8)}
