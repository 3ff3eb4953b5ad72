"""convert(): the whole swin_nano on our kernels (Triton's interpreter) against the PyTorch model it came from."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge_swin.errors import EdgeSwinError
from edge_swin.runtime import RuntimeUnavailable, convert
from edge_swin.runtime.modules import FusedWindowAttention, Int8Linear, Int8PatchConv


def _rel(y, ref) -> float:
    return float((y.double() - ref.double()).abs().max() / ref.double().abs().max())


def assert_same_class_where_decided(y, ref):
    """Same top-1 for every image whose reference top-2 margin is larger than twice the largest logit error.

    Random weights on random images make near ties (margins of 0.01 seen); there any kernel may go either way.
    At least one image must be decided, or the check would test nothing.
    """
    top2 = ref.topk(2, dim=1).values
    decided = (top2[:, 0] - top2[:, 1]) > 2 * (y - ref).abs().max()
    assert decided.any()
    assert torch.equal(y.argmax(1)[decided], ref.argmax(1)[decided])


def test_fp16_runtime_matches_the_fp32_model(nano, images):
    runtime = convert(nano, "fp16")
    nodes = [m for m in runtime.modules() if isinstance(m, FusedWindowAttention)]
    assert len(nodes) == 4 and sum(n.mask is not None for n in nodes) == 1  # nano: one shifted block (stage 1)
    with torch.no_grad():
        y, ref = runtime(images), nano(images)
    assert y.dtype == torch.float32 and y.shape == ref.shape
    # The FP16 export's bar (tests/export): fp16 end to end, ~1e-3 of the logit range; measured here ~1e-3.
    assert _rel(y, ref) < 1e-2
    assert_same_class_where_decided(y, ref)


def test_int8_runtime_matches_fake_quant(nano_int8, images):
    """fp32 io: the kernels' integers are modelopt's, so only rounding ties and float order differ."""
    runtime = convert(nano_int8, "int8", dtype=torch.float32)
    kinds = [type(m) for m in runtime.modules()]
    assert kinds.count(FusedWindowAttention) == 4
    assert kinds.count(Int8PatchConv) == 1
    assert kinds.count(Int8Linear) == 4 * 2 + 1  # fc1 + fc2 per block, one patch merging (Int8PatchConv excluded)
    with torch.no_grad():
        y, ref = runtime(images), nano_int8(images)
    assert _rel(y, ref) < 2e-2
    assert_same_class_where_decided(y, ref)


def test_int8_runtime_fp16_io(nano_int8, images):
    """fp16 activations between the int8 kernels (the GPU default): a few quantization steps more, same classes."""
    runtime = convert(nano_int8, "int8")
    with torch.no_grad():
        y, ref = runtime(images), nano_int8(images)
    assert _rel(y, ref) < 5e-2
    assert_same_class_where_decided(y, ref)


def _same_module(a, b) -> bool:
    """Same structure and the same buffers: the same computation (the forward is checked in the tests above)."""
    ba, bb = dict(a.named_buffers()), dict(b.named_buffers())
    return str(a) == str(b) and ba.keys() == bb.keys() and all(torch.equal(ba[k], bb[k]) for k in ba)


def test_convert_from_run_files(nano, nano_int8, tmp_path):
    """What a run writes: train/model.pth ({'model', 'variant', 'classes'}) and qat/int8.pth with its sidecar."""
    from edge_swin.quant import save_quantized

    fp32_path = tmp_path / "model.pth"
    torch.save({"model": nano.state_dict(), "variant": "swin_nano_patch4_window4_32",
                "classes": [f"c{i}" for i in range(10)]}, fp32_path)
    int8_path = save_quantized(nano_int8, tmp_path / "int8.pth")
    assert _same_module(convert(fp32_path, "fp16"), convert(nano, "fp16"))
    assert _same_module(convert(int8_path, "int8"), convert(nano_int8, "int8"))


def test_scales_survive_a_dtype_cast(nano_int8, images):
    runtime = convert(nano_int8, "int8", dtype=torch.float32)
    before = [b.clone() for n, b in runtime.named_buffers() if "scale_bits" in n]
    runtime.half()
    after = [b for n, b in runtime.named_buffers() if "scale_bits" in n]
    assert before and all(torch.equal(a, b) for a, b in zip(before, after))


def test_bad_requests_name_the_fix(nano, nano_int8, tmp_path, monkeypatch):
    with pytest.raises(EdgeSwinError, match="QAT checkpoint"):
        convert(nano, "int8")
    with pytest.raises(EdgeSwinError, match="FP32 model"):
        convert(nano_int8, "fp16")
    with pytest.raises(EdgeSwinError, match="use one of fp16, int8"):
        convert(nano, "bf16")
    with pytest.raises(EdgeSwinError, match="no model file"):
        convert(tmp_path / "missing.pth")
    with pytest.raises(EdgeSwinError, match="arch="):
        torch.save(nano.state_dict(), tmp_path / "bare.pth")
        convert(tmp_path / "bare.pth")
    with pytest.raises(EdgeSwinError, match="no WindowAttention"):
        convert(torch.nn.Linear(2, 2))
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(RuntimeUnavailable, match="TRITON_INTERPRET=1"):
        convert(nano, "fp16", device="cpu")


def test_runtime_example_classifies(nano, tmp_path, capsys, monkeypatch):
    """examples/python/runtime_classify.py on a run folder's FP16 weights (here through the interpreter)."""
    import json
    import runpy

    import numpy as np
    from PIL import Image

    run = tmp_path / "run"
    (run / "train").mkdir(parents=True)
    torch.save({"model": nano.state_dict(), "variant": "swin_nano", "classes": list("abcdefghij")},
               run / "train" / "model.pth")
    (run / "report.json").write_text(json.dumps({"classes": list("abcdefghij")}))
    Image.fromarray(np.full((28, 28, 3), 128, np.uint8)).save(tmp_path / "a.png")
    example = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "python" / "runtime_classify.py"))
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes()[:40])  # cut short: named, skipped
    assert example["main"]([str(run / "train" / "model.pth"), str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                            "--fp16"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{tmp_path / 'a.png'}: ") and len(captured.out.splitlines()) == 1
    assert f"error: cannot read {tmp_path / 'b.png'}: " in captured.err
    assert example["main"]([str(run / "train" / "model.pth"), str(tmp_path / "a.png")]) == 2  # INT8 needs QAT
    assert "QAT checkpoint" in capsys.readouterr().err
