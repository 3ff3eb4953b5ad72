"""Building the plugin for a target: where the TensorRT headers come from (trt_headers.py) and the node's one build
(plugin_build.py: kernel table, then the cached library). No compiler runs here: the CMake build is
tests/plugins/test_plugin_library.py's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_swin.errors import EdgeSwinError, PluginLibraryError
from edge_swin.plugins.swin_window_attention import library, plugin_build, trt_headers
from edge_swin.plugins.swin_window_attention.aot.kernel_cache import KERNELS_CPP, MANIFEST, Kernels


def headers(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / trt_headers.HEADER).write_text("// stand-in\n")
    return folder


@pytest.fixture
def nothing_installed(monkeypatch):
    """A machine with no TensorRT installed and no header variables set."""
    for name in (trt_headers.HEADERS_ENV, trt_headers.HEADER_SETS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(trt_headers, "compiler_include_dirs", lambda: ())
    monkeypatch.setattr(trt_headers, "INSTALLED_DIRS", ())
    monkeypatch.setattr(trt_headers, "wheel_include_dirs", lambda: [])


def test_headers_in_order(tmp_path, monkeypatch, nothing_installed):
    """--trt-headers, then $EDGE_SWIN_TRT_HEADERS, then the target's release among $EDGE_SWIN_TRT_HEADERS_ROOT's
    sets, then an installed TensorRT's, then the 11.1 set."""
    sets = tmp_path / "sets"
    for release in ("10.3.0", trt_headers.RTX_HEADER_SET):
        headers(sets / f"tensorrt-{release}" / "include")
    installed = headers(tmp_path / "usr" / "include" / "x86_64-linux-gnu")
    explicit, env = headers(tmp_path / "explicit"), headers(tmp_path / "env")

    assert trt_headers.find_header_dir() is None
    monkeypatch.setenv(trt_headers.HEADER_SETS_ENV, str(sets))
    assert trt_headers.find_header_dir() == sets / "tensorrt-11.1" / "include"
    assert trt_headers.find_header_dir(release="10.3.0") == sets / "tensorrt-10.3.0" / "include"
    assert trt_headers.find_header_dir(release="10.16") == sets / "tensorrt-11.1" / "include"  # no 10.16 set here
    monkeypatch.setattr(trt_headers, "compiler_include_dirs", lambda: (tmp_path / "none", installed))
    assert trt_headers.find_header_dir() == installed
    assert trt_headers.find_header_dir(release="10.3.0") == sets / "tensorrt-10.3.0" / "include"
    monkeypatch.setenv(trt_headers.HEADERS_ENV, str(env))
    assert trt_headers.find_header_dir(release="10.3.0") == env
    assert trt_headers.find_header_dir(explicit, release="10.3.0") == explicit


def test_no_headers_is_one_error_naming_every_way(tmp_path, monkeypatch, nothing_installed):
    with pytest.raises(PluginLibraryError) as err:
        trt_headers.require_header_dir()
    message = str(err.value)
    for way in ("--trt-headers", trt_headers.HEADERS_ENV, trt_headers.HEADER_SETS_ENV, "nvidia-tensorrt-dev"):
        assert way in message
    with pytest.raises(PluginLibraryError, match=r"no TensorRT headers in --trt-headers"):
        trt_headers.find_header_dir(tmp_path)  # a folder given without the headers is an error, not a fallback
    monkeypatch.setenv(trt_headers.HEADERS_ENV, str(tmp_path))
    with pytest.raises(PluginLibraryError, match=trt_headers.HEADERS_ENV):
        trt_headers.find_header_dir()
    plugin = plugin_build.build_plugin([(7, 7)], [87])
    assert plugin.library is None and trt_headers.HEADERS_ENV in plugin.notes


def test_the_compiler_include_path_is_read(monkeypatch):
    """`c++ -E -v`'s search list (where JetPack and the Debian packages put NvInfer.h)."""
    trt_headers.compiler_include_dirs.cache_clear()
    try:
        dirs = trt_headers.compiler_include_dirs()
    finally:
        trt_headers.compiler_include_dirs.cache_clear()
    if not dirs:
        pytest.skip("no C++ compiler here")
    assert Path("/usr/include") in dirs


def kernel_dir(folder: Path, sms) -> Path:
    folder.mkdir(parents=True)
    (folder / KERNELS_CPP).write_text("// stand-in\n")
    (folder / MANIFEST).write_text(json.dumps({"kernels": [{"family": "linear", "sm": sm} for sm in sms]}))
    return folder


