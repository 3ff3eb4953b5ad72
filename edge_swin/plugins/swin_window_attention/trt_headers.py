"""Which TensorRT headers the plugin library is built against: asked for, or an installed TensorRT's.

    header_dir = find_header_dir()                       # Path, or None when there are none
    header_dir = find_header_dir(release="10.3.0")       # a JetPack 6 target: that release's set where there is one
    header_dir = require_header_dir(explicit)            # Path, or PluginLibraryError naming the ways to give them

The headers are those of the TensorRT that will load the library. In order:
  1. `explicit` (a command's --trt-headers): a folder holding NvInferRuntime.h;
  2. $EDGE_SWIN_TRT_HEADERS: the same, for every build in the process;
  3. $EDGE_SWIN_TRT_HEADERS_ROOT/tensorrt-<release>/include: one folder holding several releases' public
     headers side by side (how CI builds against 10.3.0, 10.16 and 11.1 on a machine without TensorRT), the
     target's release when the caller names one;
  4. an installed TensorRT: the C++ compiler's include path (JetPack, NGC containers, the Debian packages put
     NvInfer.h in /usr/include/<arch>-linux-gnu), /usr/local/TensorRT/include, /opt/tensorrt/include, or the
     include/ folder of a TensorRT wheel;
  5. $EDGE_SWIN_TRT_HEADERS_ROOT/tensorrt-11.1/include (RTX_HEADER_SET: what TensorRT-RTX 1.7 loads).
Nothing outside these is searched: the repository ships no headers.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

from edge_swin.errors import PluginLibraryError

HEADER = "NvInferRuntime.h"
HEADERS_ENV = "EDGE_SWIN_TRT_HEADERS"          # one TensorRT include/ folder
HEADER_SETS_ENV = "EDGE_SWIN_TRT_HEADERS_ROOT"  # a folder of tensorrt-<release>/include sets
RTX_HEADER_SET = "11.1"  # TensorRT-RTX 1.7 loads a library built against the 11.1 (or 10.3.0) headers
INSTALLED_DIRS = ("/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/include",
                  "/usr/local/TensorRT/include", "/opt/tensorrt/include")
WHEELS = ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-cu12-libs", "tensorrt-cu13-libs")
FIX = (f"pass --trt-headers <TensorRT include/ folder>, set {HEADERS_ENV} to it, set {HEADER_SETS_ENV} to a folder "
       "of tensorrt-<release>/include sets, or install TensorRT's headers (JetPack: apt install nvidia-tensorrt-dev; "
       "x86: the TensorRT tar or the libnvinfer-dev package)")


def has_headers(folder) -> bool:
    return folder is not None and (Path(folder) / HEADER).is_file()


def header_sets_root() -> Path | None:
    """$EDGE_SWIN_TRT_HEADERS_ROOT, the folder of tensorrt-<release>/include sets; None when unset."""
    value = os.environ.get(HEADER_SETS_ENV)
    return Path(value).expanduser() if value else None


def header_set(release: str) -> Path | None:
    """$EDGE_SWIN_TRT_HEADERS_ROOT/tensorrt-<release>/include when it holds the headers, else None."""
    root = header_sets_root()
    folder = None if root is None else root / f"tensorrt-{release}" / "include"
    return folder if has_headers(folder) else None


@functools.lru_cache(maxsize=None)
def compiler_include_dirs() -> tuple[Path, ...]:
    """The C++ compiler's system include path (`c++ -E -v`), () when there is no compiler."""
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        return ()
    try:
        proc = subprocess.run([compiler, "-E", "-x", "c++", "-", "-v"], input="", capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    lines = proc.stderr.splitlines()
    try:
        start = lines.index("#include <...> search starts here:") + 1
        end = lines.index("End of search list.", start)
    except ValueError:
        return ()
    return tuple(Path(line.strip()) for line in lines[start:end])


def wheel_include_dirs() -> list[Path]:
    """include/ folders of installed TensorRT wheels that carry the headers."""
    found = []
    for name in WHEELS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found += [Path(dist.locate_file(f)).parent for f in dist.files or () if f.name == HEADER]
    return found


def installed_header_dir() -> Path | None:
    """The include folder of a TensorRT installed on this machine, or None."""
    for folder in (*compiler_include_dirs(), *map(Path, INSTALLED_DIRS), *wheel_include_dirs()):
        if has_headers(folder):
            return folder
    return None


def find_header_dir(explicit=None, release: str | None = None) -> Path | None:
    """The TensorRT headers to build against (module doc's order), or None. `release`: the target's TensorRT
    release, preferred among $EDGE_SWIN_TRT_HEADERS_ROOT's sets. An `explicit` folder without the headers is an
    error, not a fallback."""
    if explicit is not None:
        if not has_headers(explicit):
            raise PluginLibraryError(f"no TensorRT headers in --trt-headers {explicit} ({HEADER} missing): give the "
                                     "include/ folder of the TensorRT that will load the library")
        return Path(explicit)
    env = os.environ.get(HEADERS_ENV)
    if env:
        if not has_headers(env):
            raise PluginLibraryError(f"no TensorRT headers in {HEADERS_ENV}={env} ({HEADER} missing): point it at a "
                                     "TensorRT include/ folder, or unset it")
        return Path(env)
    return (release and header_set(release)) or installed_header_dir() or header_set(RTX_HEADER_SET)


def require_header_dir(explicit=None, release: str | None = None) -> Path:
    """find_header_dir, or PluginLibraryError naming every way to give the headers."""
    found = find_header_dir(explicit, release)
    if found is None:
        raise PluginLibraryError(f"no TensorRT headers ({HEADER}) found to build the plugin library against: {FIX}")
    return found
