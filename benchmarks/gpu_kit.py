"""The prepared folder for an offline GPU machine: everything `benchmarks/gpu_suite.py` needs there, made on a CPU.

    python -m benchmarks.gpu_kit --sm 90 --run runs/<name>          # -> gpu_kit/ (at most 60 MB)
    python -m benchmarks.gpu_kit --sm 90 --python 3.12 --no-wheels  # without the run, no wheels

and on the GPU machine (PyTorch >= 2.11, Triton >= 3.6, pytest, g++, CMake; no network), from the repository root:

    bash gpu_kit/run.sh [--quick]        # results under $OUT/gpu/<device>/ (else benchmarks/results/gpu/<device>/)

What the folder holds (KitLayout):
  kernels/    the kernel table for each --sm and the node harness built from it here (BUILD_MODULE, HARNESS_MODULE):
              the plugin's own launcher, no compiler needed there
  trt_include/ TensorRT's public C++ headers (under 1 MB): the GPU machine builds the `gpu` tests' harness with them
  run/        the run's train/model.pth and qat/int8.pth (+ its .json sidecar), when --run is given
  data/       the 10,000 Fashion-MNIST test images and labels (the embedded dataset's t10k IDX files)
  prebuilt/   what needs modelopt, made here because the GPU machine has none: runtime_int8.pt (Swin-T, random
              weights, max-calibrated, converted to the INT8 runtime: the whole-model INT8 row) and, with --run,
              int8_accuracy.pt (the QAT checkpoint converted, with modelopt fake quant's logits on the test set)
  wheels/     wheels of what the suite imports that the GPU machine lacks, for each --python
              (pip download --only-binary; torch, triton and what comes with them excluded), requirements-<py>.txt
  run.sh      installs the wheels offline into the folder (pip --no-index --find-links --target) and runs the suite
  kit.json    what was built, from which commit, and the size of each part

The folder is built in a temporary sibling and renamed into place only when complete; a failed step or a folder
over --max-mb (a borrowed GPU machine takes at most 64 MiB beside the repository) leaves the previous folder,
or none, and says why.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_MB = 60
DEFAULT_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")  # torch >= 2.11's own wheels need glibc 2.28
# On the GPU machine already, with everything they depend on (what the borrowed GPU machines are known to have;
# torchvision and Pillow came with PyTorch on the last one).
ON_GPU_MACHINE = ("torch", "triton", "onnx", "onnxruntime", "pytest", "torchvision", "pillow")
# What the suite imports beyond those: the runtime, the bench and the trainer (edge_swin's own dependencies).
WHEEL_ROOTS = ("tqdm", "safetensors", "tomli; python_version < '3.11'")
# modelopt (QAT, calibration) imports scipy and pulp when it is imported: 64 MB of wheels for one Python
# (pip download for cp312, 2026-12-07: scipy 35 MB, pulp 16 MB), over the limit; prebuilt/ replaces it there.
MODELOPT_ROOTS = ("nvidia-modelopt", "requests", "huggingface_hub")
BUILD_MODULE = "edge_swin.plugins.swin_window_attention.aot.build"
HARNESS_MODULE = "edge_swin.plugins.swin_window_attention.testing.harness"
HARNESS_NAME = "libedge_swin_node_harness.so"
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class KitError(Exception):
    """A step of the folder command cannot be done; the message names the fix."""


@dataclass(frozen=True)
class KitLayout:
    """Where each part of the prepared folder lives (the folder command writes it, the suite reads it)."""
    root: Path

    @property
    def kernels(self) -> Path:
        return self.root / "kernels"

    @property
    def harness(self) -> Path:
        return self.kernels / HARNESS_NAME

    @property
    def trt_headers(self) -> Path:
        return self.root / "trt_include"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def prebuilt(self) -> Path:
        return self.root / "prebuilt"

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def run_sh(self) -> Path:
        return self.root / "run.sh"

    @property
    def manifest(self) -> Path:
        return self.root / "kit.json"

    def checkpoints(self) -> dict[str, Path]:
        found = {"fp32": self.run / "train" / "model.pth", "int8": self.run / "qat" / "int8.pth"}
        return {k: p for k, p in found.items() if p.is_file()}

    def prebuilt_contenders(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(self.prebuilt.glob("runtime_*.pt"))}

    def prebuilt_accuracy(self) -> Path | None:
        path = self.prebuilt / "int8_accuracy.pt"
        return path if path.is_file() else None

    def data_env(self) -> dict[str, str]:
        from edge_swin.data.embedded import ROOT_ENV

        return {ROOT_ENV: str(self.data)} if all((self.data / f).is_file() for f in TEST_FILES) else {}


# ------------------------------------------------------------------------------------------------ steps

def _run(cmd: list[str], what: str, env: dict | None = None, timeout: int = 1800) -> str:
    """Run a step's command from the repository root; its failure is a KitError with the command's last lines."""
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                **(env or {})}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise KitError(f"{what}: `{' '.join(cmd)}` did not finish in {timeout} s") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise KitError(f"{what} failed (exit {proc.returncode}): `{' '.join(cmd)}`\n{tail}")
    return proc.stdout


def build_kernels(layout: KitLayout, sms: list[int], kernels_from: Path | None) -> None:
    """The kernel table for `sms` and the harness built from it (or a copy of an existing folder holding both)."""
    if kernels_from is not None:
        missing = [n for n in ("manifest.json", HARNESS_NAME) if not (kernels_from / n).is_file()]
        if missing:
            raise KitError(f"--kernels-from {kernels_from} lacks {', '.join(missing)}: build them with "
                           f"`python -m {BUILD_MODULE} --arch <sm>` and `python -m {HARNESS_MODULE}`")
        built = sorted(json.loads((kernels_from / "manifest.json").read_text()).get("archs", []) or [])
        if built and not set(sms) <= set(built):
            raise KitError(f"--kernels-from {kernels_from} holds sm {built}, not the requested {sms}: rebuild it "
                           f"with `python -m {BUILD_MODULE} --arch {','.join(map(str, sms))}`")
        shutil.copytree(kernels_from, layout.kernels, ignore=shutil.ignore_patterns("cmake*", "CMake*", "*.o"))
        return
    _run([sys.executable, "-m", BUILD_MODULE, "--arch", ",".join(map(str, sms)), "--out", str(layout.kernels),
          "--no-progress"], "kernel table")
    with tempfile.TemporaryDirectory(prefix="harness-") as tmp:  # the CMake tree stays out of the folder
        _run([sys.executable, "-m", HARNESS_MODULE, "--kernels", str(layout.kernels / "embedded_kernels.cpp"),
              "--out", tmp, "--headers", str(layout.trt_headers)], "node harness")
        shutil.copy2(Path(tmp) / HARNESS_NAME, layout.harness)


def copy_trt_headers(layout: KitLayout) -> None:
    """TensorRT's public C++ headers (Apache-2.0, under 1 MB): the GPU machine builds harnesses from them (the `gpu`
    tests' own kernel table, the refusal check's stub table), as the suite's harness here was."""
    from edge_swin.errors import PluginLibraryError
    from edge_swin.plugins.swin_window_attention.trt_headers import FIX, find_header_dir

    try:
        headers = find_header_dir()
    except PluginLibraryError as e:
        raise KitError(str(e)) from None
    if headers is None:
        raise KitError(f"no TensorRT headers to build the node harness against: {FIX}")
    shutil.copytree(headers, layout.trt_headers)


