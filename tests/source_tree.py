"""Our Python modules as the import system names them, read from the tree (standard library only: the fresh-import
check lists them in a process that must not have imported any of them)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_swin", "pipelines", "calib")  # what `pip install` ships


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(folders=PACKAGES, root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for folder in folders for p in sorted((root / folder).rglob("*.py"))
            if "bundle_templates" not in p.parts}  # the bundle's scripts run without the package
