"""Which ptxas turns the kernels' PTX into cubins for a target: the one of the CUDA release the target runs.

A cubin from the ptxas of the device's own CUDA release (JetPack 6: CUDA 12.6) is what that device's driver is
sure to load; Triton's bundled ptxas (CUDA 12.9 with Triton 3.8) is newer than JetPack 6. Triton takes another
ptxas through TRITON_PTXAS_PATH, and the ptxas of a CUDA release ships as a pip wheel (nvidia-cuda-nvcc-*), a
dependency of this package, so nothing is downloaded when kernels are built.

    tool = ptxas_for_cuda("12.6")     # Ptxas(path=.../nvidia/cuda_nvcc/bin/ptxas, version="12.6", ...)
    tool = ptxas_for_cuda("13.0")     # JetPack 7.0/7.1 (Jetson Thor, sm_110): .../nvidia/cu13/bin/ptxas
    tool = ptxas_for_cuda("13.x")     # Ptxas(path=None, ...): Triton's bundled ptxas (datacenter targets)

`cuda` is targets.toml's `cuda` of a target.
"""
from __future__ import annotations

import functools
import importlib.metadata
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edge_swin.errors import EdgeSwinError

# CUDA release of a target -> the wheel holding that release's ptxas. A release not listed (the datacenter
# targets' "13.x", TensorRT-RTX's "13") builds with Triton's bundled ptxas: those machines run a driver at
# least as new as it.
PTXAS_WHEELS = {
    "12.6": "nvidia-cuda-nvcc-cu12",  # JetPack 6.1/6.2 (pyproject.toml pins 12.6.85)
    "13.0": "nvidia-cuda-nvcc",       # JetPack 7.0/7.1, Jetson Thor (pyproject.toml pins 13.0.88): sm_110, PTX 9.0
    "13.2": "nvidia-cuda-nvcc",       # JetPack 7.2 (not a dependency yet: no target in targets.toml uses it)
}
DEPENDENCIES = ("12.6", "13.0")  # the releases whose wheel pyproject.toml installs
BUNDLED = "triton"
_RELEASE = re.compile(r"release (\d+\.\d+)")


class PtxasError(EdgeSwinError):
    """The ptxas a target needs is not installed, or is another release."""


@dataclass(frozen=True)
class Ptxas:
    path: Path | None  # None: Triton's bundled ptxas
    version: str       # "12.6"; for the bundled one, its release as `ptxas --version` says
    source: str        # the wheel it comes from, or "triton"

    def env(self) -> dict[str, str]:
        """The environment that makes Triton compile with this ptxas (empty: Triton's own), for every SM: Triton
        takes sm_100 and newer (Thor's sm_110) through TRITON_PTXAS_BLACKWELL_PATH, older ones through
        TRITON_PTXAS_PATH. With a CUDA 13.0 ptxas there Triton 3.8 writes PTX ISA 9.0, which that ptxas accepts."""
        if self.path is None:
            return {}
        return {"TRITON_PTXAS_PATH": str(self.path), "TRITON_PTXAS_BLACKWELL_PATH": str(self.path)}

    def as_dict(self) -> dict:
        return {"path": str(self.path) if self.path else None, "version": self.version, "source": self.source}


@functools.lru_cache(maxsize=None)
def ptxas_release(path: str) -> str:
    """'12.6' from `ptxas --version`; PtxasError when it does not run or says no release."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise PtxasError(f"{path} does not run as ptxas ({e})") from e
    match = _RELEASE.search(out)
    if match is None:
        raise PtxasError(f"{path} --version does not name a CUDA release: {out.strip()[:200]!r}")
    return match.group(1)


def bundled_ptxas() -> Ptxas:
    """Triton's own ptxas (triton/backends/nvidia/bin/ptxas), ignoring TRITON_PTXAS_PATH."""
    import triton

    path = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    if not path.is_file():
        raise PtxasError(f"Triton {triton.__version__} has no bundled ptxas at {path}: reinstall triton")
    return Ptxas(path=None, version=ptxas_release(str(path)), source=BUNDLED)


def wheel_ptxas(distribution: str) -> Path | None:
    """bin/ptxas inside an installed wheel (e.g. nvidia/cuda_nvcc/bin/ptxas), or None when not installed."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == "ptxas" and file.parent.name == "bin":
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    return None


def ptxas_for_cuda(cuda: str) -> Ptxas:
    """The ptxas for a target whose `cuda` (targets.toml) is `cuda`; PtxasError naming the install when missing."""
    distribution = PTXAS_WHEELS.get(str(cuda))
    if distribution is None:
        return bundled_ptxas()
    install = (f"pip install '{distribution}=={cuda}.*'"
               + (" (bash scripts/setup.sh installs it: a dependency of edge-swin)" if cuda in DEPENDENCIES else ""))
    path = wheel_ptxas(distribution)
    if path is None:
        raise PtxasError(f"kernels for CUDA {cuda} are compiled with that release's ptxas, from the wheel "
                         f"{distribution}, which is not installed: {install}; or pass --ptxas PATH")
    version = ptxas_release(str(path))
    if version != str(cuda):
        raise PtxasError(f"{path} (wheel {distribution}) is ptxas {version}, the target needs CUDA {cuda}: {install}")
    return Ptxas(path=path, version=version, source=distribution)


def ptxas_at(path: str | Path) -> Ptxas:
    """A ptxas given by path (--ptxas); PtxasError when it is missing or does not run."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise PtxasError(f"--ptxas {path} does not exist: give the path of a CUDA toolkit's bin/ptxas")
    return Ptxas(path=path, version=ptxas_release(str(path)), source="path")
