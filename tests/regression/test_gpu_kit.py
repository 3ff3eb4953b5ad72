"""benchmarks/gpu_kit.py on a CPU: the prepared folder from a fake kernel table, a tiny run folder and tiny test
images (no kernel build, no download: wheels come from a local folder), its size check, its atomic write, run.sh
with a stubbed python/pip, and the prebuilt INT8 model that loads where modelopt is missing."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import gpu_kit  # noqa: E402
from benchmarks.gpu_kit import KitError, KitLayout, make_kit  # noqa: E402


def _idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A kernel folder as build + harness leave it, 20 test images, a run folder with its three files."""
    kernels = tmp_path / "built"
    (kernels / "kernels").mkdir(parents=True)
    (kernels / "manifest.json").write_text(json.dumps({"archs": [90], "kernels": []}))
    (kernels / "kernels" / "a.sm90.cubin").write_bytes(b"\0" * 1000)
    (kernels / gpu_kit.HARNESS_NAME).write_bytes(b"\x7fELF")
    (kernels / "cmake-build").mkdir()  # the harness's CMake tree: left out of the folder
    data = tmp_path / "fmnist"
    data.mkdir()
    _idx(data / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 28)), 2051)
    _idx(data / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 10, 2049)
    monkeypatch.setenv("EDGE_SWIN_FASHION_MNIST", str(data))
    headers = tmp_path / "trt"
    headers.mkdir()
    (headers / "NvInferRuntime.h").write_text("// the public header, here a stand-in\n")
    monkeypatch.setenv("EDGE_SWIN_TRT_HEADERS", str(headers))
    run = tmp_path / "runs" / "tiny"
    for rel in ("train/model.pth", "qat/int8.pth", "qat/int8.json"):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_bytes(b"x" * 100)
    return kernels, run


def _fake_wheel(folder: Path, filename: str) -> None:
    """A minimal valid wheel (dist-info with METADATA, WHEEL, RECORD) so pip accepts it offline."""
    name, version = filename.split("-")[:2]
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(folder / filename, "w") as z:
        z.writestr(f"{name}/__init__.py", "")
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")


def test_folder_holds_every_part(sources, tmp_path):
    kernels, run = sources
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    reqs = gpu_kit.wheel_requirements("3.12", with_modelopt=False)
    assert {r.split("<=")[0] for r in reqs} == {"tqdm", "safetensors"}  # torch, numpy, ... are on the GPU machine
    for r in reqs:
        name, version = r.split("<=")
        _fake_wheel(wheelhouse, f"{name}-{version}-py3-none-any.whl")
    out = tmp_path / "gpu_kit"
    parts = make_kit(out, [90], run, pythons=["3.12"], find_links=wheelhouse, kernels_from=kernels,
                     prebuilt=False, progress=False)
    layout = KitLayout(out)
    assert layout.harness.is_file() and (layout.kernels / "manifest.json").is_file()
    assert (layout.trt_headers / "NvInferRuntime.h").is_file()
    assert not (layout.kernels / "cmake-build").exists()
    assert set(layout.checkpoints()) == {"fp32", "int8"} and (layout.run / "qat" / "int8.json").is_file()
    assert layout.data_env() == {"EDGE_SWIN_FASHION_MNIST": str(layout.data)}
    assert sorted(p.name.split("-")[0] for p in layout.wheels.glob("*.whl")) == ["safetensors", "tqdm"]
    assert (layout.wheels / "requirements-3.12.txt").read_text().split() == ["safetensors", "tqdm"]
    assert layout.run_sh.stat().st_mode & stat.S_IXUSR
    manifest = json.loads(layout.manifest.read_text())
    assert manifest["sm"] == [90] and manifest["pythons"] == ["3.12"] and manifest["total_mb"] < 1
    assert parts["kit.json"] > 0 and "wheels/requirements-3.12.txt" in parts
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gpu_kit")] == []  # no temporary left


def test_size_check_refuses_with_the_breakdown_and_keeps_the_old_folder(sources, tmp_path):
    kernels, _ = sources
    out = tmp_path / "gpu_kit"
    out.mkdir()
    (out / "kit.json").write_text("{}")  # a previous folder
    with pytest.raises(KitError) as err:
        make_kit(out, [90], None, wheels=False, kernels_from=kernels, prebuilt=False, max_mb=0.001, progress=False)
    message = str(err.value)
    assert "over the 0.001 MB limit" in message and "kernels" in message and "data" in message
    assert "--no-wheels" in message and "total" in message
    assert (out / "kit.json").read_text() == "{}" and sorted(p.name for p in tmp_path.iterdir()) == [
        "built", "fmnist", "gpu_kit", "runs", "trt"]


