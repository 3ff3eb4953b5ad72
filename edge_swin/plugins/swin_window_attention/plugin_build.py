"""The plugin for a target, in two calls: its kernel table, and its library (kernels + headers + CMake).

    kernels = kernel_table(windows, sms=[87], cuda="12.6")       # Kernels(folder, sms, notes): the AOT build
    plugin = build_plugin(windows, sms=[87], cuda="12.6", trt_release="10.3.0")
    plugin.library, plugin.sms, plugin.notes                      # library None: notes say why

The target's facts (its SMs, the CUDA release whose ptxas makes the cubins, the TensorRT release whose headers
the library is built against) are arguments: this package does not read the target table (edge_swin.trt does,
and calls these; so does `python -m pipelines.plugin_library`). Both steps are cached by everything they depend
on (aot/kernel_cache.py, library.cached_library), so a pipeline rerun or the test suite pays for them once.

$EDGE_SWIN_PLUGIN_KERNELS: the embedded_kernels.cpp of a build made elsewhere (python -m
edge_swin.plugins.swin_window_attention.aot.build), used instead of compiling; its manifest.json beside it says
which SMs it covers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.plugins.swin_window_attention import library
from edge_swin.plugins.swin_window_attention.aot.kernel_cache import (
    KERNELS_CPP,
    Kernels,
    compiled_kernels,
    manifest_sms,
)
from edge_swin.plugins.swin_window_attention.trt_headers import FIX, find_header_dir

KERNELS_ENV = "EDGE_SWIN_PLUGIN_KERNELS"


@dataclass(frozen=True)
class Plugin:
    library: Path | None     # libedge_swin_plugins.so; None: `notes` say why
    sms: list[int]           # the SMs its kernels cover
    notes: str               # what was left out and why (or, with no library, why none)
    header_dir: Path | None = None  # the TensorRT headers it was built against


def kernel_table(windows, sms, *, cuda: str | None = None, kernels_dir: Path | None = None) -> Kernels:
    """The kernels a model with these attention windows needs for these SMs: the AOT build (kernels, the ptxas of
    CUDA release `cuda`, cache: aot/kernel_cache.compiled_kernels), or a prebuilt one: `kernels_dir` (a
    `python -m ...aot.build` output folder), else $EDGE_SWIN_PLUGIN_KERNELS. A prebuilt table covers the SMs
    its manifest lists (those not asked for are not claimed; those asked for and missing are named in notes) and
    EdgeSwinError names the build command when it covers none of them. Kernels.folder is None with the reason
    in notes when nothing can be had."""
    prebuilt = Path(kernels_dir) if kernels_dir is not None else None
    if prebuilt is None and os.environ.get(KERNELS_ENV):
        prebuilt = Path(os.environ[KERNELS_ENV]).parent
    if prebuilt is None:
        return compiled_kernels(windows, list(sms), cuda)
    if not (prebuilt / KERNELS_CPP).is_file():
        return Kernels(None, [], f"{prebuilt / KERNELS_CPP} does not exist: build it with "
                                 "python -m edge_swin.plugins.swin_window_attention.aot.build")
    have = manifest_sms(prebuilt)
    if not have:  # a table without a manifest: its SMs are unknown, trust the caller's
        return Kernels(prebuilt, list(sms), "")
    covered, missing = [sm for sm in sms if sm in have], [sm for sm in sms if sm not in have]
    build = "python -m edge_swin.plugins.swin_window_attention.aot.build --arch " + ",".join(map(str, missing))
    if not covered:
        raise EdgeSwinError(f"{prebuilt} has kernels for sm_{', sm_'.join(map(str, have))}, not for "
                            f"sm_{', sm_'.join(map(str, missing))}: build them with {build}")
    left_out = {sm: f"not in the prebuilt table {prebuilt} ({build})" for sm in missing}
    return Kernels(prebuilt, covered, "; ".join(f"sm_{sm} left out ({why})" for sm, why in left_out.items()), left_out)


def build_plugin(windows, sms, *, cuda: str | None = None, trt_release: str | None = None,
                 header_dir: Path | None = None, out_dir: Path | None = None,
                 kernels_dir: Path | None = None) -> Plugin:
    """The plugin library for these attention windows and SMs, or Plugin(None, [], why not): nothing is faked.

    cuda: the target's CUDA release (its ptxas makes the cubins; None: Triton's bundled one).
    trt_release: the target's TensorRT release, whose header set is preferred (trt_headers.find_header_dir).
    header_dir: the TensorRT include/ folder to build against (--trt-headers); default found by trt_headers.
    out_dir: where the library goes; default a cache folder (library.cached_library).
    kernels_dir: a prebuilt kernel table to use (kernel_table).
    """
    try:
        headers = find_header_dir(header_dir, trt_release)
    except EdgeSwinError as e:
        return Plugin(None, [], str(e))
    if headers is None:
        return Plugin(None, [], f"no TensorRT headers to build the plugin against: {FIX}")
    try:
        kernels = kernel_table(windows, sms, cuda=cuda, kernels_dir=kernels_dir)
    except EdgeSwinError as e:
        return Plugin(None, [], str(e), headers)
    if kernels.folder is None:
        return Plugin(None, [], kernels.notes, headers)
    try:
        built = library.cached_library(headers, kernels.cpp, out_dir)
    except (EdgeSwinError, OSError) as e:
        return Plugin(None, [], f"the plugin library did not build: {e}", headers)
    return Plugin(built, kernels.sms, kernels.notes, headers)
