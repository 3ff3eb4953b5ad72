"""Can scripts/setup.sh reuse the torch this interpreter already has? Standard library only.

    python3 scripts/find_torch.py        -> pip constraint lines and the folder holding torch, or nothing

Prints, when torch's version is inside pyproject.toml's range and a `--system-site-packages` virtual
environment made from this interpreter would see it:
    site <folder that holds torch>
    torch==<version>
    torchvision==<version>        (when an installed torchvision beside it is in its range too)
setup.sh then makes .venv with --system-site-packages and pins those versions for pip, so the install
neither downloads another torch nor swaps the user's. Otherwise: one line on stderr saying why, nothing on
stdout, and .venv gets its own torch.
"""
from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path

# Keep in step with pyproject.toml's dependencies (tests/test_install.py checks they agree).
SUPPORTED = {"torch": ((2, 11), (2, 15)), "torchvision": ((0, 26), (0, 30))}  # [low, high)


def release(version: str) -> tuple[int, int] | None:
    """(major, minor) of a final or local release ("2.12.1", "2.12.1+cu130"); None for pre-releases ("2.12.0a0")."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)*(\+[\w.]+)?", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def supported(name: str, version: str) -> bool:
    low, high = SUPPORTED[name]
    found = release(version)
    return found is not None and low <= found < high


def inside_virtual_env(folder: Path) -> bool:
    """A venv's own packages are invisible to another venv, --system-site-packages or not."""
    return sys.prefix != sys.base_prefix and folder.resolve().is_relative_to(Path(sys.prefix).resolve())


def main() -> int:
    try:
        torch = metadata.distribution("torch")
    except metadata.PackageNotFoundError:
        print(f"setup: {sys.executable} has no torch: .venv gets its own", file=sys.stderr)
        return 0
    folder = Path(torch.locate_file(""))
    if not supported("torch", torch.version):
        low, high = SUPPORTED["torch"]
        why = ("a pre-release build (pip's >= never matches those; a JetPack torch is one: see docs/install.md, "
               "'Which torch')" if release(torch.version) is None and re.match(r"\d", torch.version) else
               f"outside the supported range >={low[0]}.{low[1]},<{high[0]}.{high[1]}")
        print(f"setup: {sys.executable} has torch {torch.version}, {why}: .venv gets its own", file=sys.stderr)
        return 0
    if inside_virtual_env(folder):
        print(f"setup: torch {torch.version} is inside the virtual environment {sys.prefix}, which .venv cannot "
              f"see: .venv gets its own. To use that torch, install edge-swin into that environment instead "
              f"({sys.executable} -m pip install -e .), or set PYTHON to an interpreter that is not a venv "
              "(system, conda, pyenv) and has the torch", file=sys.stderr)
        return 0
    print(f"site {folder}")
    print(f"torch=={torch.version}")
    try:
        vision = metadata.distribution("torchvision")
        if supported("torchvision", vision.version) and Path(vision.locate_file("")) == folder:
            print(f"torchvision=={vision.version}")
            return 0
    except metadata.PackageNotFoundError:
        pass
    # Measured: torch 2.13.0+cpu reused, pip then took the index's torchvision 0.28.0, a CUDA build, whose
    # operators fail to load against a CPU torch ("operator torchvision::nms does not exist").
    print(f"setup: no supported torchvision beside torch {torch.version}: pip installs one built for the index's "
          "default torch; for a +cpu, +cuXXX or JetPack torch install the matching torchvision first, from the "
          "same place as torch", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
