"""What every stage of one pipeline run shares: the arguments, the target, the data, and the results so far."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from edge_swin.data import ImageCheck, build_datasets, check_images, data_fingerprint
from edge_swin.models import create_swin, load_checkpoint, model_config, resolve_name
from edge_swin.trt import Target
from edge_swin.utils.io import verify_digest

# The stage folders of a run, in the order data flows through them.
STAGES = ["model", "train", "qat", "export", "engine", "evaluate"]


@dataclass
class RunContext:
    args: argparse.Namespace
    target: Target
    out_dir: Path
    stages: dict[str, dict] = field(default_factory=dict)  # stage name -> manifest
    epochs: int = 0  # training epochs after defaults (0 with a checkpoint unless asked)
    lr: float = 0.0
    weights: Path | None = None  # the newest float model weights, passed from stage to stage
    quant_format: str = "int8"  # what the run quantizes to: "int8" or "fp8" (its recipe; the target's default)
    quant_weights: Path | None = None  # the QAT stage's modelopt checkpoint (int8.pth / fp8.pth)
    onnx_fp32: Path | None = None  # the export stage's float ONNX file
    onnx_fp16: Path | None = None  # its FP16 twin (written when the target allows FP16)
    onnx_quant: Path | None = None  # and its Q/DQ file from the QAT model (model_int8.onnx / model_fp8.onnx)
    onnx_quant_fp16: Path | None = None  # the same Q/DQ with an FP16 graph (targets allowing FP16)
    engines: dict[str, Path] = field(default_factory=dict)  # engine stage: "int8", "int8_plugin", ... -> .engine

    @cached_property
    def variant(self) -> str:
        return resolve_name(self.args.model)

    @cached_property
    def device(self) -> str:
        if self.args.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.args.device

    @cached_property
    def model_overrides(self) -> dict:
        given = {"img_size": self.args.img_size, "window_size": self.args.window_size,
                 "drop_path_rate": getattr(self.args, "drop_path", None)}
        return {k: v for k, v in given.items() if v is not None}

    @cached_property
    def img_size(self) -> int:
        return int(model_config(self.variant, **self.model_overrides)["img_size"])

    @cached_property
    def data_info(self) -> dict:
        info = data_fingerprint(self.args.data)
        if self.image_check is not None:
            info["image_check"] = self.image_check.summary()
        return info

    @cached_property
    def image_check(self) -> ImageCheck | None:
        """A folder's images, each decoded once before any stage writes; None for the embedded dataset.

        Unreadable images stop the run here with the list, unless --skip-bad-images leaves them out.
        """
        if self.args.data is None:
            return None
        check = check_images(self.args.data)
        cached = " (cached: same files as the last check)" if check.from_cache else ""
        print(f"[data] {check.checked:,} images checked{cached}")
        if check.non_images:
            print(f"[data] {len(check.non_images)} file(s) in the class folders are not images (by suffix) and are "
                  f"skipped: {', '.join(check.non_images[:5])}{' ...' if len(check.non_images) > 5 else ''}")
        if check.bad and not getattr(self.args, "skip_bad_images", False):
            raise check.error()
        if check.bad:
            print(f"[data] --skip-bad-images: {len(check.bad)} unreadable image(s) left out: "
                  f"{', '.join(sorted(check.bad)[:5])}{' ...' if len(check.bad) > 5 else ''}")
        return check

    @property
    def excluded_images(self) -> frozenset[str]:
        return self.image_check.bad_paths if self.image_check is not None else frozenset()

    @cached_property
    def datasets(self):
        """(train, val) with Swin's transforms for this model's input size."""
        return build_datasets(self.args.data, self.img_size, exclude=self.excluded_images)

    @property
    def classes(self) -> list[str]:
        return list(self.datasets[1].classes)

    def build_model(self, weights: Path | None = None) -> torch.nn.Module:
        """The run's model; with `weights`, loaded from a stage artifact."""
        model = create_swin(self.variant, num_classes=len(self.classes), **self.model_overrides)
        if weights is not None:
            verify_digest(weights, f"delete {weights.parent} and rerun: its stage is redone")
            load_checkpoint(model, weights)
        return model
