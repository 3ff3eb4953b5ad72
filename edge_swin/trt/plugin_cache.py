"""Our plugin library for a model and a target, built here ahead of time (no GPU) and cached.

    library, sms, reason = plugin_library_for(onnx_paths, target)   # (None, (), "why not") when it cannot be had

Two steps, each cached under ~/.cache/edge_swin/ by everything it depends on, so a pipeline rerun, a second
run folder or the test suite pay for them once: the Triton kernels the model needs (its attention windows,
both linears) for the target's SMs, with the ptxas of the target's CUDA release
(`edge_swin.plugins.swin_window_attention.aot.kernel_cache.compiled_kernels`), then
`edge_swin.plugins.swin_window_attention.library.build_library` (CMake) against the TensorRT headers of the target (or the default
ones). An SM whose kernels do not compile is left out, once, and said so: the sidecar of a plugin engine
lists the SMs its library has kernels for, and loading refuses other GPUs.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.plugins.swin_window_attention.contract import model_windows
from edge_swin.plugins.swin_window_attention import library
from edge_swin.plugins.swin_window_attention.aot.build import ALL_ARCHS
from edge_swin.plugins.swin_window_attention.aot.kernel_cache import compiled_kernels, digest, manifest_sms, sources_digest
from edge_swin.trt.targets import Target
from edge_swin.utils.io import cache_root, sha256_file


def target_sms(target: Target) -> list[int]:
    """The SMs the plugin kernels are compiled for: those of edge_swin.plugins.swin_window_attention.aot.build the target's engines run on."""
    return [sm for sm in ALL_ARCHS if target.runs_on_sm(sm)]


def target_header_dir(target: Target | None) -> Path | None:
    """The TensorRT headers to build the plugin library against for `target`: $EDGE_SWIN_TRT_HEADERS, else the
    copy of the target's own TensorRT release under shared/third_party (10.3.0 for JetPack 6, ...), else
    library.default_header_dir()."""
    if target is not None and not os.environ.get("EDGE_SWIN_TRT_HEADERS"):
        own = library.HEADERS_ROOT / f"tensorrt-{target.tensorrt}" / "include"
        if (own / "NvInferRuntime.h").is_file():
            return own
    return library.default_header_dir()


def build_plugin_library(windows, sms: list[int], out_dir: Path | None = None, header_dir: Path | None = None,
                         cuda: str | None = None) -> tuple[Path | None, list[int], str]:
    """(libedge_swin_plugins.so, SMs with kernels, notes) for these windows and SMs, or (None, [], why not).

    out_dir: where the library goes; default a cache folder keyed on the kernel table, the headers and csrc/.
    cuda: the target's CUDA release (targets.toml `cuda`): its ptxas compiles the cubins (edge_swin/plugins/swin_window_attention/aot/ptxas.py);
    None: Triton's bundled ptxas.
    """
    header_dir = header_dir or library.default_header_dir()
    if header_dir is None:
        return None, [], ("no TensorRT headers to build the plugin against: set EDGE_SWIN_TRT_HEADERS to a TensorRT "
                          "include/ folder")
    explicit = os.environ.get("EDGE_SWIN_PLUGIN_KERNELS")
    if explicit:
        kernels_cpp, sms, notes = Path(explicit), manifest_sms(Path(explicit).parent), ""
    else:
        kernels = compiled_kernels(windows, sms, cuda)
        if kernels.folder is None:
            return None, [], kernels.notes
        kernels_cpp, sms, notes = kernels.cpp, kernels.sms, kernels.notes
    cached = out_dir is None
    if cached:
        out_dir = cache_root() / "plugins" / digest(sha256_file(kernels_cpp), header_dir,
                                                    sources_digest(library.CSRC, "*"))
    if not (cached and (out_dir / library.LIBRARY_NAME).is_file()):  # CMake rebuilds only what changed
        try:
            library.build_library(header_dir, kernels_cpp, out_dir)
        except (EdgeSwinError, OSError) as e:
            return None, [], f"the plugin library did not build: {e}"
    return out_dir / library.LIBRARY_NAME, sms, notes


def plugin_library_for(onnx_paths, target: Target) -> tuple[Path | None, list[int], str]:
    """(libedge_swin_plugins.so, SMs with kernels, notes) for these files' windows and the target, or
    (None, [], why not). Nothing is faked: every failure comes back as the reason."""
    windows = model_windows(onnx_paths)
    if not windows:
        return None, [], "the ONNX files have no SwinWindowAttention nodes (a --no-custom-op export)"
    return build_plugin_library(windows, target_sms(target), header_dir=library.default_header_dir(),
                                cuda=target.cuda)


def copy_into(library_path: Path, folder: Path) -> Path:
    """The library beside the engines that need it (the sidecar records it relative to them)."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / library_path.name
    if not dest.is_file() or sha256_file(dest) != sha256_file(library_path):
        tmp = dest.with_suffix(".partial")
        shutil.copyfile(library_path, tmp)
        os.replace(tmp, dest)
    return dest
