"""Does this interpreter already have a torch (and torchvision) that edge-swin supports? For scripts/setup.sh.

    python3 scripts/find_torch.py        -> prints pip constraint lines and the folder holding them, or nothing

Prints, when torch's version is inside pyproject.toml's range:
    site <folder that holds torch>
    torch==<version>
    torchvision==<version>        (when an installed torchvision is in its range too)
setup.sh then makes that folder visible to .venv and pins those versions for pip, so the install neither
downloads another torch nor swaps the user's. Out of range or absent: one line on stderr, nothing on stdout.
Runs on the user's interpreter before anything is installed: standard library only.
"""
from __future__ import annotations

import importlib.metadata as metadata
import re
import sys

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


def main() -> int:
    try:
        torch = metadata.distribution("torch")
    except metadata.PackageNotFoundError:
        return 0
    if not supported("torch", torch.version):
        low, high = SUPPORTED["torch"]
        why = ("a pre-release build (pip's >= never matches those; a JetPack torch is one: see the README's "
               "'Which torch')" if release(torch.version) is None and re.match(r"\d", torch.version) else
               f"outside the supported range >={low[0]}.{low[1]},<{high[0]}.{high[1]}")
        print(f"setup: {sys.executable} has torch {torch.version}, {why}: .venv gets its own", file=sys.stderr)
        return 0
    print(f"site {torch.locate_file('')}")
    print(f"torch=={torch.version}")
    try:
        vision = metadata.distribution("torchvision")
        if supported("torchvision", vision.version) and vision.locate_file("") == torch.locate_file(""):
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
