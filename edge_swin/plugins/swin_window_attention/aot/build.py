"""Ahead-of-time build of the plugin's Triton kernels: one cubin per (variant, SM), no GPU and no driver needed.

    python -m edge_swin.plugins.swin_window_attention.aot.build [--out build/plugins] [--arch 75,80,86,87,89,90] [--release | --debug]
                                      [--only SUBSTRING ...] [--jobs N] [--cuda 12.6 | --ptxas PATH]

Collects `VARIANTS` (kernels/spec.KernelVariant) from every module in kernels.KERNEL_MODULES (a module
that does not import yet is skipped with a warning and listed in the manifest), compiles each with
`triton.compile(ASTSource(...), target=GPUTarget("cuda", sm, 32))`, and checks every cubin with the
cuobjdump Triton ships: the ELF's architecture (sm_90 and sm_110 build sm_90a / sm_110a), registers, stack
and static shared memory (`-res-usage`), spill stores/loads (STL/LDL in the SASS; Triton kernels keep no arrays
in local memory, so any is a spill), and for int8 kernels that the round-half-to-even trick
((t + 1.5 * 2**23) - 1.5 * 2**23) survived into the PTX, for fp8 kernels its per-element form
((t + m) - m with the same register m, kernels/fp8.py). A release build (default: no line info, which
triples cubin size) fails on any spill, naming the variant and the SM; a debug build keeps line info
and only warns.

Output, under --out (default build/plugins), as in edge_swin/plugins/swin_window_attention/README.md:
    kernels/<variant>.sm<NN>.cubin
    manifest.json          per cubin: variant fields, SM, symbol, registers, stack, spills, shared, num_warps,
                           constexprs, sha256; triton / ptxas / cuobjdump versions, skipped modules
    embedded_kernels.cpp   edge_swin::kEmbeddedKernels / kNumEmbeddedKernels (csrc/embedded_kernels.h)
The whole directory is written to a temporary sibling and renamed into place only when every cubin
passed: a failed build leaves the previous output (or nothing) untouched.

ptxas: Triton's bundled one unless --cuda names a target's CUDA release (targets.toml `cuda`; 12.6 for JetPack 6
builds with the ptxas of the nvidia-cuda-nvcc-cu12 wheel, edge_swin/plugins/swin_window_attention/aot/ptxas.py) or --ptxas a binary. The
manifest records which (`ptxas`: path, release, source) and `ptxas_version`.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ALL_ARCHS = (75, 80, 86, 87, 89, 90, 110)  # 110: Jetson Thor (CUDA 13 name)
DEFAULT_OUT = Path("build/plugins")
# KernelVariant fields -> the C++ enumerators of csrc/embedded_kernels.h (README "Embedded kernel table")
CPP_FAMILY = {"linear": "KernelFamily::kLinear", "window_attention": "KernelFamily::kWindowAttention",
              "qkv_linear": "KernelFamily::kQkvLinear"}
CPP_MODE = {"fp16": "KernelMode::kFP16", "int8": "KernelMode::kINT8", "fp8": "KernelMode::kFP8"}
CPP_IO = {"fp32": "IoType::kFLOAT", "fp16": "IoType::kHALF"}
# (t + 1.5 * 2**23) - 1.5 * 2**23 in PTX: an add of +1.5 * 2**23, then an add of -1.5 * 2**23 or a sub of +1.5 * 2**23;
# on sm_100+ Triton packs them as add.f32x2, whose constant operand is a register loaded with mov.b32 (so: a packed
# add and the constant's mov)
RNE_ADD = re.compile(r"\badd(\.rn)?\.f32\s+%\w+, %\w+, 0f4B400000;"
                     r"|\bmov\.b32\s+%\w+, 0f4B400000;(?=.*\badd(\.rn)?\.f32x2\b)", re.DOTALL)
RNE_UNDO = re.compile(r"\b(add(\.rn)?\.f32\s+%\w+, %\w+, 0fCB400000|sub(\.rn)?\.f32\s+%\w+, %\w+, 0f4B400000);"
                      r"|\bmov\.b32\s+%\w+, 0fCB400000;(?=.*\badd(\.rn)?\.f32x2\b)", re.DOTALL)
# the fp8 form, (t + m) - m with m per element: an add into %s of %t and %m, then a sub of %m from %s (f32x2: packed)
F32_ADD = re.compile(r"\badd(?:\.rn)?\.f32(?:x2)?\s+(%\w+), (%\w+), (%\w+);")
F32_SUB = re.compile(r"\bsub(?:\.rn)?\.f32(?:x2)?\s+%\w+, (%\w+), (%\w+);")


def has_fp8_rounding(ptx: str) -> bool:
    """Whether the PTX holds an add s = t + m followed by a subtract s - m (kernels/fp8.rne_e4m3's rounding)."""
    sums = {(m.group(1), operand) for m in F32_ADD.finditer(ptx) for operand in (m.group(2), m.group(3))}
    return any((m.group(1), m.group(2)) in sums for m in F32_SUB.finditer(ptx))


UNSET_PTXAS = {"TRITON_PTXAS_PATH": None, "TRITON_PTXAS_BLACKWELL_PATH": None}


class BuildError(RuntimeError):
    """A variant failed to compile or a cubin failed a check; the message names variant and SM."""


@dataclass
class Cubin:
    variant: object  # KernelVariant
    sm: int
    image: bytes
    ptx: str
    shared: int
    num_warps: int
    constexprs: dict
    compile_seconds: float
    elf_arch: str = ""
    registers: int = -1
    stack: int = -1
    spill_stores: int = -1
    spill_loads: int = -1

    @property
    def file_name(self) -> str:
        return f"{self.variant.name}.sm{self.sm}.cubin"

    @property
    def tile(self) -> tuple[int, int, int]:
        return tuple(int(self.constexprs.get(k, 0)) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))


