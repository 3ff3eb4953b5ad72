"""Cubins from the target's own ptxas (edge_swin/plugins/swin_window_attention/aot/ptxas.py): JetPack 6 targets compile with the ptxas of
CUDA 12.6 (the nvidia-cuda-nvcc-cu12 wheel, a dependency), datacenter targets with Triton's bundled one; the
kernel manifest says which; a missing or wrong ptxas is one message; the kernel caches are keyed on it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_swin.plugins.swin_window_attention.aot import kernel_cache
from edge_swin.plugins.swin_window_attention.aot import ptxas as px
from edge_swin.plugins.swin_window_attention import plugin_build
from edge_swin.trt import bundle
from edge_swin.trt.targets import get_target, load_targets

REPO = Path(__file__).resolve().parents[2]


def fake_ptxas(folder: Path, release: str) -> Path:
    path = folder / "ptxas"
    path.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.1'\n")
    path.chmod(0o755)
    return path


def test_every_target_names_a_cuda_release_with_a_ptxas():
    for target in load_targets().values():
        wheel = px.PTXAS_WHEELS.get(target.cuda)
        assert wheel or not target.is_jetson, f"{target.name}: a Jetson target must build with its own ptxas"
    assert px.PTXAS_WHEELS[get_target("jetson-orin").cuda] == "nvidia-cuda-nvcc-cu12"


def test_datacenter_targets_use_tritons_ptxas():
    tool = px.ptxas_for_cuda(get_target("h100").cuda)
    assert tool.path is None and tool.source == "triton" and tool.env() == {}
    assert tool.version == px.bundled_ptxas().version and tool.version.count(".") == 1


def test_missing_wheel_is_one_message(monkeypatch):
    monkeypatch.setattr(px, "wheel_ptxas", lambda dist: None)
    with pytest.raises(px.PtxasError, match=r"nvidia-cuda-nvcc-cu12.*not installed: pip install "
                                             r"'nvidia-cuda-nvcc-cu12==12\.6\.\*'.*scripts/setup\.sh"):
        px.ptxas_for_cuda("12.6")


def test_wrong_release_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(px, "wheel_ptxas", lambda dist: fake_ptxas(tmp_path, "12.9"))
    with pytest.raises(px.PtxasError, match=r"is ptxas 12\.9, the target needs CUDA 12\.6"):
        px.ptxas_for_cuda("12.6")
    with pytest.raises(px.PtxasError, match="does not exist"):
        px.ptxas_at(tmp_path / "nothing")


def test_build_cli_names_the_missing_ptxas(tmp_path):
    """No half-written output: the message and exit 1 before anything compiles."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "edge_swin.plugins.swin_window_attention.aot.build", "--out", str(tmp_path / "k"), "--arch",
                           "87", "--ptxas", str(tmp_path / "no-ptxas"), "--no-progress"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and "--ptxas" in proc.stderr and "does not exist" in proc.stderr, proc.stderr
    assert not (tmp_path / "k").exists()


def test_kernel_cache_keys_include_the_ptxas(tmp_path, monkeypatch):
    """kernel_cache.compiled_kernels (the one kernel build of the engine stage and the bundle): the same windows
    and SM with another ptxas are another cache entry, and the build is told the CUDA release."""
    tools = {None: px.Ptxas(path=None, version="12.9", source="triton"),
             "12.6": px.Ptxas(path=tmp_path / "ptxas", version="12.6", source="nvidia-cuda-nvcc-cu12")}
    monkeypatch.setattr(kernel_cache, "bundled_ptxas", lambda: tools[None])
    monkeypatch.setattr(kernel_cache, "ptxas_for_cuda", lambda cuda: tools[cuda])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = []

    def fake_run(cmd, env=None, **kwargs):
        calls.append(cmd)
        out = Path(cmd[cmd.index("--out") + 1])
        out.mkdir(parents=True)
        (out / kernel_cache.KERNELS_CPP).write_text("// stand-in\n")
        entries = [{"family": "linear", "sm": 87}, {"family": "qkv_linear", "sm": 87},
                   {"family": "window_attention", "window": [7, 7], "sm": 87}]
        (out / kernel_cache.MANIFEST).write_text(json.dumps({"kernels": entries}))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(kernel_cache.subprocess, "run", fake_run)
    bundled = kernel_cache.compiled_kernels([(7, 7)], [87])
    jetpack6 = kernel_cache.compiled_kernels([(7, 7)], [87], cuda="12.6")
    assert bundled.sms == jetpack6.sms == [87] and bundled.folder != jetpack6.folder
    assert len(calls) == 2 and "--cuda" not in calls[0] and calls[1][calls[1].index("--cuda") + 1] == "12.6"
    assert kernel_cache.compiled_kernels([(7, 7)], [87], cuda="12.6").folder == jetpack6.folder and len(calls) == 2


