"""Make TensorRT-RTX's parser find `libtensorrt_rtx.so` (edge_swin.trt.backend calls `preload` before importing it).

The libtensorrt_rtx.so gotcha (docs/findings.md, "The plugin's build-time half on a CPU"): the RTX
ONNX parser `dlopen`s the unversioned `libtensorrt_rtx.so` when it imports a
plugin node, the wheel ships only `libtensorrt_rtx.so.1`, and without the
unversioned name on the library path the process aborts. The loader's search
path is fixed when the process starts (LD_LIBRARY_PATH is read once), so a
symlink in a private directory cannot be put on it later. What works without
touching the installed wheel or re-executing: glibc answers a `dlopen` by bare
name from the already-loaded objects whose SONAME equals that name. So
`preload` builds (once, cached under ~/.cache/edge_swin) a tiny
forwarding library whose SONAME is `libtensorrt_rtx.so` and whose only
dependency is `libtensorrt_rtx.so.1`, and loads it RTLD_GLOBAL before the
import; `dlsym` on its handle finds the real library's symbols through that
dependency. It needs a C compiler the first time; without one, the parser
still works for every model without a registered plugin (ours parse through
the function body), and `status()` says why plugin nodes would abort.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from edge_swin.utils.io import cache_root

_STATUS = "not attempted"


def preload() -> None:
    """Make a bare dlopen("libtensorrt_rtx.so") resolve to the wheel's libtensorrt_rtx.so.1 (see module doc)."""
    global _STATUS
    try:
        _preload()
    except OSError as e:  # a broken wheel shows up in the tensorrt_rtx import with its own message
        _STATUS = f"preload failed: {e}"


def _preload() -> None:
    global _STATUS
    spec = importlib.util.find_spec("tensorrt_rtx_libs")
    if spec is None or not spec.submodule_search_locations:
        _STATUS = "tensorrt_rtx_libs not installed"
        return
    libdir = Path(list(spec.submodule_search_locations)[0])
    real = libdir / "libtensorrt_rtx.so.1"
    if (libdir / "libtensorrt_rtx.so").exists():
        _STATUS = "unversioned library present in the wheel"
        return
    if not real.exists():
        _STATUS = f"{real} missing"
        return
    ctypes.CDLL(str(real), mode=ctypes.RTLD_GLOBAL)
    st = real.stat()
    out = cache_root() / "trt" / f"alias-{st.st_size}-{int(st.st_mtime)}" / "libtensorrt_rtx.so"
    if not out.exists():
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if cc is None:
            _STATUS = "no C compiler to build the libtensorrt_rtx.so alias: plugin nodes would abort the RTX parser"
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            src = Path(tmp) / "alias.c"
            src.write_text("/* SONAME alias for libtensorrt_rtx.so.1 (edge_swin.trt.rtx_alias) */\n"
                           "int edge_swin_rtx_alias;\n")
            built = Path(tmp) / "libtensorrt_rtx.so"
            proc = subprocess.run(
                [cc, "-shared", "-fPIC", "-o", str(built), str(src), "-Wl,-soname,libtensorrt_rtx.so",
                 "-Wl,--no-as-needed", f"-L{libdir}", "-l:libtensorrt_rtx.so.1", f"-Wl,-rpath,{libdir}"],
                capture_output=True, text=True)
            if proc.returncode != 0:
                _STATUS = f"building the libtensorrt_rtx.so alias failed: {proc.stderr.strip()[:300]}"
                return
            os.replace(built, out)
    ctypes.CDLL(str(out), mode=ctypes.RTLD_GLOBAL)
    _STATUS = f"alias loaded from {out}"


def status() -> str:
    """What `preload` did: "alias loaded from ...", "unversioned library present in the wheel", or why not."""
    return _STATUS


def usable() -> bool:
    """Whether a bare dlopen("libtensorrt_rtx.so") resolves, so the RTX parser can import plugin nodes."""
    return _STATUS.startswith(("alias loaded", "unversioned library present"))