def test_a_prebuilt_kernel_table_covers_what_its_manifest_says(tmp_path, monkeypatch):
    monkeypatch.setattr(plugin_build, "compiled_kernels", lambda *a, **k: pytest.fail("compiled with a table given"))
    table = kernel_dir(tmp_path / "k", (80, 87))
    kernels = plugin_build.kernel_table([(7, 7)], [87, 90], kernels_dir=table)
    assert kernels.folder == table and kernels.sms == [87] and "sm_90 left out" in kernels.notes
    with pytest.raises(EdgeSwinError, match=r"has kernels for sm_80, sm_87, not for sm_90: build them with .*--arch 90"):
        plugin_build.kernel_table([(7, 7)], [90], kernels_dir=table)
    monkeypatch.setenv(plugin_build.KERNELS_ENV, str(table / KERNELS_CPP))
    assert plugin_build.kernel_table([(7, 7)], [80]).sms == [80]


def test_build_plugin_is_kernels_then_the_cached_library(tmp_path, monkeypatch, nothing_installed):
    """One call: the kernel build with the target's CUDA release, the headers of its TensorRT release, then the
    cached CMake build; a kernel failure comes back as the reason, never a library."""
    sets = tmp_path / "sets"
    jetpack6 = headers(sets / "tensorrt-10.3.0" / "include")
    monkeypatch.setenv(trt_headers.HEADER_SETS_ENV, str(sets))
    table = kernel_dir(tmp_path / "k", (87,))
    asked, built = [], []
    monkeypatch.setattr(plugin_build, "compiled_kernels",
                        lambda windows, sms, cuda: asked.append((windows, sms, cuda)) or Kernels(table, [87], ""))
    monkeypatch.setattr(library, "cached_library",
                        lambda h, cpp, out: built.append((h, cpp, out)) or tmp_path / library.LIBRARY_NAME)
    plugin = plugin_build.build_plugin([(7, 7)], [87], cuda="12.6", trt_release="10.3.0")
    assert plugin == plugin_build.Plugin(tmp_path / library.LIBRARY_NAME, [87], "", jetpack6)
    assert asked == [([(7, 7)], [87], "12.6")] and built == [(jetpack6, table / KERNELS_CPP, None)]

    monkeypatch.setattr(plugin_build, "compiled_kernels", lambda *a: Kernels(None, [], "no triton here"))
    plugin = plugin_build.build_plugin([(7, 7)], [87], cuda="12.6", trt_release="10.3.0")
    assert plugin.library is None and plugin.notes == "no triton here" and len(built) == 1


def test_cached_library_builds_once(tmp_path, monkeypatch):
    """No out_dir: a cache folder keyed on the kernel table, the headers and csrc/; the second call builds nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = []

    def fake_build(header_dir, kernels_cpp, out_dir):
        calls.append(out_dir)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / library.LIBRARY_NAME).write_text("stand-in")
        return Path(out_dir) / library.LIBRARY_NAME

    monkeypatch.setattr(library, "build_library", fake_build)
    table = kernel_dir(tmp_path / "k", (87,)) / KERNELS_CPP
    first = library.cached_library(headers(tmp_path / "h"), table)
    assert library.cached_library(tmp_path / "h", table) == first and len(calls) == 1
    assert str(first).startswith(str(tmp_path / "cache"))
    library.cached_library(headers(tmp_path / "h2"), table)  # other headers: another library
    assert len(calls) == 2
    with pytest.raises(PluginLibraryError, match="does not exist"):
        library.cached_library(tmp_path / "h", tmp_path / "absent.cpp")


def test_the_engine_stage_hands_the_target_facts_to_the_one_build(monkeypatch):
    """edge_swin.trt.plugin_cache reads the target table; the node's build gets its SMs, CUDA and TensorRT releases."""
    from edge_swin.trt import plugin_cache
    from edge_swin.trt.targets import get_target

    asked = []
    monkeypatch.setattr(plugin_cache, "build_plugin", lambda windows, sms, **facts: asked.append((sms, facts)) or
                        plugin_build.Plugin(None, [], "stand-in"))
    plugin_cache.plugin_for_target([(7, 7)], get_target("jetson-orin"))
    plugin_cache.plugin_for_target([(7, 7)], get_target("h100"), header_dir=Path("/x"), cuda="12.6")
    assert asked[0] == ([87], {"cuda": "12.6", "trt_release": "10.3.0", "header_dir": None, "out_dir": None})
    assert asked[1] == ([90], {"cuda": "12.6", "trt_release": "11.1", "header_dir": Path("/x"), "out_dir": None})
