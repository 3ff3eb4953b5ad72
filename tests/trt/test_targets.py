"""The target table as data, and which host can build which target (no TensorRT needed)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from edge_swin.errors import TargetError
from edge_swin.trt import backend, builder, targets
from edge_swin.trt.metadata import GpuInfo


def test_every_target_has_what_a_build_needs():
    table = targets.load_targets()
    assert {"jetson-orin", "orin-nano", "t4", "a10", "l4", "a100", "h100", "rtx"} <= set(table)
    for t in table.values():
        assert t.build_on in targets.BUILD_ON and t.precisions and t.workspace_mib > 0
        assert 1 <= t.batch[0] <= t.batch[1] <= t.batch[2]
    assert table["rtx"].build_on == "cpu" and table["rtx"].flavour == "tensorrt_rtx"
    assert table["jetson-orin"].dla == "optional" and table["orin-nano"].dla == "none"
    assert table["jetson-orin"].sm == 87 and table["jetson-orin"].build_on == "device"


def test_which_gpu_an_engine_runs_on():
    t = targets.get_target
    assert t("jetson-orin").runs_on_sm(87) and not t("jetson-orin").runs_on_sm(86)
    assert t("rtx").runs_on_sm(89) and t("rtx").runs_on_sm(120) and not t("rtx").runs_on_sm(70)
    ampere_plus = targets.Target(**{**t("a10").as_dict(), "hardware_compatibility": "ampere_plus"})
    assert ampere_plus.runs_on_sm(90) and not ampere_plus.runs_on_sm(75)
    assert "SM 8.7" in t("jetson-orin").sm_requirement() and "SM >= 7.5" in t("rtx").sm_requirement()


def test_a_typo_in_the_table_fails_naming_the_row(tmp_path, monkeypatch):
    bad = tmp_path / "targets.toml"
    bad.write_text(targets.TABLE.read_text().replace('build_on = "cpu"', 'build_on = "laptop"'))
    monkeypatch.setattr(targets, "TABLE", bad)
    targets.load_targets.cache_clear()
    try:
        with pytest.raises(TargetError, match=r"\[rtx\] build_on = 'laptop'"):
            targets.load_targets()
    finally:
        monkeypatch.undo()
        targets.load_targets.cache_clear()


def test_gpu_target_without_a_gpu_names_the_fix():
    with pytest.raises(TargetError, match="no CUDA GPU.*--target rtx.*H100 host"):
        builder.check_build_host("h100", gpu=lambda: None)


def test_gpu_target_on_another_gpu_names_it():
    with pytest.raises(TargetError, match=r"needs SM 9\.0.*this GPU is NVIDIA A100.*SM 8\.0"):
        builder.check_build_host("h100", gpu=lambda: GpuInfo("NVIDIA A100", 80))


def test_jetson_target_off_the_device_points_to_the_bundle():
    with pytest.raises(TargetError, match="not the Jetson.*bundle"):
        builder.check_build_host("jetson-orin", gpu=lambda: None, machine=lambda: "x86_64")
    ok, why = builder.on_jetson_with_tensorrt(targets.get_target("jetson-orin"), gpu=lambda: GpuInfo("Orin", 87),
                                              machine=lambda: "aarch64")
    assert ok == backend.available("tensorrt") and (ok or "TensorRT" in why)


def test_rtx_target_without_tensorrt_rtx_says_how_to_install(monkeypatch):
    def missing(flavour=None):
        raise backend.TensorRTUnavailable("no module named tensorrt_rtx")
    monkeypatch.setattr(backend, "load", missing)
    with pytest.raises(TargetError, match="pip install tensorrt-rtx-cu13"):
        builder.check_build_host("rtx")


def _fake_backend(flavour: str, version: str, flags: tuple[str, ...]):
    module = SimpleNamespace(BuilderFlag=SimpleNamespace(**{f: i for i, f in enumerate(flags)}),
                             IBuilderConfig=SimpleNamespace(create_timing_cache=None))
    return backend.Backend(trt=module, flavour=flavour, version=version)


def test_int8_fallback_decision_per_tensorrt():
    """TensorRT 10: weakly typed + FP16/INT8 flags; TensorRT 11 (no such flags) and RTX: strongly typed."""
    trt10 = _fake_backend("tensorrt", "10.3.0.30", ("FP16", "INT8", "GPU_FALLBACK"))
    trt11 = _fake_backend("tensorrt", "11.1.0.5", ("GPU_FALLBACK",))
    rtx = _fake_backend("tensorrt_rtx", "1.7.1.116", ("GPU_FALLBACK",))
    assert builder.network_typing(trt10, "int8") == "weak"
    assert builder.network_typing(trt10, "fp16") == builder.network_typing(trt10, "fp32") == "strong"
    assert builder.network_typing(trt11, "int8") == "strong" and builder.network_typing(rtx, "int8") == "strong"
    assert trt10.timing_cache and trt11.timing_cache and not rtx.timing_cache
    assert (trt10.major, trt11.major, rtx.major) == (10, 11, 1)