# ------------------------------------------------------------------------------------------------ variants

def collect_variants(module_names=None, only=()):
    """[(module name, KernelVariant)] from every importable kernel module, and {module: why skipped}."""
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise BuildError("TRITON_INTERPRET is set: the kernels would be interpreter objects, which cannot be "
                         "compiled ahead of time. Run the build in a process without it "
                         "(env -u TRITON_INTERPRET python -m edge_swin.plugins.swin_window_attention.aot.build)")
    from edge_swin.plugins.swin_window_attention.kernels import KERNEL_MODULES

    variants, skipped = [], {}
    for name in module_names or KERNEL_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a sibling kernel module still being written must not block the others
            skipped[name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"kernel module {name} does not import ({skipped[name]}); its kernels are NOT built",
                          stacklevel=2)
            continue
        if not hasattr(module, "VARIANTS"):
            raise BuildError(f"kernel module {name} has no VARIANTS (a tuple of spec.KernelVariant)")
        for variant in module.VARIANTS:
            if not only or any(s in variant.name for s in only):
                variants.append((name, variant))
    names = [v.name for _, v in variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BuildError(f"two variants share a name (set KernelVariant.tag to tell them apart): {duplicates}")
    return variants, skipped


# ------------------------------------------------------------------------------------------------ compile

def compile_variant(module_name: str, variant, sm: int) -> Cubin:
    """One cubin. Runs in a worker process; needs no GPU."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction

    fn = getattr(importlib.import_module(module_name), variant.kernel)
    if not isinstance(fn, JITFunction):
        raise BuildError(f"{module_name}.{variant.kernel} is a {type(fn).__name__}, not a @triton.jit function "
                         "(is TRITON_INTERPRET set in this process?)")
    constexprs = variant.constexprs_for(sm)
    attrs = {(fn.arg_names.index(arg),): values for arg, values in variant.attrs.items()}
    source = ASTSource(fn, dict(variant.signature), constexprs, attrs)
    start = time.perf_counter()
    try:
        kernel = triton.compile(source, target=GPUTarget("cuda", sm, 32),
                                options={"num_warps": variant.num_warps_for(sm), "num_stages": variant.num_stages})
    except Exception as exc:
        raise BuildError(f"{variant.name} for sm_{sm} failed to compile: {type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}") from exc
    seconds = time.perf_counter() - start
    if kernel.metadata.name != variant.kernel:
        raise BuildError(f"{variant.name} sm_{sm}: cubin symbol {kernel.metadata.name!r} != {variant.kernel!r}")
    return Cubin(variant=variant, sm=sm, image=kernel.asm["cubin"], ptx=kernel.asm["ptx"],
                 num_warps=variant.num_warps_for(sm),
                 shared=int(kernel.metadata.shared), constexprs=constexprs, compile_seconds=seconds)


def _compile_job(job) -> Cubin:
    """Compile and inspect one cubin (in a worker when --jobs > 1: `cuobjdump -sass` costs ~0.5 s a cubin)."""
    cubin = compile_variant(*job)
    with tempfile.TemporaryDirectory() as workdir:
        inspect_cubin(cubin, _tools()["cuobjdump"].path, Path(workdir))
    return cubin


# ------------------------------------------------------------------------------------------------ checks

def _tools() -> dict:
    from triton import knobs

    # Triton compiles sm_100 and newer with ptxas_blackwell (TRITON_PTXAS_BLACKWELL_PATH), older SMs with ptxas
    return {"cuobjdump": knobs.nvidia.cuobjdump, "ptxas": knobs.nvidia.ptxas,
            "ptxas_blackwell": knobs.nvidia.ptxas_blackwell}


def inspect_cubin(cubin: Cubin, cuobjdump: str, workdir: Path) -> None:
    """Fill in the ELF arch, registers, stack and spill counts from cuobjdump."""
    path = workdir / cubin.file_name
    path.write_bytes(cubin.image)
    try:
        elf = subprocess.run([cuobjdump, "-lelf", str(path)], capture_output=True, text=True, check=True).stdout
        res = subprocess.run([cuobjdump, "-res-usage", str(path)], capture_output=True, text=True, check=True).stdout
        sass = subprocess.run([cuobjdump, "-sass", str(path)], capture_output=True, text=True, check=True).stdout
    finally:
        path.unlink()
    arch = re.search(r"\.(sm_\d+a?)\.cubin", elf)
    cubin.elf_arch = arch.group(1) if arch else "?"
    usage = re.search(rf"Function {re.escape(cubin.variant.kernel)}:\s*\n\s*REG:(\d+) STACK:(\d+)", res)
    if usage is None:
        raise BuildError(f"{cubin.variant.name} sm_{cubin.sm}: no resource usage for {cubin.variant.kernel} in:\n{res}")
    cubin.registers, cubin.stack = int(usage.group(1)), int(usage.group(2))
    cubin.spill_stores = len(re.findall(r"\bSTL(\.\w+)*\b", sass))
    cubin.spill_loads = len(re.findall(r"\bLDL(\.\w+)*\b", sass))


def check_cubin(cubin: Cubin, release: bool) -> list[str]:
    """Problems with one cubin (empty: fine). Spills only count as problems in a release build."""
    where = f"{cubin.variant.name} for sm_{cubin.sm}"
    expected = f"sm_{cubin.sm}a" if cubin.sm >= 90 else f"sm_{cubin.sm}"  # Triton 3.8 builds the "a" SMs there
    problems = []
    if cubin.elf_arch != expected:
        problems.append(f"{where}: cubin is {cubin.elf_arch}, expected {expected}")
    spilled = cubin.stack > 0 or cubin.spill_stores > 0 or cubin.spill_loads > 0
    if spilled and release:
        problems.append(f"{where} spills ({cubin.registers} registers, stack {cubin.stack} B, "
                        f"{cubin.spill_stores} spill stores, {cubin.spill_loads} spill loads): "
                        "make the tile smaller (BLOCK_M) or change num_warps in the kernel module's VARIANTS")
    if cubin.variant.mode == "int8" and not (RNE_ADD.search(cubin.ptx) and RNE_UNDO.search(cubin.ptx)):
        problems.append(f"{where}: the PTX lacks the round-half-to-even add/subtract of 1.5 * 2**23 "
                        "(was (t + c) - c folded away?)")
    # swin_linear_fp8 rounds nothing (fp8 x and w in, fp16 y out); the FP8 qkv linear and attention must
    if cubin.variant.mode == "fp8" and cubin.variant.family != "linear" and not has_fp8_rounding(cubin.ptx):
        problems.append(f"{where}: the PTX lacks the e4m3 rounding (t + m) - m (was it folded away?)")
    return problems


# ------------------------------------------------------------------------------------------------ outputs

def manifest(cubins: list[Cubin], archs, release: bool, skipped: dict, tools: dict, modules: dict) -> dict:
    import triton

    entries = []
    for c in cubins:
        entry = c.variant.to_json()
        entry.update({
            "module": modules[c.variant.name], "sm": c.sm, "arch": c.elf_arch, "file": f"kernels/{c.file_name}",
            "symbol": c.variant.kernel, "num_warps": c.num_warps, "num_stages": c.variant.num_stages,
            "threads": c.num_warps * 32, "shared": c.shared, "registers": c.registers, "stack": c.stack,
            "spill_stores": c.spill_stores, "spill_loads": c.spill_loads,
            "spills": int(c.stack > 0 or c.spill_stores > 0 or c.spill_loads > 0), "constexprs": c.constexprs,
            "block": list(c.tile), "size": len(c.image), "sha256": hashlib.sha256(c.image).hexdigest(),
        })
        entries.append(entry)
    return {
        "format": 1,
        "build": "release" if release else "debug",
        "line_info": not release,
        "archs": list(archs),
        "triton_version": triton.__version__,
        "ptxas_version": tools["ptxas"].version,
        "cuobjdump_version": tools["cuobjdump"].version,
        "skipped_modules": skipped,
        "kernels": entries,
    }


def _cpp_bytes(data: bytes, width: int = 96) -> str:
    """A C++ string literal (split in lines) holding `data`: octal escapes only, so no escape runs into the next."""
    lines, line = [], []
    used = 0
    for b in data:
        token = f"\\{b:03o}"
        if used + len(token) > width:
            lines.append('    "' + "".join(line) + '"')
            line, used = [], 0
        line.append(token)
        used += len(token)
    if line:
        lines.append('    "' + "".join(line) + '"')
    return "\n".join(lines)


def embedded_kernels_cpp(cubins: list[Cubin]) -> str:
    """embedded_kernels.cpp: the table of README "Embedded kernel table", one entry per cubin."""
    if not cubins:
        raise BuildError("no cubins to embed (no kernel module imported?)")
    out = ["// Generated by `python -m edge_swin.plugins.swin_window_attention.aot.build`: do not edit. One entry per cubin; see manifest.json.",
           '#include "embedded_kernels.h"', "", "#include <cstddef>", "#include <cstdint>", "",
           "namespace edge_swin {", "namespace {", ""]
    for i, c in enumerate(cubins):
        # A string literal compiles far faster than a brace list; its trailing NUL is not counted in imageSize.
        out += [f"// {c.file_name}: {len(c.image)} bytes, sha256 {hashlib.sha256(c.image).hexdigest()[:16]}",
                f"alignas(64) unsigned char const kImage{i}[] =", _cpp_bytes(c.image) + ";", ""]
    out += ["}  // namespace", "", "EmbeddedKernel const kEmbeddedKernels[] = {"]
    for i, c in enumerate(cubins):
        v = c.variant
        bm, bn, bk = c.tile
        out.append(f"    {{{CPP_FAMILY[v.family]}, {CPP_MODE[v.mode]}, {CPP_IO[v.io]}, {c.sm}, {v.window[0]}, "
                   f"{v.window[1]}, {v.shifted}, \"{v.kernel}\", {c.num_warps}, {c.shared}, {bm}, {bn}, {bk}, "
                   f"kImage{i}, sizeof(kImage{i}) - 1}},  // {v.name}")
    out += ["};", "", "size_t const kNumEmbeddedKernels = sizeof(kEmbeddedKernels) / sizeof(kEmbeddedKernels[0]);",
            "", "}  // namespace edge_swin", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ build

@contextlib.contextmanager
def _environment(**values):
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():  # None: unset
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build(out: Path = DEFAULT_OUT, archs=ALL_ARCHS, release: bool = True, only=(), jobs: int = 1,
          module_names=None, progress: bool = True, log=print, variants=None, ptxas=None) -> dict:
    """Compile, check and write everything; returns the manifest. Raises BuildError, leaving `out` untouched.

    variants: [(module name, KernelVariant)] to build instead of the kernel modules' VARIANTS (tests, tuning).
    ptxas: a ptxas.Ptxas (ptxas_for_cuda(target.cuda)); None: Triton's bundled ptxas.
    """
    from edge_swin.utils.progress import progress as progress_bar

    from edge_swin.plugins.swin_window_attention.aot.ptxas import bundled_ptxas

    out = Path(out)
    bad = [a for a in archs if a not in ALL_ARCHS]
    if bad:
        raise BuildError(f"unsupported SM {bad}: choose from {ALL_ARCHS}")
    if variants is None:
        variants, skipped = collect_variants(module_names, only)
    else:
        skipped = {}
    if not variants:
        raise BuildError(f"no variants to build (only={list(only)}, skipped modules: {skipped or 'none'})")
    modules = {v.name: m for m, v in variants}
    jobs_list = [(m, v, sm) for m, v in variants for sm in archs if v.archs is None or sm in v.archs]
    not_built = [f"{v.name} sm_{sm}" for _, v in variants for sm in archs if v.archs is not None and sm not in v.archs]
    ptxas = ptxas or bundled_ptxas()
    with _environment(**{**UNSET_PTXAS, **ptxas.env()}):
        tools = _tools()
    used = [name for name, needed in (("ptxas", any(sm < 100 for sm in archs)),
                                      ("ptxas_blackwell", any(sm >= 100 for sm in archs))) if needed]
    for name in used if ptxas.path is not None else ():
        if Path(tools[name].path).resolve() != ptxas.path.resolve() or tools[name].version != ptxas.version:
            # Triton falls back to its own ptxas, silently, when TRITON_PTXAS_PATH does not run.
            raise BuildError(f"Triton would compile with {tools[name].path} ({tools[name].version}), not the "
                             f"requested {ptxas.path} ({ptxas.version})")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        # A private Triton cache: a line-info (debug) compile must never be reused by a release build.
        # UNSET_PTXAS first: a TRITON_PTXAS_PATH of the caller must not slip into a bundled-ptxas build
        env = {"TRITON_CACHE_DIR": str(tmp / "triton-cache"), "TRITON_DISABLE_LINE_INFO": "1" if release else "0",
               **UNSET_PTXAS, **ptxas.env()}
        with _environment(**env):
            start = time.perf_counter()
            cubins = []
            bar = progress_bar(total=len(jobs_list), desc="compiling kernels", unit="cubin", disable=not progress,
                       file=sys.stderr)
            if jobs > 1:
                with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
                    for cubin in pool.map(_compile_job, jobs_list):
                        cubins.append(cubin)
                        bar.update()
            else:
                for job in jobs_list:
                    bar.set_postfix_str(f"{job[1].name} sm_{job[2]}")
                    cubins.append(_compile_job(job))
                    bar.update()
            bar.close()
            compile_seconds = time.perf_counter() - start  # compile + cuobjdump inspection
        problems = []
        for cubin in cubins:
            problems += check_cubin(cubin, release)
            if cubin.stack > 0 or cubin.spill_stores or cubin.spill_loads:
                warnings.warn(f"{cubin.variant.name} sm_{cubin.sm} spills (stack {cubin.stack} B)", stacklevel=2)
        if problems:
            raise BuildError(f"{len(problems)} cubin check(s) failed:\n  " + "\n  ".join(problems))

        shutil.rmtree(tmp / "triton-cache", ignore_errors=True)
        (tmp / "kernels").mkdir()
        for cubin in cubins:
            (tmp / "kernels" / cubin.file_name).write_bytes(cubin.image)
        data = manifest(cubins, archs, release, skipped, tools, modules)
        data["ptxas"] = {**ptxas.as_dict(), "path": tools["ptxas"].path}
        if "ptxas_blackwell" in used:  # sm_100+: what compiled those cubins
            data["ptxas_blackwell"] = {"path": tools["ptxas_blackwell"].path, "version": tools["ptxas_blackwell"].version}
        data["compile_seconds"] = round(compile_seconds, 1)
        data["not_built"] = not_built  # (variant, SM) pairs the variant excludes (KernelVariant.archs)
        (tmp / "manifest.json").write_text(json.dumps(data, indent=1) + "\n")
        (tmp / "embedded_kernels.cpp").write_text(embedded_kernels_cpp(cubins))
        tmp.chmod(0o755)  # mkdtemp made it private
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"wrote {len(cubins)} cubins ({len(variants)} variants x {len(archs)} SMs) to {out} "
        f"in {compile_seconds:.1f} s of compilation" + (f"; skipped modules: {sorted(skipped)}" if skipped else ""))
    return data


def _replace_dir(new: Path, target: Path) -> None:
    """Put `new` at `target`: rename the old one aside, rename the new one in, then delete the old one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def summary(data: dict) -> str:
    """Registers / stack / shared per variant and SM, one line per variant."""
    rows = {}
    for k in data["kernels"]:
        rows.setdefault(k["name"], []).append(f"sm{k['sm']}:{k['registers']}r"
                                              + (f"/stack{k['stack']}" if k["stack"] else "")
                                              + f"/{k['shared'] // 1024}K")
    width = max(map(len, rows))
    return "\n".join(f"{name:<{width}}  {'  '.join(cells)}" for name, cells in rows.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_swin.plugins.swin_window_attention.aot.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    parser.add_argument("--arch", default=",".join(map(str, ALL_ARCHS)),
                        help="comma-separated SMs (default: %(default)s; 90 builds sm_90a)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--release", dest="release", action="store_true", default=True,
                      help="no line info; a spilling cubin fails the build (default)")
    kind.add_argument("--debug", dest="release", action="store_false", help="line info; spills only warn")
    parser.add_argument("--only", nargs="*", default=(), help="build only variants whose name contains one of these")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="compile in this many processes (default: the CPU count, %(default)s here)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    tool = parser.add_mutually_exclusive_group()
    tool.add_argument("--cuda", default=None,
                      help="compile with the ptxas of this CUDA release (a target's `cuda` in targets.toml, e.g. "
                           "12.6 for JetPack 6); default: Triton's bundled ptxas")
    tool.add_argument("--ptxas", type=Path, default=None, help="compile with this ptxas binary")
    args = parser.parse_args(argv)
    try:
        archs = tuple(int(a) for a in args.arch.split(",") if a.strip())
    except ValueError:
        parser.error(f"--arch {args.arch!r}: expected comma-separated integers such as 80,87")
    from edge_swin.plugins.swin_window_attention.aot.ptxas import PtxasError, ptxas_at, ptxas_for_cuda

    try:
        ptxas = ptxas_at(args.ptxas) if args.ptxas else ptxas_for_cuda(args.cuda) if args.cuda else None
        data = build(args.out, archs, args.release, tuple(args.only), args.jobs, progress=not args.no_progress,
                     ptxas=ptxas)
    except (BuildError, PtxasError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
