"""Quantized runtime models for the whole-model benchmark, and how they travel to a GPU machine without modelopt.

    model = calibrated_copy(swin, 32)                       # modelopt: the swin_int8 placement, max-calibrated
    prebuild("gpu_kit/prebuilt", int8_checkpoint=...)       # where modelopt runs (a CPU, TRITON_INTERPRET=1)
    runtime, (x, logits) = load_prebuilt(path, "cuda")      # where it does not: no modelopt import

modelopt imports scipy and pulp (64 MB of wheels for one Python), more than a prepared folder for an offline GPU
machine may carry; the converted runtime models need none of it. A prebuilt file holds the converted model
pickled without data, its state with the INT8 weights packed as integers + row scales (bit-exact), and fake
quant's logits on a reference input (seeded random images, or the validation split) to check it against.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch


def calibrated_copy(base, n, recipe: str = "swin_int8"):
    """A copy of `base` with `recipe`'s placement, max-calibrated on n seeded random images (latency only)."""
    from torch.utils.data import DataLoader, TensorDataset

    from edge_swin.quant import calibrate

    img = base.config["img_size"]
    images = torch.randn(n, 3, img, img, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(images, torch.zeros(n, dtype=torch.long)), batch_size=min(n, 16))
    model = copy.deepcopy(base).cpu()
    model.variant, model.config = base.variant, base.config
    return calibrate(model, loader, "max", recipe=recipe, progress=False).model.eval()


def seeded_input(spec: dict) -> torch.Tensor:
    return torch.randn(*spec["shape"], generator=torch.Generator().manual_seed(spec["seed"]))


def save_prebuilt(path, runtime: torch.nn.Module, reference_input: dict | None, reference_logits: torch.Tensor):
    """A converted runtime model (edge_swin.runtime modules only, no modelopt class) with the fake-quant model's
    logits on `reference_input` ({"seed", "shape"} of seeded random images; None: the validation split, in
    order): what a GPU machine without modelopt needs
    to time it and check it. The module is pickled without data (meta tensors) and its state packed: the INT8
    weights, stored dequantized in fp16, go as their int8 integers with the row scale they carry (exact, checked
    bit for bit; half the bytes)."""
    from edge_swin.utils.io import save_torch

    state = runtime.state_dict()
    for module_name, module in runtime.named_modules():
        prefix = f"{module_name}." if module_name else ""
        scales = {n: b.view(torch.float32) for n, b in module.named_buffers(recurse=False) if "scale_bits" in n}
        for name, t in module.named_buffers(recurse=False):
            if t is not None and t.dtype == torch.float16 and t.dim() == 2:
                state[prefix + name] = _pack(t, scales, prefix)
    skeleton = copy.deepcopy(runtime).cpu().to("meta")
    save_torch({"runtime": skeleton, "state": state, "reference_logits": reference_logits.float().cpu(),
                "reference_input": reference_input}, path)


def _pack(w: torch.Tensor, scales: dict, prefix: str):
    """{"int8": k, "scale": key} when w == fp16(k * scale[row]) bit for bit with one of the module's per-row
    scales (the INT8 weights: k is the integer QAT trained); else w as it is."""
    for name, s in scales.items():
        if s.numel() != w.shape[0]:
            continue
        k = torch.round(w.float() / s[:, None])
        if k.abs().max() <= 127 and torch.equal((k * s[:, None]).to(torch.float16), w):
            return {"int8": k.to(torch.int8), "scale": prefix + name}
    return w


def _unpack(v, state) -> torch.Tensor:
    if not isinstance(v, dict):
        return v
    s = state[v["scale"]].view(torch.float32)
    return (v["int8"].float() * s[:, None]).to(torch.float16)


def prebuild(out_dir, *, arch: str = "swin_t", int8_checkpoint=None, max_images: int | None = None,
             calibration_images: int = 32) -> list[Path]:
    """Write what a GPU machine without modelopt needs for the INT8 rows (runs here, where modelopt is; on a CPU
    with TRITON_INTERPRET=1): runtime_int8.pt, `arch` with the benchmark's seeded random weights, max-calibrated
    and converted, with fake quant's logits on a seeded batch of 8; with `int8_checkpoint`, int8_accuracy.pt, the
    QAT model converted, with fake quant's logits on the validation split (first `max_images`)."""
    from edge_swin.models import create_swin
    from edge_swin.runtime.convert import convert, load_model

    out_dir, written = Path(out_dir), []
    torch.manual_seed(0)
    base = create_swin(arch, num_classes=1000).eval()  # the same weights _contenders makes on the GPU
    fake_quant = calibrated_copy(base, calibration_images)
    img = base.config["img_size"]
    x_spec = {"seed": 8, "shape": [8, 3, img, img]}
    with torch.inference_mode():
        logits = fake_quant(seeded_input(x_spec))
    save_prebuilt(out_dir / "runtime_int8.pt", convert(fake_quant, "int8", device="cpu"), x_spec, logits)
    written.append(out_dir / "runtime_int8.pt")
    if int8_checkpoint:
        from torch.utils.data import DataLoader, Subset

        from edge_swin.data import embedded_dataset, eval_transform
        from edge_swin.eval.metrics import predict

        model = load_model(int8_checkpoint).eval()
        val = embedded_dataset("val", eval_transform(model.config["img_size"], 1.0))
        if max_images:
            val = Subset(val, range(min(max_images, len(val))))
        with torch.inference_mode():
            logits, _ = predict(model, DataLoader(val, batch_size=500, shuffle=False), "cpu", desc="fake quant")
        save_prebuilt(out_dir / "int8_accuracy.pt", convert(model, "int8", device="cpu"), None, logits)
        written.append(out_dir / "int8_accuracy.pt")
    return written


def load_prebuilt(path, device):
    """(runtime model on `device`, (reference input, reference logits)) from `save_prebuilt`'s file."""
    data = torch.load(path, map_location="cpu", weights_only=False)  # our own file: a pickled edge_swin module
    runtime = data["runtime"].to_empty(device="cpu")
    runtime.load_state_dict({k: _unpack(v, data["state"]) for k, v in data["state"].items()})
    spec = data["reference_input"]
    return runtime.to(device).eval(), (spec and seeded_input(spec), data["reference_logits"])