def test_jetson_bundle_without_the_ptxas_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(px, "wheel_ptxas", lambda dist: None)
    cpp, manifest, reason = bundle._kernel_table(get_target("jetson-orin"), None, {(7, 7)})
    assert cpp is None and manifest is None and "nvidia-cuda-nvcc-cu12" in reason
    (tmp_path / "NvInferRuntime.h").write_text("// headers are found; the kernels are what is missing\n")
    plugin = plugin_build.build_plugin([(7, 7)], [87], header_dir=tmp_path, cuda="12.6")
    assert plugin.library is None and plugin.sms == [] and "nvidia-cuda-nvcc-cu12" in plugin.notes


@pytest.mark.slow
def test_jetpack6_cubins_come_from_ptxas_12_6(tmp_path):
    """The sm_87 linear cubins compiled with CUDA 12.6's ptxas; the manifest records it (~10 s)."""
    if px.wheel_ptxas("nvidia-cuda-nvcc-cu12") is None:
        why = "nvidia-cuda-nvcc-cu12 is not installed (bash scripts/setup.sh installs it: a dependency)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)  # CI installs the package's dependencies: a skip there would prove nothing
        pytest.skip(why)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = tmp_path / "k"
    proc = subprocess.run([sys.executable, "-m", "edge_swin.plugins.swin_window_attention.aot.build", "--out", str(out), "--arch", "87",
                           "--cuda", "12.6", "--only", "linear_fp16", "--jobs", "1", "--no-progress"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ptxas_version"] == "12.6"
    assert manifest["ptxas"]["source"] == "nvidia-cuda-nvcc-cu12" and manifest["ptxas"]["path"].endswith("bin/ptxas")
    assert {k["arch"] for k in manifest["kernels"]} == {"sm_87"}


def _thor_wheel_or_skip():
    if px.wheel_ptxas("nvidia-cuda-nvcc") is None:
        why = "nvidia-cuda-nvcc (13.0.88) is not installed (bash scripts/setup.sh installs it: a dependency)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)


def test_thor_ptxas_is_cuda_13_0_for_every_sm():
    """JetPack 7.0/7.1's CUDA 13.0: Triton takes sm_100+ (Thor's sm_110) through TRITON_PTXAS_BLACKWELL_PATH, so
    the environment names the wheel's ptxas for both."""
    _thor_wheel_or_skip()
    tool = px.ptxas_for_cuda("13.0")
    assert tool.version == "13.0" and tool.source == "nvidia-cuda-nvcc" and tool.path.parts[-3:] == ("cu13", "bin", "ptxas")
    assert tool.env() == {"TRITON_PTXAS_PATH": str(tool.path), "TRITON_PTXAS_BLACKWELL_PATH": str(tool.path)}


@pytest.mark.slow
def test_thor_fp8_cubins_come_from_ptxas_13_0(tmp_path):
    """The FP8 linears for sm_110 and sm_89 compiled with CUDA 13.0's ptxas (Triton writes PTX ISA 9.0 for it);
    the manifest records it for both SM ranges (~40 s on 2 busy cores)."""
    _thor_wheel_or_skip()
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = tmp_path / "k"
    proc = subprocess.run([sys.executable, "-m", "edge_swin.plugins.swin_window_attention.aot.build", "--out", str(out),
                           "--arch", "89,110", "--cuda", "13.0", "--only", "linear_fp8", "--jobs", "1", "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ptxas_version"] == "13.0" and manifest["ptxas_blackwell"]["version"] == "13.0"
    assert manifest["ptxas"]["source"] == "nvidia-cuda-nvcc"
    # "linear_fp8" selects both FP8 linears (qkv_linear_fp8 too)
    assert {(k["name"], k["arch"], k["stack"]) for k in manifest["kernels"]} == {
        (name, arch, 0) for name in ("linear_fp8_fp16io", "qkv_linear_fp8_fp16io") for arch in ("sm_89", "sm_110a")}
