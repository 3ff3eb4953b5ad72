"""The torch-free engine path: NumpyEngineRunner over fake pycuda / cuda-python / TensorRT that record every call,
the example app with torch blocked, and the numpy preprocessing against torchvision's."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_swin.trt import backend
from edge_swin.trt.cuda_memory import CudaUnavailable
from edge_swin.trt.metadata import EngineMismatch, NeedsGPU
from edge_swin.trt.preprocess import SidecarTransform
from tests.trt import fake_gpu_stack as fake

ROOT = Path(__file__).resolve().parents[2]
IMAGE_BYTES = 3 * 32 * 32 * 2  # one fp16 image of the fake engine


def write_engine(folder: Path, **spec) -> Path:
    engine = folder / "model_int8.engine"
    engine.write_bytes(fake.engine_bytes(**spec))
    sidecar = fake.sidecar(hashlib.sha256(engine.read_bytes()).hexdigest())
    (folder / "model_int8.engine.json").write_text(json.dumps(sidecar))
    return engine


@pytest.fixture
def stack(monkeypatch):
    """The fakes in sys.modules (TensorRT 10.3.0, one Orin), a clean call log, and no cached real TensorRT."""
    fake.CALLS.clear()
    fake.MEMORY.clear()
    monkeypatch.setitem(fake.GPU, "count", 1)
    monkeypatch.setitem(fake.GPU, "cc", (8, 7))
    for name, module in fake.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    backend.load.cache_clear()
    yield fake
    backend.load.cache_clear()


@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_numpy_runner_moves_the_bytes_and_returns_the_engines_logits(stack, tmp_path, binding):
    from edge_swin.trt.numpy_engine_runner import NumpyEngineRunner

    runner = NumpyEngineRunner(write_engine(tmp_path), cuda=binding)
    assert runner.cuda.name == binding and runner.max_batch == 4 and runner.dtype_names["images"] == "float16"
    x = np.random.default_rng(0).normal(size=(5, 3, 32, 32)).astype(np.float32)  # 5 > the profile's 4: two launches
    logits = runner(x)
    assert logits.dtype == np.float32 and logits.shape == (5, 3)
    np.testing.assert_allclose(logits, fake.expected_logits(x.astype(np.float16), 3), rtol=1e-5, atol=1e-6)

    calls = stack.CALLS
    names = [c[0].split(".", 1)[1] for c in calls]
    launches = [i for i, n in enumerate(names) if n == "execute_async_v3"]
    assert len(launches) == 2 and all(calls[i][1] == 0x5EED for i in launches)  # on the runner's stream
    assert names.index("deserialize_cuda_engine") > names.index("push" if binding == "pycuda" else "cudaSetDevice")
    if binding == "pycuda":
        allocs = [c for c in calls if c[0] == "pycuda.mem_alloc"]
        assert [a[1] for a in allocs] == [4 * IMAGE_BYTES, 4 * 3 * 4]  # once, at the profile's maximum batch
        assert ("pycuda.pagelocked_empty", (4, 3, 32, 32), "float16") in calls
        ins = [c for c in calls if c[0] == "pycuda.htod"]
        outs = [c for c in calls if c[0] == "pycuda.dtoh"]
        assert [(c[1], c[2], c[3]) for c in ins] == [(allocs[0][2], 4 * IMAGE_BYTES, "float16"),
                                                     (allocs[0][2], IMAGE_BYTES, "float16")]
        assert [(c[1], c[2]) for c in outs] == [(allocs[1][2], 4 * 3 * 4), (allocs[1][2], 3 * 4)]
        assert names.count("synchronize") == 2
    else:
        copies = [(c[1], c[2]) for c in calls if c[0] == "cudart.cudaMemcpyAsync"]
        assert copies == [("cudaMemcpyHostToDevice", 4 * IMAGE_BYTES), ("cudaMemcpyDeviceToHost", 48),
                          ("cudaMemcpyHostToDevice", IMAGE_BYTES), ("cudaMemcpyDeviceToHost", 12)]
        assert names.count("cudaStreamSynchronize") == 2
    # each launch: shape, copy in, run, copy out, wait - in that order
    first = names[names.index("set_input_shape", launches[0] - 3):launches[0] + 3]
    assert first[0] == "set_input_shape" and first[-1] in ("synchronize", "cudaStreamSynchronize")
    runner.close()
    assert (("pycuda.pop",) in calls) if binding == "pycuda" else any(c[0] == "cudart.cudaFree" for c in calls)


def test_numpy_runner_refusals(stack, tmp_path, monkeypatch):
    from edge_swin.trt.numpy_engine_runner import NumpyEngineRunner

    engine = write_engine(tmp_path)
    monkeypatch.setitem(fake.GPU, "cc", (9, 0))
    with pytest.raises(EngineMismatch, match="built for target jetson-orin .* this GPU is Orin \\(fake\\), SM 9.0"):
        NumpyEngineRunner(engine, cuda="pycuda")
    monkeypatch.setitem(fake.GPU, "count", 0)
    with pytest.raises(NeedsGPU, match="needs a CUDA GPU"):
        NumpyEngineRunner(engine, cuda="cuda-python")
    with pytest.raises(NeedsGPU, match="pycuda finds none here"):
        NumpyEngineRunner(engine, cuda="pycuda", check=False)
    with pytest.raises(CudaUnavailable, match="unknown CUDA binding 'cupy'"):
        NumpyEngineRunner(engine, cuda="cupy")
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)  # neither binding importable
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)
    with pytest.raises(CudaUnavailable, match="pip install pycuda"):
        NumpyEngineRunner(engine)


def test_numpy_runner_batch_and_shape_errors(stack, tmp_path):
    from edge_swin.trt.numpy_engine_runner import NumpyEngineRunner

    runner = NumpyEngineRunner(write_engine(tmp_path, batch=2, max_batch=2), cuda="pycuda")
    assert runner.static_batch == 2
    with pytest.raises(ValueError, match="built for batch 2 exactly; got 3"):
        runner(np.zeros((3, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"takes \[batch, 3, 32, 32\]; got \[2, 3, 28, 28\]"):
        runner(np.zeros((2, 3, 28, 28), np.float32))


@pytest.mark.skipif(importlib.util.find_spec("cuda.bindings") is None, reason="cuda-python is not installed")
def test_real_cuda_python_on_a_machine_without_a_gpu(stack, tmp_path, monkeypatch):
    """The real cuda-python bindings (not the fake) where there is no driver: the runner's GPU check refuses."""
    from edge_swin.trt.cuda_memory import CudaPythonMemory
    from edge_swin.trt.numpy_engine_runner import NumpyEngineRunner

    monkeypatch.delitem(sys.modules, "cuda.bindings.runtime")
    if CudaPythonMemory().gpu() is not None:
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(NeedsGPU, match="needs a CUDA GPU"):
        NumpyEngineRunner(write_engine(tmp_path), cuda="cuda-python")


