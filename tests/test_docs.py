"""README.md is a short front door whose two commands are the ones that work, and no tracked file points
outside the repository (a user who clones it has nothing else)."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Pointers to notes, issue trackers or folders a clone does not have. Each word has one letter in a bracket so
# that this line does not match itself.
OUTSIDE = re.compile(r"DESIG[N]|FINDING[S]|[Ii]ssu[e] [0-9]+|this sessio[n]|share[d]/")
# CI's own setup may name where CI keeps the TensorRT headers.
CI_SETUP = {".ci/run"}


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


def test_pattern_catches_what_it_is_for():
    # each example is split in two literals so that this file's own lines stay clean
    for line in ("see DESI" "GN", "FINDI" "NGS 'x'", "(is" "sue 13)", "Is" "sue 7", "in this ses" "sion",
                 "sha" "red/third_party"):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search("docs/findings.md and docs/design.md, 'Bytes decide the speed'; an issue with it")


def test_no_tracked_file_points_outside_the_repository():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = []
    for name in sorted(set(listed.decode().split("\0")) - {""} - CI_SETUP):
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary (images, cubins): no prose to point anywhere
        found += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "say the fact itself or point into docs/:\n" + "\n".join(found)
