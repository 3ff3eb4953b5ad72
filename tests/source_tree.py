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


# The loop that once broke `import edge_swin.eval.sharded` in a fresh process, in miniature: trainer imports
# eval.sharded, sharded imports train.distributed, and importing that runs train/__init__.py, which imports trainer.
OLD_LOOP = {
    "pkg/__init__.py": "",
    "pkg/train/__init__.py": "from pkg.train.trainer import train\n",
    "pkg/train/trainer.py": "from pkg.eval.sharded import evaluate_sharded\ntrain = 1\n",
    "pkg/train/distributed.py": "world_size = 1\n",
    "pkg/eval/__init__.py": "",
    "pkg/eval/sharded.py": "from pkg.train.distributed import world_size\nevaluate_sharded = 1\n",
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    """A synthetic source tree: {relative path: text}."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