@pytest.mark.parametrize("size,mode,crop_pct", [((37, 23), "L", 0.875), ((45, 61), "RGB", 1.0),
                                                ((33, 33), "RGBA", 0.875), ((500, 375), "RGB", 0.875)])
def test_sidecar_transform_matches_torchvision(size, mode, crop_pct):
    from edge_swin.data.transforms import eval_transform

    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)
    preprocess = {"img_size": 32, "crop_pct": crop_pct, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    ours = SidecarTransform(preprocess)(image)
    reference = eval_transform(32, crop_pct, preprocess["mean"], preprocess["std"])(image.convert("RGB")).numpy()
    assert ours.dtype == np.float32 and ours.shape == (3, 32, 32)
    np.testing.assert_allclose(ours, reference, atol=1e-6)


TORCH_FREE_APP = """
import importlib.abc, importlib.util, json, sys

class BlockTorch(importlib.abc.MetaPathFinder):
    # torch as on a Jetson without it; tomllib as on JetPack 6's Python 3.10, which has none
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "tomllib", "tomli"):
            raise ModuleNotFoundError(f"{name} is blocked in this test")

sys.meta_path.insert(0, BlockTorch())
sys.path.insert(0, sys.argv[1])
from tests.trt import fake_gpu_stack as fake
sys.modules.update(fake.modules())
# the binding under test is the only one that imports: the other is blocked as if not installed
blocked = ["cuda.bindings.runtime", "cuda.cudart"] if sys.argv[2] == "pycuda" else ["pycuda", "pycuda.driver"]
sys.modules.update(dict.fromkeys(blocked))
spec = importlib.util.spec_from_file_location("classify", sys.argv[1] + "/examples/python/classify.py")
classify = importlib.util.module_from_spec(spec)
spec.loader.exec_module(classify)
status = classify.main(sys.argv[3:])
print(json.dumps({"status": status, "torch_loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "tomllib")),
                  "calls": sorted({c[0] for c in fake.CALLS})}))
"""


def run_app(binding: str, *argv) -> tuple[dict, list[str], str]:
    done = subprocess.run([sys.executable, "-c", TORCH_FREE_APP, str(ROOT), binding, *map(str, argv)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    *lines, last = done.stdout.strip().splitlines()
    return json.loads(last), lines, done.stderr


@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_classify_app_runs_with_torch_blocked(tmp_path, binding):
    engine = write_engine(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(2)
    for i, (w, h) in enumerate([(40, 30), (33, 61), (64, 64), (50, 41), (35, 35)]):  # 5 images: two launches
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    whole = (photos / "0.png").read_bytes()
    (photos / "broken.png").write_bytes(whole[: len(whole) // 2])  # sorts last: the 5 good ones are printed first
    result, lines, err = run_app(binding, engine, photos, "--top", "2")
    assert result["status"] == 1 and result["torch_loaded"] == []  # 1: one image could not be read
    assert f"error: cannot read {photos / 'broken.png'}: " in err and "Traceback" not in err
    assert ("pycuda.htod" if binding == "pycuda" else "cudart.cudaMemcpyAsync") in result["calls"]
    assert "trt.execute_async_v3" in result["calls"]
    # the printed top-2 is the fake engine's arithmetic on the sidecar's preprocessing
    transform = SidecarTransform(fake.sidecar("")["preprocess"])
    for line, path in zip(lines, sorted(photos.iterdir())):
        x = transform(Image.open(path))[None].astype(np.float16)
        logits = fake.expected_logits(x, 3)[0]
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        top = np.argsort(-probs, kind="stable")[:2]
        classes = ["cat", "dog", "fox"]
        assert line == f"{path}: " + ", ".join(f"{classes[k]} {100 * probs[k]:.1f}%" for k in top)
    assert len(lines) == 5

    result, lines, err = run_app(binding, engine, photos, "--runtime", "torch")
    assert result["status"] == 2 and "--runtime torch needs torch" in err and result["torch_loaded"] == []