def copy_run(layout: KitLayout, run: Path) -> None:
    """The run's FP32 weights and QAT checkpoint (with the sidecar load_quantized reads)."""
    wanted = [Path("train/model.pth"), Path("qat/int8.pth"), Path("qat/int8.json")]
    missing = [str(run / w) for w in wanted if not (run / w).is_file()]
    if missing:
        raise KitError(f"--run {run}: missing {', '.join(missing)}. Give a finished run folder (python -m "
                       "pipelines.build writes runs/<name>/ with train/ and qat/), or leave --run out")
    for w in wanted:
        (layout.run / w).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run / w, layout.run / w)


def copy_test_images(layout: KitLayout) -> None:
    """The embedded dataset's 10,000 test images (IDX, as Debian ships them), so top-1 runs offline."""
    from edge_swin.data.embedded import INSTALL_HINT, dataset_root

    src = dataset_root()
    missing = [str(src / f) for f in TEST_FILES if not (src / f).is_file()]
    if missing:
        raise KitError(f"the test images are missing: {', '.join(missing)}. {INSTALL_HINT}")
    layout.data.mkdir(parents=True)
    for f in TEST_FILES:
        shutil.copy2(src / f, layout.data / f)


def write_prebuilt(layout: KitLayout, with_accuracy: bool, accuracy_images: int | None) -> None:
    """Converted INT8 runtime models (and fake quant's test-set logits), made here where modelopt runs: on a CPU
    the runtime's kernels run under Triton's interpreter, so the conversion runs in a child with it set."""
    layout.prebuilt.mkdir(parents=True)
    args = [sys.executable, "-m", "edge_swin.bench.whole_model", "--prebuild", str(layout.prebuilt)]
    if with_accuracy:
        args += ["--int8", str(layout.run / "qat" / "int8.pth")]
        if accuracy_images:
            args += ["--max-images", str(accuracy_images)]
    _run(args, "prebuilt INT8 models", env={"TRITON_INTERPRET": "1", **layout.data_env()})


