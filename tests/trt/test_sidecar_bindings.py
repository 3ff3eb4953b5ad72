"""The engine apps check the sidecar against the engine's own tensors, and skip (naming it) any image they cannot
read, decompression bombs included. On the fake TensorRT / pycuda of fake_gpu_stack, no GPU needed.

Before: a sidecar of another build (another image size, class list or dtype) gave wrong labels silently or a
traceback at the first launch, and one oversized image (PIL's DecompressionBombError) ended the whole batch.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_swin.trt.metadata import MetadataError, check_bindings
from tests.trt import fake_gpu_stack as fake
from tests.trt.test_numpy_runtime import run_app, stack  # noqa: F401  (stack: the fakes in sys.modules, a fixture)

INPUT = {"name": "images", "shape": [-1, 3, 32, 32], "dtype": "float16"}
OUTPUT = {"name": "logits", "shape": [-1, 3], "dtype": "float32"}


def write_engine(folder: Path, *, engine: dict | None = None, **sidecar_fields) -> Path:
    """A fake engine (32 px, 3 classes, fp16 input unless `engine` says otherwise) and its sidecar, edited."""
    path = folder / "model_int8.engine"
    path.write_bytes(fake.engine_bytes(**(engine or {})))
    sidecar = fake.sidecar(hashlib.sha256(path.read_bytes()).hexdigest())
    sidecar.update(inputs=[dict(INPUT)], outputs=[dict(OUTPUT)])
    sidecar.update(sidecar_fields)
    (folder / "model_int8.engine.json").write_text(json.dumps(sidecar))
    return path


@pytest.mark.parametrize("engine,sidecar,says", [
    ({"img": 28}, {}, "the engine takes [3, 28, 28]"),  # the sidecar's preprocessing makes 32 px images
    ({"classes": 4}, {}, "the sidecar names 3 classes; the engine outputs 4 logits"),
    ({"input_dtype": "FLOAT"}, {}, "images dtype float16 in the sidecar, float32 in the engine"),
    ({}, {"outputs": [{"name": "probs", "shape": [-1, 3], "dtype": "float32"}]}, "outputs ['probs'] in the sidecar"),
    ({}, {"classes": ["cat", "dog"], "preprocess": {**fake.sidecar("")["preprocess"], "img_size": 64}},
     "makes [3, 64, 64] images; the engine takes [3, 32, 32]; the sidecar names 2 classes; the engine outputs 3"),
])
def test_a_sidecar_that_disagrees_with_the_engine_is_refused_in_one_message(stack, tmp_path, engine, sidecar, says):
    from edge_swin.trt.numpy_runtime import NumpyEngineRunner

    with pytest.raises(MetadataError) as refused:
        NumpyEngineRunner(write_engine(tmp_path, engine=engine, **sidecar), cuda="pycuda")
    message = str(refused.value)
    assert message.startswith("model_int8.engine does not match its sidecar (model_int8.engine.json): ")
    assert says in message and "rebuild both together" in message
    assert not any(c[0] == "trt.execute_async_v3" for c in stack.CALLS)


def test_a_matching_sidecar_passes_and_old_sidecars_without_tensors_still_load(stack, tmp_path):
    from edge_swin.trt.numpy_runtime import NumpyEngineRunner

    runner = NumpyEngineRunner(write_engine(tmp_path), cuda="pycuda")
    assert runner.num_classes == 3
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    assert NumpyEngineRunner(write_engine(legacy, inputs=None, outputs=None), cuda="pycuda").num_classes == 3
    # the builder records TensorRT's dtype names ("half", "float"): the same types as numpy's
    check_bindings({"inputs": [{**INPUT, "dtype": "half"}], "outputs": [{**OUTPUT, "dtype": "float"}]},
                   [INPUT], [OUTPUT], "e.engine")


def test_classes_from_another_runs_report_are_refused(tmp_path):
    from tests.trt.test_runtime import _script

    classify = _script("examples/python/classify.py")
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"classes": ["a", "b", "c", "d"]}))
    with pytest.raises(classify.EdgeSwinError, match="lists 4 classes but e.engine outputs 3 logits"):
        classify.class_names({}, Path("e.engine"), report, 3)
    assert classify.class_names({}, Path("e.engine"), report, 4) == ["a", "b", "c", "d"]


def test_classify_names_and_skips_a_decompression_bomb_and_classifies_the_rest(tmp_path):
    engine = write_engine(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "c.png"):
        Image.fromarray(np.full((40, 30, 3), 90, np.uint8)).save(photos / name)
    # 12000 x 12000 = 144M pixels: over Pillow's 89.5M limit (a warning), under twice it (the error): both refused
    Image.new("1", (12000, 12000)).save(photos / "b_huge.png")
    Image.new("1", (14000, 14000)).save(photos / "b_huger.png")
    result, lines, err = run_app("pycuda", engine, photos)
    assert result["status"] == 1 and "Traceback" not in err
    assert f"error: cannot read {photos / 'b_huge.png'}: DecompressionBombWarning: " in err
    assert f"error: cannot read {photos / 'b_huger.png'}: DecompressionBombError: " in err
    assert [line.split(":")[0] for line in lines] == [str(photos / "a.png"), str(photos / "c.png")]
