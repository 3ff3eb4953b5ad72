"""8-bit RGB from any image Pillow opens: the one conversion training, calibration and the engine apps share.

`Image.convert("RGB")`, which torchvision's loader calls, clips a 16-bit
grayscale image instead of scaling it (every value over 255 turns white) and
does the same to 32-bit integer and float images, whose range it cannot
know. Here 16-bit grayscale is scaled to 8 bits (value / 257, rounded), and
32-bit integer or float pixels are refused with `PixelModeError` (the image
check names such a file before training). Everything else goes through
Pillow's own conversion; `conversion_note` says where that loses something
(transparency, a CMYK colour profile) so the check can name those files.
No torch here: the engine apps use it too.
"""
from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
SIXTEEN_BIT_FORMATS = frozenset({"PNG", "PPM"})  # formats whose 32-bit "I" mode holds 16-bit samples (PGM, old Pillow PNG)
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class PixelModeError(ValueError):
    """The image's pixels have no known 8-bit scale (32-bit integers, floats)."""


def to_rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB: 16-bit grey scaled, 32-bit and float refused, other modes by Pillow."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in SIXTEEN_BIT_GREY or (mode == "I" and image.format in SIXTEEN_BIT_FORMATS):
        grey = np.rint(np.asarray(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode.startswith("I") or mode.startswith("F"):
        kind = "floating-point" if mode.startswith("F") else "32-bit integer"
        raise PixelModeError(f"{kind} pixels (mode {mode}) have no 8-bit scale to read them with: save the image "
                             "as 8-bit RGB or 8/16-bit grayscale")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # the palette's colours; Pillow warns on P -> RGB with transparency
    return image.convert("RGB")


def conversion_note(image: Image.Image) -> str | None:
    """What converting this image to RGB loses beyond bit depth, in a few words; None when nothing."""
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        return f"{image.mode} with transparency: dropped (transparent pixels show their stored colour)"
    if image.mode == "CMYK":
        return "CMYK: converted by Pillow's formula, without a colour profile"
    return None


def load_rgb(path: str, *, refuse_bombs: bool = False) -> Image.Image:
    """An image file as 8-bit RGB (the loader of edge_swin's image folders).

    refuse_bombs: raise Pillow's DecompressionBombWarning (an image between its pixel limit and twice that,
    which Pillow decodes with a warning) as an error, as the engine apps do for a file they were handed.
    """
    with warnings.catch_warnings():
        if refuse_bombs:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
        with open(path, "rb") as f:
            image = Image.open(f)
            image.load()
            return to_rgb(image)
