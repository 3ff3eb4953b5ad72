"""The torch range: pyproject.toml, setup.sh's reuse check (scripts/find_torch.py) and CI's exact pin agree."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import find_torch  # noqa: E402


def _requirements() -> dict[str, Requirement]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {r.name: r for r in map(Requirement, deps)}


def test_pyproject_range_and_find_torch_agree():
    reqs = _requirements()
    for name, (low, high) in find_torch.SUPPORTED.items():
        spec = reqs[name].specifier
        assert str(spec) in (f">={low[0]}.{low[1]},<{high[0]}.{high[1]}", f"<{high[0]}.{high[1]},>={low[0]}.{low[1]}")
    assert reqs["torch"].specifier.contains("2.11.0") and reqs["torch"].specifier.contains("2.14.1")
    assert not reqs["torch"].specifier.contains("2.10.0") and not reqs["torch"].specifier.contains("2.15.0")


def test_ci_pins_a_version_inside_the_range():
    pins = dict(re.findall(r"^(\w+)==(\S+)$", (ROOT / "scripts/ci-constraints.txt").read_text(), re.M))
    assert pins == {"torch": "2.14.1", "torchvision": "0.29.1"}
    reqs = _requirements()
    assert all(reqs[name].specifier.contains(version) for name, version in pins.items())
    assert "EDGE_SWIN_CONSTRAINTS=scripts/ci-constraints.txt bash scripts/setup.sh test" in (ROOT / ".ci/run").read_text()


def _fake_site(folder: Path, **versions) -> Path:
    for name, version in versions.items():
        info = folder / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return folder


def _find(site: Path) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-S", str(ROOT / "scripts/find_torch.py")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(site)}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


@pytest.mark.parametrize("torch,vision,expected", [
    ("2.12.0+cu128", "0.27.0+cu128", ["torch==2.12.0+cu128", "torchvision==0.27.0+cu128"]),
    ("2.11.0", None, ["torch==2.11.0"]),  # no torchvision: pip picks one that fits the pinned torch
    ("2.14.1", "0.25.0", ["torch==2.14.1"]),  # a torchvision outside its range is not pinned
])
def test_find_torch_reports_a_supported_install(tmp_path, torch, vision, expected):
    versions = {"torch": torch} | ({"torchvision": vision} if vision else {})
    out, err = _find(_fake_site(tmp_path, **versions))
    lines = out.splitlines()
    assert lines[0] == f"site {tmp_path}" and lines[1:] == expected
    assert ("install the matching torchvision first" in err) == (len(expected) == 1)


@pytest.mark.parametrize("torch,reason", [("2.10.0", "outside the supported range >=2.11,<2.15"),
                                          ("2.15.0", "outside the supported range"),
                                          ("2.12.0a0+nv25.10", "a pre-release build")])
def test_find_torch_leaves_other_torches_alone(tmp_path, torch, reason):
    out, err = _find(_fake_site(tmp_path, torch=torch))
    assert out == "" and reason in err and ".venv gets its own" in err


def test_find_torch_without_torch(tmp_path):
    assert _find(tmp_path) == ("", "")
