"""Our plugin library for a model and a target: the target's facts handed to the node's one build.

    library, sms, reason = plugin_library_for(onnx_paths, target)   # (None, [], "why not") when it cannot be had

The build itself (kernels compiled ahead of time with the ptxas of the target's CUDA release, the TensorRT
headers, CMake; each step cached) is `edge_swin.plugins.swin_window_attention.plugin_build.build_plugin`, which
does not read the target table: this module reads it and passes the target's SMs, CUDA and TensorRT releases.
An SM whose kernels do not compile is left out, once, and said so: the sidecar of a plugin engine lists the SMs
its library has kernels for, and loading refuses other GPUs.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from edge_swin.plugins.swin_window_attention.aot.build import ALL_ARCHS
from edge_swin.plugins.swin_window_attention.contract import model_windows
from edge_swin.plugins.swin_window_attention.plugin_build import Plugin, build_plugin
from edge_swin.trt.targets import Target
from edge_swin.utils.io import sha256_file


def target_sms(target: Target) -> list[int]:
    """The SMs the plugin kernels are compiled for: those of the AOT build the target's engines run on."""
    return [sm for sm in ALL_ARCHS if target.runs_on_sm(sm)]


def plugin_for_target(windows, target: Target, *, header_dir: Path | None = None, out_dir: Path | None = None,
                      sms: list[int] | None = None, cuda: str | None = None) -> Plugin:
    """build_plugin with `target`'s facts: its SMs (or `sms`), its CUDA release (or `cuda`) and its TensorRT release
    (whose header set is preferred where several are at hand)."""
    return build_plugin(windows, sms or target_sms(target), cuda=cuda or target.cuda, trt_release=target.tensorrt,
                        header_dir=header_dir, out_dir=out_dir)


def plugin_library_for(onnx_paths, target: Target) -> tuple[Path | None, list[int], str]:
    """(libedge_swin_plugins.so, SMs with kernels, notes) for these files' windows and the target, or
    (None, [], why not). Nothing is faked: every failure comes back as the reason."""
    windows = model_windows(onnx_paths)
    if not windows:
        return None, [], "the ONNX files have no SwinWindowAttention nodes (a --no-custom-op export)"
    plugin = plugin_for_target(windows, target)
    return plugin.library, plugin.sms, plugin.notes


def copy_into(library_path: Path, folder: Path) -> Path:
    """The library beside the engines that need it (the sidecar records it relative to them)."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / library_path.name
    if not dest.is_file() or sha256_file(dest) != sha256_file(library_path):
        tmp = dest.with_suffix(".partial")
        shutil.copyfile(library_path, tmp)
        os.replace(tmp, dest)
    return dest
