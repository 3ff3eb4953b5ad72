"""The plugin's Triton kernels for some windows and SMs, compiled ahead of time (no GPU) and cached.

    kernels = compiled_kernels([(4, 4)], [86, 87, 89])   # Kernels(folder, sms, notes); folder None: notes say why
    kernels = compiled_kernels([(4, 4)], [87], cuda="12.6")   # cubins from CUDA 12.6's ptxas (JetPack 6)
    kernels.cpp                                          # embedded_kernels.cpp, for library.build_library
    read_manifest(kernels.folder)                        # the manifest's entries, one per cubin

The one kernel build both the engine stage (edge_swin.trt.plugin_cache) and the Jetson bundle
(edge_swin.trt.bundle) use. `python -m edge_swin.plugins.swin_window_attention.aot.build` runs in a child process: it refuses a
process with TRITON_INTERPRET set (the kernels would be interpreter objects), and a child keeps Triton's
state out of ours. `cuda`, the target's CUDA release (targets.toml `cuda`, passed in by the caller: plugins/
does not read the targets table), picks the ptxas that makes the cubins (edge_swin/plugins/swin_window_attention/aot/ptxas.py; None:
Triton's bundled one). Its output folder is cached under ~/.cache/edge_swin/kernels/ by everything it depends
on (the SMs, the variants, Triton's version, the ptxas, build.py and the kernel sources), so a pipeline rerun, a
second run folder or the test suite pay for it once. An SM whose kernels do not compile, or for which the
build does not make every kernel these windows need, is left out (once, remembered in a `.failed` file
beside the cache entry) and named in the notes: callers record the SMs they got, and loading refuses others.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from edge_swin.plugins.swin_window_attention.aot.ptxas import PtxasError, bundled_ptxas, ptxas_for_cuda
from edge_swin.utils.io import cache_root, sha256_file, write_text

PLUGINS = Path(__file__).resolve().parents[1]  # the plugin's folder: aot/ and kernels/ are below it
KERNELS_CPP, MANIFEST = "embedded_kernels.cpp", "manifest.json"
_FAILED_SM = re.compile(r"for sm_(\d+) failed")


@dataclass
class Kernels:
    folder: Path | None          # build output: embedded_kernels.cpp, manifest.json, kernels/*.cubin; None: none
    sms: list[int]               # the SMs with every kernel the windows need
    notes: str                   # what was left out and why (or, with no folder, why nothing)
    left_out: dict[int, str] = field(default_factory=dict)

    @property
    def cpp(self) -> Path | None:
        return None if self.folder is None else self.folder / KERNELS_CPP

    @property
    def manifest(self) -> Path | None:
        return None if self.folder is None else self.folder / MANIFEST


def read_manifest(path: str | Path) -> list[dict]:
    """The per-cubin entries of a kernel build's manifest.json (`path`: the file or its folder); [] if absent."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    entries = data.get("kernels", data) if isinstance(data, dict) else data
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def manifest_ptxas(path: str | Path | None) -> dict | None:
    """The ptxas a kernel build's cubins were compiled with ({"version", "source": its wheel or "triton"}), from
    its manifest.json (`path`: the file or its folder); None when absent or from a build that did not record it."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "ptxas_version" not in data:
        return None
    tool = data.get("ptxas") or {}
    return {"version": data["ptxas_version"], "source": tool.get("source", "triton")}


def manifest_sms(path: str | Path) -> list[int]:
    """The SMs a kernel build has cubins for."""
    return sorted({int(e["sm"]) for e in read_manifest(path) if "sm" in e})


def variants_for(windows) -> list[str]:
    """The `--only` filters of `python -m edge_swin.plugins.swin_window_attention.aot.build` for a model with these attention windows."""
    return ["linear", *sorted(f"w{h}x{w}" for h, w in windows)]


def digest(*parts) -> str:
    """A short hash of the parts (cache keys)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode() + b"\0")
    return h.hexdigest()[:16]


def sources_digest(folder: Path, pattern: str) -> str:
    """A short hash of the files under `folder` matching `pattern` (names and contents)."""
    return digest(*(f"{p.relative_to(folder)}:{sha256_file(p)}" for p in sorted(folder.rglob(pattern)) if p.is_file()))