# ------------------------------------------------------------------------------------------------ wheels

def _marker_env(python: str) -> dict:
    return {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}


def closure(roots, python: str) -> dict[str, str | None]:
    """{distribution: version installed here or None} of `roots` and everything they require on `python`
    (Linux x86_64), read from this environment's package metadata."""
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    env, found, todo = _marker_env(python), {}, [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found or (req.marker and not req.marker.evaluate(env)):
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            found[name] = None
            continue
        found[name] = dist.version
        todo += [r for r in map(Requirement, dist.requires or []) if not r.marker or r.marker.evaluate(env)]
    return found


def wheel_requirements(python: str, with_modelopt: bool) -> list[str]:
    """What to download for `python`: the suite's imports and their dependencies less what the GPU machine has,
    each at most the version installed here (the newest with a wheel for that Python where ours has none)."""
    have = closure(ON_GPU_MACHINE, python)
    need = closure(WHEEL_ROOTS + (MODELOPT_ROOTS if with_modelopt else ()), python)
    return sorted(f"{name}<={version}" if version else name for name, version in need.items() if name not in have)


def download_wheels(layout: KitLayout, pythons: list[str], with_modelopt: bool, find_links: Path | None) -> None:
    """pip download, binary only, no dependencies resolved by pip (the list is the closure), for each Python."""
    layout.wheels.mkdir(parents=True)
    for python in pythons:
        reqs = wheel_requirements(python, with_modelopt)
        (layout.wheels / f"requirements-{python}.txt").write_text("\n".join(r.split("<=")[0] for r in reqs) + "\n")
        if not reqs:
            continue
        source = ["--no-index", "--find-links", str(find_links)] if find_links else []
        platforms = [a for p in PLATFORMS for a in ("--platform", p)]
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
              "--only-binary=:all:", "--python-version", python, "--implementation", "cp", *platforms, *source,
              "--dest", str(layout.wheels), *reqs], f"wheels for Python {python}", timeout=900)


# ------------------------------------------------------------------------------------------------ run.sh

