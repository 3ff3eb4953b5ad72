"""write_bundle: complete, hashed, atomic, and refused for targets that are not Jetsons."""
from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from edge_swin.errors import TargetError
from edge_swin.trt import get_target
from edge_swin.trt.bundle import BundleError, write_bundle
from edge_swin.plugins.swin_window_attention.aot.kernel_cache import Kernels
from edge_swin.utils.io import sha256_file
from tests.bundle.helpers import ACCURACY, FIELDS, kernel_dir, tiny_onnx

EXPECTED_FILES = ("manifest.json", "README.md", "build_engine.sh", "bundle.env", "write_engine_metadata.py",
                  "edge_swin_layers.py", "onnx/model_int8.onnx", "onnx/model_fp16.onnx", "onnx/model_int8.inlined.onnx",
                  "plugin/csrc/CMakeLists.txt", "plugin/kernels/embedded_kernels.cpp", "Dockerfile.jetson",
                  "examples/cpp/CMakeLists.txt", "examples/cpp/main.cpp")


def _env(bundle: Path) -> dict[str, str]:
    values = {}
    for line in (bundle / "bundle.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    return values


def test_bundle_is_complete(bundle, onnx_files):
    manifest = json.loads((bundle / "manifest.json").read_text())
    target = get_target(manifest["target"]["name"])
    for name in EXPECTED_FILES:
        assert (bundle / name).is_file(), f"{name} missing from the {target.name} bundle"
    assert os.access(bundle / "build_engine.sh", os.X_OK)
    assert (bundle / "build_engine.sh").stat().st_mode & stat.S_IXOTH
    # every file is listed with its hash, and the hashes are those of the files on disk
    listed = set(manifest["files"])
    on_disk = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    for name, digest in manifest["files"].items():
        assert sha256_file(bundle / name) == digest, name
    # the ONNX files are the ones given, byte for byte
    for precision in ("int8", "fp16"):
        entry = manifest["onnx"][precision]
        assert entry["sha256"] == sha256_file(onnx_files[precision]) == sha256_file(bundle / entry["file"])
        assert entry["inputs"] == [{"name": "images", "shape": ["batch", 3, 32, 32],
                                    "dtype": "float" if precision == "int8" else "half"}]
    assert "fp32" in manifest["onnx_left_out"] and not (bundle / "onnx/model_fp32.onnx").exists()
    # the target row, what the device must run, and what the host measured
    assert manifest["target"]["batch"] == list(target.batch) and manifest["target"]["sm"] == 87
    assert manifest["expected"]["tensorrt"] == "10.3.0" and manifest["expected"]["l4t"] == "R36.4"
    assert manifest["expected"]["cuda"] == "12.6"
    assert manifest["accuracy"] == ACCURACY and manifest["engine_metadata_fields"] == FIELDS
    assert manifest["plugin"]["available"] and manifest["plugin"]["sm"] == 87
    assert manifest["plugin"]["windows"] == [[4, 4]] and manifest["onnx"]["int8"]["custom_ops"] == 1
    # the cubins' ptxas (the kernel manifest's): JetPack 6's CUDA 12.6
    assert manifest["plugin"]["ptxas"] == {"version": "12.6", "source": "nvidia-cuda-nvcc-cu12"}
    assert manifest["versions"]["edge_swin"]
    env = _env(bundle)
    assert (env["BATCH_MIN"], env["BATCH_OPT"], env["BATCH_MAX"]) == tuple(map(str, target.batch))
    assert env["WORKSPACE_MIB"] == str(target.workspace_mib) and env["TARGET_DLA"] == target.dla
    assert env["INPUT_NAME"] == "images" and env["INPUT_DIMS"] == "3x32x32" and env["INPUT_BATCH_DYNAMIC"] == "1"
    assert env["BUNDLE_PRECISIONS"] == "int8 fp16" and env["DEFAULT_PRECISION"] == "int8"
    assert target.name in (bundle / "README.md").read_text()


def test_inlined_copy_has_no_functions(bundle):
    import onnx

    inlined = onnx.load(str(bundle / "onnx/model_int8.inlined.onnx"))
    assert len(inlined.functions) == 0
    assert not any(n.domain == "edge_swin" for n in inlined.graph.node)
    assert len(onnx.load(str(bundle / "onnx/model_int8.onnx")).functions) == 1


def test_datacenter_target_is_refused(tmp_path, onnx_files, kernels):
    with pytest.raises(TargetError, match=r"t4 .* is not a Jetson target.*jetson-orin, orin-nano"):
        write_bundle(tmp_path / "bundle", target=get_target("t4"), onnx=onnx_files, accuracy=None,
                     kernels_dir=kernels)
    assert not any(tmp_path.iterdir()), "a refused bundle must leave nothing behind"


def test_missing_or_unknown_onnx_is_refused(tmp_path, onnx_files, kernels):
    orin = get_target("jetson-orin")
    with pytest.raises(BundleError, match="no ONNX file for target jetson-orin's precisions"):
        write_bundle(tmp_path / "b", target=orin, onnx={"fp32": onnx_files["fp32"]}, accuracy=None, kernels_dir=kernels)
    with pytest.raises(BundleError, match="unknown ONNX precision"):
        write_bundle(tmp_path / "b", target=orin, onnx={"int4": onnx_files["int8"]}, accuracy=None, kernels_dir=kernels)
    with pytest.raises(BundleError, match="int8 ONNX file not found"):
        write_bundle(tmp_path / "b", target=orin, onnx={"int8": tmp_path / "nope.onnx"}, accuracy=None,
                     kernels_dir=kernels)


def test_failure_leaves_the_old_bundle_and_no_partial(tmp_path, onnx_files, kernels):
    orin = get_target("jetson-orin")
    out = write_bundle(tmp_path / "bundle", target=orin, onnx=onnx_files, accuracy={"top1": 1.0}, kernels_dir=kernels)
    before = (out / "manifest.json").read_text()
    # kernels for another SM: refused after the ONNX files were already copied into the temporary folder
    wrong = kernel_dir(tmp_path / "kernels_sm90", sms=(90,))
    with pytest.raises(BundleError, match="not for jetson-orin's sm_87"):
        write_bundle(out, target=orin, onnx=onnx_files, accuracy={"top1": 2.0}, kernels_dir=wrong)
    assert (out / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "kernels_sm90"]
    # a successful rewrite replaces the bundle whole
    write_bundle(out, target=orin, onnx={"int8": onnx_files["int8"]}, accuracy={"top1": 3.0}, kernels_dir=kernels)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["accuracy"] == {"top1": 3.0} and not (out / "onnx/model_fp16.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "kernels_sm90"]


def test_without_kernels_the_bundle_says_why(tmp_path, onnx_files, monkeypatch):
    """No kernel table: the bundle is still written, and says --no-plugin is the way (build_engine.sh refuses)."""
    from edge_swin.trt import bundle as bundle_module

    asked = []
    monkeypatch.setattr(bundle_module, "kernel_table", lambda windows, sms, cuda=None, kernels_dir=None:
                        asked.append((sms, cuda)) or Kernels(None, [], "no triton here"))
    out = write_bundle(tmp_path / "bundle", target=get_target("orin-nano"), onnx=onnx_files, accuracy=None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["plugin"]["available"] is False
    assert manifest["plugin"]["reason"] == "the ahead-of-time kernel build for sm_87 failed: no triton here"
    assert asked == [([87], "12.6")]  # the target's SM, and its CUDA release picks the ptxas
    assert _env(out)["PLUGIN_AVAILABLE"] == "0"
    assert "--no-plugin" in (out / "README.md").read_text()


def test_plain_graph_needs_no_plugin(tmp_path, kernels):
    plain = tiny_onnx(tmp_path / "plain.onnx", custom_op=False)
    out = write_bundle(tmp_path / "bundle", target=get_target("jetson-orin"), onnx={"int8": plain}, accuracy=None,
                       kernels_dir=kernels)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["plugin"]["available"] is False and "no SwinWindowAttention nodes" in manifest["plugin"]["reason"]
    assert not (out / "plugin").exists() and not (out / "onnx/model_int8.inlined.onnx").exists()


def test_kernels_are_built_for_the_sm_and_windows_and_cached(tmp_path, monkeypatch):
    """The AOT build runs in a child process for sm_87 and the model's windows only, then comes from the cache
    (edge_swin.plugins.swin_window_attention.aot.kernel_cache, the one kernel build the bundle and the engine stage share)."""
    from edge_swin.plugins.swin_window_attention.aot import kernel_cache

    calls = []
    real_run = subprocess.run

    def fake_run(cmd, env=None, **kwargs):
        if cmd[1:3] != ["-m", "edge_swin.plugins.swin_window_attention.aot.build"]:  # e.g. `ptxas --version` (the cache key names it)
            return real_run(cmd, env=env, **kwargs)
        calls.append((cmd, env))
        out = Path(cmd[cmd.index("--out") + 1])
        only = cmd[cmd.index("--only") + 1:]
        windows = [tuple(int(v) for v in o[1:].split("x")) for o in only if o.startswith("w")]
        kernel_dir(out, sms=(int(cmd[cmd.index("--arch") + 1]),), windows=windows)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(kernel_cache.subprocess, "run", fake_run)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    built = kernel_cache.compiled_kernels({(4, 4), (7, 7)}, [87])
    assert built.notes == "" and built.sms == [87] and built.cpp.is_file()
    cmd, env = calls[0]
    assert cmd[1:3] == ["-m", "edge_swin.plugins.swin_window_attention.aot.build"] and cmd[cmd.index("--arch") + 1] == "87"
    assert cmd[cmd.index("--only") + 1:] == ["linear", "w4x4", "w7x7"]
    assert "TRITON_INTERPRET" not in env
    again = kernel_cache.compiled_kernels({(4, 4), (7, 7)}, [87])
    assert again.folder == built.folder and len(calls) == 1
    kernel_cache.compiled_kernels({(4, 4)}, [87])  # other windows: another build
    assert len(calls) == 2
    # a build that leaves out a kernel the model needs (here: the 7x7 attention) does not claim the SM
    monkeypatch.setattr(kernel_cache, "cache_root", lambda: tmp_path / "other-cache")
    monkeypatch.setattr(kernel_cache.subprocess, "run", lambda cmd, env, **kw: (
        kernel_dir(Path(cmd[cmd.index("--out") + 1]), sms=(87,), windows=[(4, 4)]),
        subprocess.CompletedProcess(cmd, 0, "", ""))[1])
    partial = kernel_cache.compiled_kernels({(4, 4), (7, 7)}, [87])
    assert partial.folder is None and "sm_87 left out" in partial.notes
