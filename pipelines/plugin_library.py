"""One command: the SwinWindowAttention plugin library (`libedge_swin_plugins.so`) for a target or an SM.

    python -m pipelines.plugin_library --target jetson-orin     # sm_87 kernels (CUDA 12.6 ptxas), TensorRT 10.3.0
    python -m pipelines.plugin_library --arch 87                # sm_87 kernels, Triton's ptxas, the found headers
    python -m pipelines.plugin_library --target rtx --onnx runs/<name>/export/model_int8.onnx
    python -m pipelines.plugin_library --target h100 --trt-headers /opt/tensorrt/include

A thin client of the node's one build (edge_swin.plugins.swin_window_attention.plugin_build.build_plugin): it
reads the target's facts from edge_swin/trt/targets.toml and puts the library where you ask. The Triton kernels
are compiled ahead of time for the SMs (no GPU needed, cached), then the C++ library is built with CMake against
the TensorRT headers: --trt-headers, else $EDGE_SWIN_TRT_HEADERS, else the target's release among the sets of
$EDGE_SWIN_TRT_HEADERS_ROOT (tensorrt-<release>/include), else an installed TensorRT's. Prints where the library
is. Kernels: every attention window the kernels ship (4x4, 7x7, 12x12) unless --onnx names the model whose
windows to build.

The library is built for the machine this runs on (its compiler and CPU architecture): for a Jetson, run it
on the Jetson (or let the bundle's build_engine.sh do it there).
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.plugins.swin_window_attention import library
from edge_swin.plugins.swin_window_attention.aot.build import ALL_ARCHS
from edge_swin.plugins.swin_window_attention.contract import model_windows
from edge_swin.plugins.swin_window_attention.plugin_build import build_plugin
from edge_swin.plugins.swin_window_attention.trt_headers import require_header_dir
from edge_swin.trt.plugin_cache import plugin_for_target, target_sms
from edge_swin.trt.targets import get_target, target_names

DEFAULT_OUT = Path("build/plugins")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pipelines.plugin_library", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--target", metavar="NAME", help=f"a target of edge_swin/trt/targets.toml ({', '.join(target_names())})")
    which.add_argument("--arch", metavar="SM", help=f"compute capabilities, comma separated (of {', '.join(map(str, ALL_ARCHS))})")
    p.add_argument("--onnx", type=Path, nargs="+", help="build only the kernels these exported files need")
    p.add_argument("--trt-headers", "--headers", dest="trt_headers", type=Path, metavar="DIR",
                   help="the TensorRT include/ folder (NvInferRuntime.h) to build against (default: see above)")
    p.add_argument("--cuda", metavar="RELEASE", help="compile the kernels with this CUDA release's ptxas (e.g. 12.6; "
                   "edge_swin/plugins/swin_window_attention/aot/ptxas.py); default: the target's `cuda` (targets.toml), with --arch Triton's own")
    p.add_argument("--out", type=Path, help=f"output folder (default: {DEFAULT_OUT}/<target or sm_NN>)")
    return p.parse_args(argv)


def _sms(args) -> list[int]:
    if args.target:
        return target_sms(get_target(args.target))
    try:
        sms = [int(v) for v in args.arch.split(",") if v.strip()]
    except ValueError:
        raise EdgeSwinError(f"--arch {args.arch}: give compute capabilities as numbers, e.g. --arch 87 or 80,90") from None
    unknown = [sm for sm in sms if sm not in ALL_ARCHS]
    if unknown or not sms:
        raise EdgeSwinError(f"--arch {args.arch}: the kernels are built for {', '.join(map(str, ALL_ARCHS))}")
    return sms


def _windows(args) -> list[tuple[int, int]]:
    if not args.onnx:
        from edge_swin.plugins.swin_window_attention.kernels.window_attention import WINDOWS  # imports Triton: only here

        return [tuple(w) for w in WINDOWS]
    missing = [str(p) for p in args.onnx if not p.is_file()]
    if missing:
        raise EdgeSwinError(f"ONNX file(s) not found: {', '.join(missing)}")
    windows = model_windows(args.onnx)
    if not windows:
        raise EdgeSwinError(f"{', '.join(map(str, args.onnx))} have no SwinWindowAttention nodes (a --no-custom-op "
                            "export): there is nothing for the plugin to replace")
    return windows


def run(args) -> Path:
    target = get_target(args.target) if args.target else None
    sms, windows = _sms(args), _windows(args)
    header_dir = require_header_dir(args.trt_headers, target.tensorrt if target else None)
    out = Path(args.out or DEFAULT_OUT / (target.name if target else "sm_" + "_".join(map(str, sms)))).resolve()
    print(f"[plugin] {library.LIBRARY_NAME} for sm_{', sm_'.join(map(str, sms))}, windows "
          f"{', '.join(f'{h}x{w}' for h, w in windows)}, TensorRT headers {header_dir}")
    if target is not None:
        plugin = plugin_for_target(windows, target, header_dir=header_dir, out_dir=out, cuda=args.cuda)
    else:
        plugin = build_plugin(windows, sms, cuda=args.cuda, header_dir=header_dir, out_dir=out)
    built, covered, notes = plugin.library, plugin.sms, plugin.notes
    if built is None:
        raise EdgeSwinError(f"the plugin library was not built: {notes}")
    have = f"sm_{', sm_'.join(map(str, covered))}" if covered else "the SMs of the given kernel table (no manifest.json)"
    print(f"[plugin] kernels for {have}" + (f"; {notes}" if notes else ""))
    if target is not None and target.is_jetson and platform.machine() != "aarch64":
        print(f"[plugin] note: built for this {platform.machine()} host, not for {target.name}'s aarch64: on the "
              "Jetson run this command there (or the bundle's build_engine.sh)")
    print(built)
    return built


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except EdgeSwinError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
