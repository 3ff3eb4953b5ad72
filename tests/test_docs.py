"""README.md is a short front door whose two commands are the ones that work, and neither it nor docs/ points
outside the repository (a user who clones it has nothing else)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OUTSIDE = re.compile(r"DESIGN|FINDINGS|issue [0-9]|this session|shared/")


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_readme_opens_with_the_two_commands_and_the_test_command_is_cis():
    lines = (ROOT / "README.md").read_text().splitlines()
    run, test = lines[2].strip(), lines[3].strip()
    assert run == "bash scripts/setup.sh && .venv/bin/python -m pipelines.build --target jetson-orin"
    assert test == "bash scripts/setup.sh test && .venv/bin/python -m pytest -q"
    targets = tomllib.loads((ROOT / "edge_swin/trt/targets.toml").read_text())
    assert "jetson-orin" in targets and (ROOT / "pipelines/build.py").is_file()
    ci = (ROOT / ".ci/run").read_text()  # CI runs the README's test command (plus its exact torch)
    assert "bash scripts/setup.sh test" in ci and ".venv/bin/python -m pytest -q" in ci


def test_readme_and_docs_point_nowhere_outside_the_repository():
    found = [f"{page.relative_to(ROOT)}:{n}: {line.strip()}" for page in PAGES
             for n, line in enumerate(page.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "\n".join(found)
