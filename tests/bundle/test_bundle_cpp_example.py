"""examples/cpp: compiles against every TensorRT header set we target; its preprocessing equals Python's.

There is no libnvinfer (and no GPU) here, so main.cpp is compiled, not linked. Its header-only parts
(image reading, the eval transform, the sidecar reader) are built into a small driver and run: the
transform must give exactly the floats edge_swin.data.eval_transform gives on the same image.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_swin.data import eval_transform
from tests.bundle.helpers import (
    CUDA_INCLUDE,
    HEADER_RELEASES,
    HEADERS_ENV,
    REPO,
    header_set,
)

EXAMPLE = REPO / "examples" / "cpp"
GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="no g++ on this machine")


@needs_gxx
@pytest.mark.parametrize("release", HEADER_RELEASES)
def test_main_compiles_against_tensorrt_headers(release, tmp_path):
    include = header_set(release)
    if include is None or not (include / "NvInfer.h").is_file():
        pytest.skip(f"no TensorRT {release} headers (set {HEADERS_ENV} to a folder of tensorrt-<release>/include)")
    if not (CUDA_INCLUDE / "cuda_runtime_api.h").is_file():
        pytest.skip(f"no CUDA headers at {CUDA_INCLUDE}")
    proc = subprocess.run([GXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-c", "-o", str(tmp_path / "main.o"),
                           "-isystem", str(include), "-isystem", str(CUDA_INCLUDE), str(EXAMPLE / "main.cpp")],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    if GXX is None:
        pytest.skip("no g++ on this machine")
    exe = tmp_path_factory.mktemp("driver") / "preprocess_driver"
    proc = subprocess.run([GXX, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{EXAMPLE}",
                           str(Path(__file__).with_name("preprocess_driver.cpp")), "-o", str(exe)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return exe


# (height, width, mode, model size, crop_pct): Fashion-MNIST's 28x28 grey up to 32 (the default run), an ImageFolder
# photo down to 224 with Swin's 0.875 crop, and odd shapes either way round.
CASES = [(28, 28, "L", 32, 1.0), (28, 28, "RGB", 32, 1.0), (300, 257, "RGB", 224, 0.875), (40, 30, "RGB", 32, 0.875),
         (20, 50, "L", 64, 1.0), (33, 77, "RGB", 32, 0.9)]


@pytest.mark.parametrize("height,width,mode,size,crop_pct", CASES)
def test_preprocessing_equals_eval_transform(driver, tmp_path, height, width, mode, size, crop_pct):
    rng = np.random.default_rng(height * width)
    pixels = rng.integers(0, 256, (height, width) if mode == "L" else (height, width, 3), dtype=np.uint8)
    image_path = tmp_path / ("image.pgm" if mode == "L" else "image.ppm")
    Image.fromarray(pixels, mode).save(image_path)
    out = tmp_path / "out.f32"
    proc = subprocess.run([str(driver), str(image_path), str(size), str(crop_pct), str(out)], check=False, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    got = np.fromfile(out, np.float32).reshape(3, size, size)
    expected = eval_transform(size, crop_pct)(Image.open(image_path).convert("RGB")).numpy()
    np.testing.assert_array_equal(got, expected)


def test_preprocessing_catches_a_wrong_transform(driver, tmp_path):
    """The comparison above has teeth: the same image through another crop_pct does not match."""
    pixels = np.random.default_rng(1).integers(0, 256, (60, 45, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "image.ppm")
    subprocess.run([str(driver), str(tmp_path / "image.ppm"), "32", "1.0", str(tmp_path / "out.f32")], check=True)
    got = np.fromfile(tmp_path / "out.f32", np.float32).reshape(3, 32, 32)
    other = eval_transform(32, 0.875)(Image.open(tmp_path / "image.ppm").convert("RGB")).numpy()
    assert np.abs(got - other).max() > 0.1


def test_bad_image_is_refused_with_the_conversion_hint(driver, tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.png")
    proc = subprocess.run([str(driver), str(tmp_path / "image.png"), "32", "1.0", str(tmp_path / "o.f32")],
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 1 and "not a binary PPM (P6) or PGM (P5)" in proc.stderr and "convert('RGB')" in proc.stderr


def test_sidecar_reader(driver, tmp_path):
    sidecar = {"format": "edge-swin-engine/1", "tensorrt": {"flavour": "tensorrt", "version": "10.3.0.30"},
               "target": {"name": "jetson-orin", "sm": 87, "min_sm": None}, "plugin": None,
               "preprocess": {"crop_pct": 0.875, "mean": [0.5, 0.5, 0.5]}, "classes": ["a \"b\"", "c\\d", "e"],
               "notes": ["x"], "accuracy": {"top1": 82.5, "ok": True}}
    path = tmp_path / "m.engine.json"
    path.write_text(json.dumps(sidecar, indent=2))
    proc = subprocess.run([str(driver), "--json", str(path)], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["tensorrt.version=10.3.0.30", "target.sm=87", "plugin.library=null",
                                        "preprocess.crop_pct=0.875", "classes=3", "missing=none"]
    path.write_text('{"tensorrt": {"version": "10.3.0"')  # truncated
    proc = subprocess.run([str(driver), "--json", str(path)], check=False, capture_output=True, text=True)
    assert proc.returncode == 1 and "JSON" in proc.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="no cmake on this machine")
def test_cmake_names_the_paths_to_set_without_tensorrt(tmp_path):
    proc = subprocess.run(["cmake", "-S", str(EXAMPLE), "-B", str(tmp_path / "build")], check=False, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=120)
    assert proc.returncode != 0
    assert "-DTENSORRT_INCLUDE_DIR" in proc.stderr and "-DTENSORRT_LIB_DIR" in proc.stderr
    include = header_set("10.3.0")
    if include is not None:  # headers but no library: says which path is still missing
        proc = subprocess.run(["cmake", "-S", str(EXAMPLE), "-B", str(tmp_path / "build2"),
                               f"-DTENSORRT_INCLUDE_DIR={include}"], check=False, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=120)
        assert proc.returncode != 0 and "libnvinfer not found" in proc.stderr and "-DTENSORRT_LIB_DIR" in proc.stderr