def _triton_version() -> str:
    try:
        return importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def compiled_kernels(windows, sms, cuda: str | None = None) -> Kernels:
    """The kernels a model with these attention windows needs, for these SMs: cached, else built (module doc).

    cuda: the target's CUDA release (targets.toml `cuda`): the cubins come from that release's ptxas
    (ptxas.ptxas_for_cuda; 12.6 for JetPack 6); None: Triton's bundled ptxas.
    """
    windows = sorted({(int(h), int(w)) for h, w in windows})
    only = variants_for(windows)
    try:
        ptxas = ptxas_for_cuda(cuda) if cuda else bundled_ptxas()
    except PtxasError as e:
        return Kernels(None, [], str(e))
    except ImportError as e:  # no Triton: nothing to compile with
        return Kernels(None, [], f"Triton is not installed, the kernels cannot be compiled ({e})")
    left_out: dict[int, str] = {}
    for _ in range(len(sms)):
        todo = [sm for sm in sms if sm not in left_out]
        if not todo:
            break
        key = digest(todo, only, _triton_version(), ptxas.source, ptxas.version, sources_digest(PLUGINS / "aot", "build.py"),
                     sources_digest(PLUGINS / "kernels", "*.py"))
        out = cache_root() / "kernels" / f"plugin-{key}"
        failed = out.with_suffix(".failed")
        if (out / KERNELS_CPP).is_file():
            return _complete(out, windows, todo, left_out)
        if failed.is_file():
            message = failed.read_text()
        else:
            env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS.parents[2]), env.get("PYTHONPATH")]))
            cmd = [sys.executable, "-m", "edge_swin.plugins.swin_window_attention.aot.build", "--out", str(out), "--arch",
                   ",".join(map(str, todo)), "--no-progress", "--only", *only, *(["--cuda", cuda] if cuda else [])]
            print(f"[plugin] compiling the kernels for sm_{', sm_'.join(map(str, todo))} ({', '.join(only)})")
            proc = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
            if proc.returncode == 0 and (out / KERNELS_CPP).is_file():
                return _complete(out, windows, todo, left_out)
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            named = [line for line in lines if _FAILED_SM.search(line)]  # "<variant> for sm_NN failed to compile: ..."
            message = (named or lines or [f"exit {proc.returncode}"])[-1].removeprefix("error: ")
            if named:  # a compile error of one SM: the same inputs fail the same way, do not pay for it again
                write_text(failed, message)
        match = _FAILED_SM.search(message)
        if match is None or int(match.group(1)) not in todo:
            return Kernels(None, [], f"the kernel build failed: {message}", left_out)
        left_out[int(match.group(1))] = message
    return Kernels(None, [], f"no SM's kernels compiled: {_left_out_note(left_out)}", left_out)


def _complete(out: Path, windows: list[tuple[int, int]], sms: list[int], left_out: dict[int, str]) -> Kernels:
    """The SMs with every kernel these windows need (the linear, the INT8 node's qkv_linear, the windows'
    attention): a variant may not be built for some SM (12x12 attention on sm_75 spills at every tile), and such
    an SM must not be claimed as covered."""
    have = {(e.get("family"), tuple(e["window"]) if e.get("family") == "window_attention" else None, e.get("sm"))
            for e in read_manifest(out)}
    need = [("linear", None), ("qkv_linear", None), *(("window_attention", tuple(w)) for w in windows)]
    covered = [sm for sm in sms if all((f, w, sm) in have for f, w in need)]
    for sm in sms:
        if sm not in covered:
            left_out[sm] = "the kernel build does not make every kernel this model needs for it (edge_swin/plugins/swin_window_attention/README.md)"
    if not covered:
        return Kernels(None, [], f"no SM's kernels compiled: {_left_out_note(left_out)}", left_out)
    return Kernels(out, covered, _left_out_note(left_out), left_out)


def _left_out_note(left_out: dict[int, str]) -> str:
    return "; ".join(f"sm_{sm} left out ({why[:200]})" for sm, why in left_out.items())
