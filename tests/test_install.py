"""Which torch setup.sh installs: pyproject.toml's range, the reuse check (scripts/find_torch.py) and CI's exact pin
agree; a torch inside another virtual environment is not reused; bad EDGE_SWIN_TORCH choices stop setup.sh before it
installs anything."""
from __future__ import annotations

import re
import shutil
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
    out, err = _find(tmp_path)
    assert out == "" and "has no torch: .venv gets its own" in err


def _venv_python(folder: Path) -> Path:
    """A real virtual environment (no pip: fast) made from the interpreter outside any venv."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return folder / "bin" / "python"


def test_find_torch_does_not_reuse_a_torch_inside_a_venv(tmp_path):
    # --system-site-packages shows .venv the base interpreter's packages, never another venv's.
    python = _venv_python(tmp_path / "user_venv")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    _fake_site(Path(purelib), torch="2.12.0", torchvision="0.27.0")
    done = subprocess.run([str(python), str(ROOT / "scripts/find_torch.py")], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout == ""
    assert "inside the virtual environment" in done.stderr and "-m pip install -e ." in done.stderr


def _setup_copy(tmp_path: Path) -> Path:
    """setup.sh and find_torch.py alone in a scratch tree: a refusal that failed to refuse installs nothing here."""
    (tmp_path / "scripts").mkdir(parents=True)
    for name in ("setup.sh", "find_torch.py"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    return tmp_path / "scripts" / "setup.sh"


@pytest.mark.parametrize("env,message", [
    ({"EDGE_SWIN_TORCH": "mine"}, "EDGE_SWIN_TORCH=mine is not a choice: auto (default), reuse or own"),
    ({"EDGE_SWIN_TORCH": "reuse", "EDGE_SWIN_CONSTRAINTS": "scripts/ci-constraints.txt"},
     "EDGE_SWIN_CONSTRAINTS pins exact versions and EDGE_SWIN_TORCH=reuse keeps yours: unset one"),
    ({"EDGE_SWIN_TORCH": "reuse"}, "EDGE_SWIN_TORCH=reuse, but"),
    ({"PYTHON": "no-such-python3"}, "PYTHON=no-such-python3 is not a command here"),
])
def test_setup_refuses_a_bad_torch_choice_before_installing(tmp_path, env, message):
    script = _setup_copy(tmp_path / "tree")
    python = _venv_python(tmp_path / "no_torch")  # an interpreter without torch
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)} | env)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert sorted(p.name for p in (tmp_path / "tree").iterdir()) == ["scripts"]  # no .venv, nothing written