RUN_SH = r"""#!/usr/bin/env bash
# Runs the GPU suite from this prepared folder (written by `python -m benchmarks.gpu_kit`) on an offline GPU
# machine, from a copy of the repository whose root holds this folder:
#   bash gpu_kit/run.sh [--quick] [more benchmarks/gpu_suite.py arguments]
# PYTHON: the interpreter with PyTorch (default python3). Results: $OUT/gpu/<device>/ when OUT is set (the folder a
# borrowed machine hands back), else benchmarks/results/gpu/<device>/
set -uo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${EDGE_SWIN_REPO:-$(cd "$KIT/.." && pwd)}"
PY="${PYTHON:-python3}"
SITE="$KIT/site"
if [ -d "$KIT/wheels" ]; then
  version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  reqs="$KIT/wheels/requirements-$version.txt"
  if [ ! -f "$reqs" ]; then
    echo "[run.sh] no wheels for Python $version in $KIT/wheels: remake the folder with --python $version;" \
         "sections that need them will say not available"
  elif grep -q '[a-z]' "$reqs"; then
    echo "[run.sh] installing $(grep -c '[a-z]' "$reqs") wheels for Python $version into $SITE (offline)"
    if ! "$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
         --find-links "$KIT/wheels" --target "$SITE" --upgrade -r "$reqs"; then
      echo "[run.sh] pip could not install every wheel: sections that need them will say not available"
    fi
  fi
fi
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
# the harnesses the `gpu` tests and the refusal check build there compile against the headers carried here
export EDGE_SWIN_TRT_HEADERS="${EDGE_SWIN_TRT_HEADERS:-$KIT/trt_include}"
export EDGE_SWIN_NODE_HARNESS="${EDGE_SWIN_NODE_HARNESS:-$KIT/kernels/libedge_swin_node_harness.so}"
if [ -n "${OUT:-}" ]; then
  results="$OUT/gpu"
else
  results="$REPO/benchmarks/results/gpu"
fi
cd "$REPO" || exit 1
"$PY" benchmarks/gpu_suite.py --kit "$KIT" --results-root "$results" "$@"
"""


# ------------------------------------------------------------------------------------------------ size

def sizes(root: Path) -> dict[str, int]:
    """Bytes per top-level entry of the folder (wheels per file: they are what grows)."""
    out = {}
    for entry in sorted(root.iterdir()):
        if entry.name == "wheels" and entry.is_dir():
            out |= {f"wheels/{w.name}": w.stat().st_size for w in sorted(entry.iterdir())}
        else:
            out[entry.name] = entry.stat().st_size if entry.is_file() else sum(
                p.stat().st_size for p in entry.rglob("*") if p.is_file())
    return out


def format_sizes(parts: dict[str, int]) -> str:
    rows = sorted(parts.items(), key=lambda kv: -kv[1])
    total = f"\n  {sum(parts.values()) / 1e6:8.2f} MB  total"
    return "\n".join(f"  {n / 1e6:8.2f} MB  {name}" for name, n in rows) + total


def check_size(root: Path, max_mb: float) -> dict[str, int]:
    parts = sizes(root)
    total = sum(parts.values())
    if total > max_mb * 1e6:
        raise KitError(f"the folder would be {total / 1e6:.1f} MB, over the {max_mb:g} MB limit (a borrowed GPU "
                       f"machine takes 64 MiB):\n{format_sizes(parts)}\nLeave out what the GPU machine has (--python "
                       "<its version only>, --no-wheels, no --with-modelopt), the run (--run) or the prebuilt models "
                       "(--no-prebuilt, where the GPU machine has modelopt)")
    return parts


# ------------------------------------------------------------------------------------------------ command

