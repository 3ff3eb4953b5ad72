"""Our plugin library for a model and a target, built here ahead of time (no GPU) and cached.

    library, sms, reason = plugin_library_for(onnx_paths, target)   # (None, (), "why not") when it cannot be had

Two steps, each cached under ~/.cache/edge_swin/ by everything it depends on, so a pipeline rerun, a second
run folder or the test suite pay for them once: the Triton kernels the model needs (its attention windows,
both linears) compiled for the target's SMs by `python -m edge_swin.plugins.build` in a child process (it
refuses a process with TRITON_INTERPRET set), then `edge_swin.plugins.library.build_library` (CMake) against
the default TensorRT headers. An SM whose kernels do not compile is left out, once, and said so: the
sidecar of a plugin engine lists the SMs its library has kernels for, and loading refuses other GPUs.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from edge_swin.errors import EdgeSwinError
from edge_swin.trt.targets import Target
from edge_swin.utils.io import sha256_file, write_text

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
_FAILED_SM = re.compile(r"for sm_(\d+) failed")


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge_swin"


def model_windows(onnx_paths) -> list[tuple[int, int]]:
    """The (window_h, window_w) of every SwinWindowAttention node in the files."""
    import onnx

    from edge_swin.export import DOMAIN, OP_TYPE

    windows = set()
    for path in onnx_paths:
        for node in onnx.load(str(path), load_external_data=False).graph.node:
            if node.domain == DOMAIN and node.op_type == OP_TYPE:
                size = next((list(a.ints) for a in node.attribute if a.name == "window_size"), [])
                if len(size) == 2:
                    windows.add((int(size[0]), int(size[1])))
    return sorted(windows)


def target_sms(target: Target) -> list[int]:
    """The SMs the plugin kernels are compiled for: those of edge_swin.plugins.build the target's engines run on."""
    from edge_swin.plugins.build import ALL_ARCHS

    return [sm for sm in ALL_ARCHS if target.runs_on_sm(sm)]


def _digest(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def _sources_digest(folder: Path, pattern: str) -> str:
    return _digest(*(f"{p.relative_to(folder)}:{sha256_file(p)}" for p in sorted(folder.rglob(pattern)) if p.is_file()))


def kernel_table(windows: list[tuple[int, int]], sms: list[int]) -> tuple[Path | None, list[int], str]:
    """(embedded_kernels.cpp, the SMs it covers, notes) or (None, [], why not). Cached; see the module doc."""
    import importlib.metadata

    only = ["linear", *(f"w{h}x{w}" for h, w in windows)]
    left_out: dict[int, str] = {}
    for _ in range(len(sms)):
        todo = [sm for sm in sms if sm not in left_out]
        if not todo:
            break
        key = _digest(todo, only, importlib.metadata.version("triton"),
                      _sources_digest(PLUGINS, "build.py"), _sources_digest(PLUGINS / "kernels", "*.py"))
        out = _cache_root() / "kernels" / f"plugin-{key}"
        failed = out.with_suffix(".failed")
        if (out / "embedded_kernels.cpp").is_file():
            return _complete(out, windows, todo, left_out)
        if failed.is_file():
            message = failed.read_text()
        else:
            env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS.parents[1]), env.get("PYTHONPATH")]))
            cmd = [sys.executable, "-m", "edge_swin.plugins.build", "--out", str(out), "--arch",
                   ",".join(map(str, todo)), "--no-progress", "--only", *only]
            print(f"[plugin] compiling the kernels for sm_{', sm_'.join(map(str, todo))} ({', '.join(only)})")
            proc = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
            if proc.returncode == 0 and (out / "embedded_kernels.cpp").is_file():
                return _complete(out, windows, todo, left_out)
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            named = [line for line in lines if _FAILED_SM.search(line)]  # "<variant> for sm_NN failed to compile: ..."
            message = (named or lines or [f"exit {proc.returncode}"])[-1].removeprefix("error: ")
            if named:  # a compile error of one SM: the same inputs fail the same way, do not pay for it again
                write_text(failed, message)
        match = _FAILED_SM.search(message)
        if match is None or int(match.group(1)) not in todo:
            return None, [], f"the kernel build failed: {message}"
        left_out[int(match.group(1))] = message
    return None, [], f"no SM's kernels compiled: {_left_out_note(left_out)}"


def _complete(out: Path, windows: list[tuple[int, int]], sms: list[int], left_out: dict[int, str]):
    """(table, the SMs with every kernel these windows need, notes): a variant may not be built for some SM
    (12x12 attention on sm_75 spills at every tile), and such an SM must not be claimed as covered."""
    entries = json.loads((out / "manifest.json").read_text())["kernels"]
    have = {(e["family"], tuple(e["window"]) if e["family"] == "window_attention" else None, e["sm"]) for e in entries}
    need = [("linear", None), ("qkv_linear", None), *(("window_attention", tuple(w)) for w in windows)]
    covered = [sm for sm in sms if all((f, w, sm) in have for f, w in need)]
    for sm in sms:
        if sm not in covered:
            left_out[sm] = "the kernel build does not make every kernel this model needs for it (edge_swin/plugins/README.md)"
    return out / "embedded_kernels.cpp", covered, _left_out_note(left_out)


def _left_out_note(left_out: dict[int, str]) -> str:
    return "; ".join(f"sm_{sm} left out ({why[:200]})" for sm, why in left_out.items())


def plugin_library_for(onnx_paths, target: Target) -> tuple[Path | None, list[int], str]:
    """(libedge_swin_plugins.so, SMs with kernels, notes) for these files' windows and the target, or
    (None, [], why not). Nothing is faked: every failure comes back as the reason."""
    try:
        from edge_swin.plugins import library
    except ImportError as e:
        return None, [], f"edge_swin.plugins.library is not in this version ({e})"
    windows = model_windows(onnx_paths)
    if not windows:
        return None, [], "the ONNX files have no SwinWindowAttention nodes (a --no-custom-op export)"
    header_dir = library.default_header_dir()
    if header_dir is None:
        return None, [], ("no TensorRT headers to build the plugin against: set EDGE_SWIN_TRT_HEADERS to a TensorRT "
                          "include/ folder")
    explicit = os.environ.get("EDGE_SWIN_PLUGIN_KERNELS")
    if explicit:
        kernels, sms, notes = Path(explicit), _manifest_sms(Path(explicit).with_name("manifest.json")), ""
    else:
        kernels, sms, notes = kernel_table(windows, target_sms(target))
    if kernels is None:
        return None, [], notes
    key = _digest(sha256_file(kernels), header_dir, _sources_digest(PLUGINS / "csrc", "*"))
    out = _cache_root() / "plugins" / key
    if not (out / library.LIBRARY_NAME).is_file():
        try:
            library.build_library(header_dir, kernels, out)
        except (EdgeSwinError, OSError) as e:
            return None, [], f"the plugin library did not build: {e}"
    return out / library.LIBRARY_NAME, sms, notes


def _manifest_sms(manifest: Path) -> list[int]:
    if not manifest.is_file():
        return []
    data = json.loads(manifest.read_text())
    entries = data.get("kernels", data) if isinstance(data, dict) else data
    return sorted({int(e["sm"]) for e in entries if isinstance(e, dict) and "sm" in e}) if isinstance(entries, list) else []


def copy_into(library: Path, folder: Path) -> Path:
    """The library beside the engines that need it (the sidecar records it relative to them)."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / library.name
    if not dest.is_file() or sha256_file(dest) != sha256_file(library):
        tmp = dest.with_suffix(".partial")
        shutil.copyfile(library, tmp)
        os.replace(tmp, dest)
    return dest
