"""Every refusal of an engine this machine cannot run, on a real TensorRT-RTX engine with doctored sidecars.

The current GPU and the installed TensorRT version are injected (`gpu=`, `tensorrt_version=`), so each case
runs on a CPU; the one check that passes needs a GPU of the right SM, which the injection provides too.
"""
from __future__ import annotations

import json
import shutil

import pytest

from edge_swin.trt import metadata
from edge_swin.trt.metadata import (
    EngineMismatch,
    GpuInfo,
    MetadataError,
    NeedsGPU,
    check_engine,
)
from tests.helpers import needs_trtrtx

pytestmark = [pytest.mark.trtrtx, needs_trtrtx]
RTX_4090 = GpuInfo("NVIDIA GeForce RTX 4090", 89)
ORIN = GpuInfo("Orin", 87)


@pytest.fixture
def engine(engines, tmp_path):
    """A private copy of the INT8 engine and its sidecar, free to doctor."""
    src = engines["int8"].engine
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(metadata.sidecar_path(src), metadata.sidecar_path(dst))
    return dst


def doctor(engine, **changes):
    path = metadata.sidecar_path(engine)
    meta = json.loads(path.read_text())
    for dotted, value in changes.items():
        node, *keys = dotted.split("__")
        target = meta[node]
        for k in keys[:-1]:
            target = target[k]
        if keys:
            target[keys[-1]] = value
        else:
            meta[node] = value
    path.write_text(json.dumps(meta))


def test_the_engine_passes_on_a_matching_gpu(engine):
    meta = check_engine(engine, gpu=lambda: RTX_4090)
    assert meta["precision"] == "int8" and meta["plugin"] is None


def test_no_gpu(engine):
    with pytest.raises(NeedsGPU, match=r"needs a CUDA GPU \(SM >= 7\.5\) and there is none here.*ONNX Runtime"):
        check_engine(engine, gpu=lambda: None)


def test_gpu_too_old_for_rtx(engine):
    with pytest.raises(EngineMismatch, match=r"built for target rtx \(SM >= 7\.5\).*SM 7\.0.*rebuild"):
        check_engine(engine, gpu=lambda: GpuInfo("Tesla V100", 70))


def test_engine_for_another_sm(engine):
    doctor(engine, target__name="jetson-orin", target__sm=87, target__gpu="Orin (Ampere iGPU)")
    check_engine(engine, gpu=lambda: ORIN)
    with pytest.raises(EngineMismatch, match=r"target jetson-orin \(SM 8\.7.*this GPU is NVIDIA H100, SM 9\.0"):
        check_engine(engine, gpu=lambda: GpuInfo("NVIDIA H100", 90))
    doctor(engine, target__hardware_compatibility="ampere_plus")  # hardware-compatible: any SM >= 8.0 will do
    check_engine(engine, gpu=lambda: GpuInfo("NVIDIA H100", 90))


def test_other_tensorrt_release(engine):
    with pytest.raises(EngineMismatch, match=r"built with tensorrt_rtx 1\.7.*has tensorrt_rtx 1\.8\.0.*Rebuild it here"):
        check_engine(engine, gpu=lambda: RTX_4090, tensorrt_version=lambda flavour: "1.8.0.10")


def test_tensorrt_flavour_not_installed(engine):
    doctor(engine, tensorrt__flavour="tensorrt", tensorrt__version="10.3.0.30")
    with pytest.raises(EngineMismatch, match=r"built with tensorrt 10\.3\.0\.30, which is not installed here"):
        check_engine(engine, gpu=lambda: ORIN, tensorrt_version=lambda flavour: None)


def test_version_compatible_engine_accepts_a_newer_runtime():
    assert metadata.runtime_accepts("10.3.0.30", "10.3.0.26", False)  # build number does not matter
    assert not metadata.runtime_accepts("10.3.0.30", "10.16.0.1", False)
    assert metadata.runtime_accepts("10.3.0.30", "10.16.0.1", True)
    assert not metadata.runtime_accepts("10.3.0.30", "11.1.0.1", True) and not metadata.runtime_accepts("10.16", "10.3", True)


def test_plugin_library_missing_or_different(engine, tmp_path):
    lib = tmp_path / "libedge_swin_plugins.so"
    lib.write_bytes(b"the library the engine was built with")
    doctor(engine, plugin={"library": lib.name, "sha256": metadata.sha256_file(lib), "layers": 4, "custom_ops": 4})
    meta = check_engine(engine, gpu=lambda: RTX_4090)  # found beside the engine, as recorded
    assert meta["plugin"]["resolved"] == str(lib)
    other = tmp_path / "other.so"
    other.write_bytes(b"a rebuilt library")
    with pytest.raises(EngineMismatch, match=r"other\.so .* is not the one .* was built with"):
        check_engine(engine, plugin_library=other, gpu=lambda: RTX_4090)
    lib.unlink()
    with pytest.raises(EngineMismatch, match="4 SwinWindowAttention plugin layers and needs its plugin library.*not found"):
        check_engine(engine, gpu=lambda: RTX_4090)


def test_engine_replaced_without_its_sidecar(engine):
    engine.write_bytes(engine.read_bytes()[:-1] + b"\0")
    with pytest.raises(MetadataError, match="does not match its sidecar"):
        check_engine(engine, gpu=lambda: RTX_4090)


def test_missing_broken_or_foreign_sidecar(engine):
    sidecar = metadata.sidecar_path(engine)
    sidecar.write_text("{not json")
    with pytest.raises(MetadataError, match="not valid JSON"):
        check_engine(engine, gpu=lambda: RTX_4090)
    sidecar.write_text(json.dumps({"format": "polygraphy"}))
    with pytest.raises(MetadataError, match="not an edge-swin engine sidecar"):
        check_engine(engine, gpu=lambda: RTX_4090)
    sidecar.unlink()
    with pytest.raises(MetadataError, match="no metadata sidecar"):
        check_engine(engine, gpu=lambda: RTX_4090)
    with pytest.raises(MetadataError, match="engine not found"):
        check_engine(engine.with_name("gone.engine"))