@pytest.mark.parametrize("problem", ["no_run", "run_without_qat", "kernels_for_another_sm", "no_images",
                                     "no_headers"])
def test_bad_inputs_name_the_fix_and_write_nothing(sources, tmp_path, monkeypatch, problem):
    kernels, run = sources
    sms = [90]
    if problem == "no_run":
        run = tmp_path / "runs" / "missing"
    elif problem == "run_without_qat":
        shutil.rmtree(run / "qat")
    elif problem == "kernels_for_another_sm":
        sms = [87]
    elif problem == "no_images":
        monkeypatch.setenv("EDGE_SWIN_FASHION_MNIST", str(tmp_path / "nowhere"))
    else:
        monkeypatch.setenv("EDGE_SWIN_TRT_HEADERS", str(tmp_path / "nowhere"))
    with pytest.raises(KitError, match={"no_run": "no such folder", "run_without_qat": "qat/int8.pth",
                                        "kernels_for_another_sm": "--arch 87", "no_images": "dataset-fashion-mnist",
                                        "no_headers": "no TensorRT headers in EDGE_SWIN_TRT_HEADERS"}[problem]):
        make_kit(tmp_path / "gpu_kit", sms, run, wheels=False, kernels_from=kernels, prebuilt=False, progress=False)
    assert not (tmp_path / "gpu_kit").exists() and not list(tmp_path.glob(".gpu_kit*"))


def test_command_line(sources, tmp_path, capsys):
    kernels, _ = sources
    assert gpu_kit.main(["--sm", "90", "--out", str(tmp_path / "k"), "--no-wheels", "--no-prebuilt",
                         "--kernels-from", str(kernels), "--no-progress"]) == 0
    assert "MB  total" in capsys.readouterr().out
    for bad in (["--sm", "ninety"], ["--sm", "61"], ["--sm", "90", "--python", "3"]):
        with pytest.raises(SystemExit):
            gpu_kit.main(bad)
    assert gpu_kit.main(["--sm", "90", "--out", str(tmp_path / "k2"), "--no-wheels", "--no-prebuilt",
                         "--kernels-from", str(tmp_path)]) == 1
    assert "lacks manifest.json" in capsys.readouterr().err


def _stub_python(folder: Path) -> Path:
    """A `python` that logs its arguments and PYTHONPATH, answers the version question, and succeeds."""
    stub = folder / "python"
    stub.write_text('#!/usr/bin/env bash\n'
                    'echo "$* | PYTHONPATH=$PYTHONPATH | TRT=$EDGE_SWIN_TRT_HEADERS" >> "$STUB_LOG"\n'
                    'if [ "$1" = "-c" ]; then echo 3.12; fi\nexit 0\n')
    stub.chmod(0o755)
    return stub


