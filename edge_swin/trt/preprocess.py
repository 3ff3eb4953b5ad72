"""The engine's image transform from its sidecar, in Pillow + numpy (no torch, no torchvision).

The same arithmetic as edge_swin.data.transforms.eval_transform (torchvision),
after the same conversion to 8-bit RGB as the training loader (edge_swin.utils.rgb):
bicubic resize of the short side to round(img_size / crop_pct) through
Pillow, center crop to img_size, scale to [0, 1], normalise with the sidecar's
mean and std; channels first. tests/trt/test_numpy_runtime.py compares the two.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from edge_swin.errors import EdgeSwinError
from edge_swin.utils.rgb import to_rgb


class SidecarTransform:
    """A callable PIL image -> float32 [3, img_size, img_size], from the sidecar's "preprocess" numbers."""

    def __init__(self, preprocess: dict | None):
        if not preprocess:
            raise EdgeSwinError("the engine's sidecar has no 'preprocess' entry: rebuild it with the pipeline's engine stage")
        self.img_size = int(preprocess["img_size"])
        self.resize_to = round(self.img_size / float(preprocess["crop_pct"]))
        self.mean = np.asarray(preprocess["mean"], np.float32).reshape(3, 1, 1)
        self.std = np.asarray(preprocess["std"], np.float32).reshape(3, 1, 1)

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = to_rgb(image)  # as training read it: 16-bit grey scaled, 32-bit and float refused
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.resize_to, int(self.resize_to * long / short)  # torchvision's rounding
        size = (new_short, new_long) if w <= h else (new_long, new_short)
        if size != (w, h):
            image = image.resize(size, Image.BICUBIC)
        w, h = image.size
        top, left = int(round((h - self.img_size) / 2.0)), int(round((w - self.img_size) / 2.0))
        image = image.crop((left, top, left + self.img_size, top + self.img_size))
        pixels = np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0
        return (pixels - self.mean) / self.std