def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def make_kit(out: Path, sms: list[int], run: Path | None = None, pythons=DEFAULT_PYTHONS, wheels: bool = True,
             with_modelopt: bool = False, find_links: Path | None = None, kernels_from: Path | None = None,
             prebuilt: bool = True, accuracy_images: int | None = None, max_mb: float = MAX_MB,
             progress: bool = True) -> dict[str, int]:
    """Write the folder at `out` (atomically); its size breakdown in bytes."""
    from edge_swin.utils.progress import progress as progress_bar

    if run is not None and not run.is_dir():
        raise KitError(f"--run {run}: no such folder (a run folder is runs/<name>/ of python -m pipelines.build)")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    layout = KitLayout(tmp)
    steps = [("TensorRT headers", lambda: copy_trt_headers(layout)),
             ("kernels", lambda: build_kernels(layout, sms, kernels_from))]
    if run is not None:
        steps.append(("run checkpoints", lambda: copy_run(layout, run)))
    steps.append(("test images", lambda: copy_test_images(layout)))
    if prebuilt:
        steps.append(("prebuilt INT8", lambda: write_prebuilt(layout, run is not None, accuracy_images)))
    if wheels:
        steps.append(("wheels", lambda: download_wheels(layout, list(pythons), with_modelopt, find_links)))
    steps.append(("run.sh", lambda: (layout.run_sh.write_text(RUN_SH), layout.run_sh.chmod(0o755))))
    try:
        bar = progress_bar(total=len(steps), desc="gpu kit", unit="step", disable=not progress)
        for name, step in steps:
            bar.set_postfix_str(name)
            step()
            bar.update()
        bar.close()
        parts = check_size(tmp, max_mb)
        manifest = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "commit": _git_commit(), "sm": sms, "run": str(run) if run else None,
                    "pythons": list(pythons) if wheels else [], "modelopt_wheels": with_modelopt and wheels,
                    "prebuilt": sorted(p.name for p in layout.prebuilt.glob("*.pt")) if prebuilt else [],
                    "bytes": parts, "total_mb": round(sum(parts.values()) / 1e6, 2)}
        layout.manifest.write_text(json.dumps(manifest, indent=1) + "\n")
        parts["kit.json"] = layout.manifest.stat().st_size
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
        return parts
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sms(text: str) -> list[int]:
    try:
        sms = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SMs such as 90 or 80,90") from None
    if not sms or any(s < 75 for s in sms):
        raise argparse.ArgumentTypeError(f"{text!r}: expected SMs of 75 or more (90 for H100/H200)")
    return sms


def _pythons(text: str) -> list[str]:
    versions = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in versions if not (v.count(".") == 1 and all(p.isdigit() for p in v.split(".")))]
    if not versions or bad:
        raise argparse.ArgumentTypeError(f"{text!r}: expected versions such as 3.12 or 3.10,3.11")
    return versions


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_kit", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--sm", type=_sms, required=True, help="the GPU's SM(s), e.g. 90 (H100/H200) or 80,90")
    p.add_argument("--run", type=Path, default=None, help="a finished run folder (runs/<name>): its checkpoints")
    p.add_argument("--out", type=Path, default=ROOT / "gpu_kit", help="the folder to write (default: %(default)s)")
    p.add_argument("--python", type=_pythons, default=",".join(DEFAULT_PYTHONS),
                   help="the GPU machine's Python version(s) for binary wheels (default: %(default)s)")
    p.add_argument("--no-wheels", action="store_true", help="carry no wheels (the GPU machine has them)")
    p.add_argument("--with-modelopt", action="store_true",
                   help="also carry modelopt and its dependencies (64 MB for one Python: over the limit unless the "
                        "GPU machine has scipy)")
    p.add_argument("--wheel-dir", type=Path, default=None, help="take wheels from this folder, not the package index")
    p.add_argument("--kernels-from", type=Path, default=None,
                   help="copy this kernel table + harness folder instead of building them (e.g. build/plugins)")
    p.add_argument("--no-prebuilt", action="store_true", help="no INT8 models made here (the GPU machine has modelopt)")
    p.add_argument("--max-mb", type=float, default=MAX_MB, help="refuse a bigger folder (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        parts = make_kit(args.out, args.sm, args.run, args.python, not args.no_wheels, args.with_modelopt,
                         args.wheel_dir, args.kernels_from, not args.no_prebuilt, max_mb=args.max_mb,
                         progress=not args.no_progress)
    except KitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"[gpu_kit] {args.out}:\n{format_sizes(parts)}\n[gpu_kit] on the GPU machine: bash "
          f"{os.path.relpath(args.out.resolve(), ROOT) if args.out.resolve().is_relative_to(ROOT) else args.out}"
          "/run.sh [--quick]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