def test_run_sh_installs_offline_and_runs_the_suite(tmp_path):
    layout = KitLayout(tmp_path / "repo" / "gpu_kit")
    layout.wheels.mkdir(parents=True)
    (layout.wheels / "requirements-3.12.txt").write_text("tqdm\n")
    layout.run_sh.write_text(gpu_kit.RUN_SH)
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck:
        lint = subprocess.run([shellcheck, str(layout.run_sh)], capture_output=True, text=True, check=False)
        assert lint.returncode == 0, lint.stdout
    log = tmp_path / "log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EDGE_SWIN_")},
           "PYTHON": str(_stub_python(tmp_path)), "STUB_LOG": str(log), "OUT": str(tmp_path / "out")}
    proc = subprocess.run(["bash", str(layout.run_sh), "--quick"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    pip = next(c for c in calls if " pip install " in f" {c}")
    assert "--no-index" in pip and f"--find-links {layout.wheels}" in pip and f"--target {layout.root}/site" in pip
    suite = calls[-1]
    assert suite.startswith(f"benchmarks/gpu_suite.py --kit {layout.root} --results-root {tmp_path}/out/gpu --quick")
    assert f"PYTHONPATH={layout.root}/site:{tmp_path}/repo" in suite and f"TRT={layout.trt_headers}" in suite
    # another Python than the wheels were made for: said, and the suite still runs
    (layout.wheels / "requirements-3.12.txt").rename(layout.wheels / "requirements-3.11.txt")
    proc = subprocess.run(["bash", str(layout.run_sh)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and "no wheels for Python 3.12" in proc.stdout


@pytest.mark.slow
def test_prebuilt_int8_models_are_exact_and_load_without_modelopt(tmp_path):
    """prebuild (what the folder command runs where modelopt is): the whole-model INT8 row and the QAT checkpoint
    with fake quant's logits. The INT8 weights go as integers + their row scales: bit-exact after load, and the
    files unpickle in a process where modelopt cannot be imported (the GPU machine)."""
    from edge_swin.bench.quantized_models import calibrated_copy, load_prebuilt, prebuild
    from edge_swin.models import create_swin
    from edge_swin.quant import save_quantized
    from edge_swin.runtime import convert

    torch.manual_seed(0)
    qat = calibrated_copy(create_swin("swin_nano", num_classes=10).eval(), 4)
    save_quantized(qat, tmp_path / "int8.pth")
    written = prebuild(tmp_path / "prebuilt", arch="swin_nano", int8_checkpoint=tmp_path / "int8.pth", max_images=3,
                       calibration_images=4)
    assert [p.name for p in written] == ["runtime_int8.pt", "int8_accuracy.pt"]
    packed = torch.load(written[1], weights_only=False)["state"]
    assert sum(isinstance(v, dict) for v in packed.values()) >= 8  # the int8 weights went as integers
    loaded, (x, logits) = load_prebuilt(written[1], "cpu")
    want, got = convert(qat, "int8", device="cpu").state_dict(), loaded.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert x is None and logits.shape == (3, 10)  # fake quant's logits on the first 3 test images
    with torch.inference_mode():
        assert torch.allclose(logits, qat(torch.stack([_test_image(i) for i in range(3)])), atol=1e-4)
    _, (x, logits) = load_prebuilt(written[0], "cpu")
    assert x.shape == (8, 3, 32, 32) and logits.shape == (8, 1000)
    probe = ("import sys, importlib.abc\n"
             "class Block(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path, target=None):\n"
             "        if name.split('.')[0] == 'modelopt': raise ImportError('no modelopt here')\n"
             "sys.meta_path.insert(0, Block())\n"
             "from edge_swin.bench.quantized_models import load_prebuilt\n"
             "print(*(type(load_prebuilt(p, 'cpu')[0]).__name__ for p in sys.argv[1:]), 'modelopt' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", probe, *map(str, written)], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["RuntimeModel", "RuntimeModel", "False"]


def _test_image(i: int) -> torch.Tensor:
    from edge_swin.data import embedded_dataset, eval_transform

    return embedded_dataset("val", eval_transform(32, 1.0))[i][0]


class _FakeRuntime(torch.nn.Module):
    """Stands in for a prebuilt INT8 runtime model: the plumbing around it, not Triton's interpreter (minutes)."""
    img_size = 32

    def forward(self, x):
        return x.float().mean((2, 3)).repeat(1, 4)[:, :10]


def test_prebuilt_rows_reach_the_benchmark_and_the_top1(monkeypatch):
    """How the GPU machine uses prebuilt files: the INT8 row's latency and fidelity against the carried logits on
    the carried input, and the INT8 top-1 pair from the carried fake-quant logits."""
    from edge_swin.bench import whole_model as wm
    from edge_swin.bench.quantized_models import seeded_input

    x = seeded_input({"seed": 8, "shape": [8, 3, 32, 32]})
    images = [_test_image(i) for i in range(4)]
    carried = {"row": (x, _FakeRuntime()(x)), "acc": (None, _FakeRuntime()(torch.stack(images)) + 0.5)}
    monkeypatch.setattr(wm, "load_prebuilt", lambda path, device: (_FakeRuntime(), carried[path]))
    monkeypatch.setattr(wm, "_has_modelopt", lambda: False)  # as on the GPU machine
    result = wm.whole_model_benchmark((1,), arch="swin_nano", runs=1, warmup=0,
                                      contenders=["eager_fp16", "runtime_int8"], prebuilt={"runtime_int8": "row"},
                                      device="cpu", progress=False)
    assert isinstance(result["rows"][0]["runtime_int8_ms"], float)
    fidelity = result["fidelity"]["runtime_int8"]
    assert fidelity == {"vs": "modelopt fake quant", "batch": 8, "max_rel_logit_err": 0.0, "top1_agreement": 1.0}
    acc = wm._accuracy(None, "qat/int8.pth", None, 4, "cpu", int8_prebuilt="acc")
    assert acc["images"] == 4 and acc["runtime_int8_vs_pytorch_fake_quant_int8"]["max_logit_diff"] == pytest.approx(0.5)
    assert "modelopt is not installed" in acc["pytorch_fake_quant_int8_computed"]
    assert wm._accuracy(None, "qat/int8.pth", None, 4, "cpu") == {
        "runtime_int8": "not available: modelopt is not installed here and no prebuilt INT8 model was given"}
