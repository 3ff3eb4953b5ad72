"""Swin's image transforms: the standard eval pipeline and train augmentation."""
from __future__ import annotations

from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

from edge_swin.data.batches import BatchRecipe

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP_PCT = 224 / 256


def eval_transform(img_size: int, crop_pct: float = DEFAULT_CROP_PCT, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Bicubic resize of the short side to img_size / crop_pct, center crop, normalise (Swin's eval recipe).

    crop_pct=1.0 keeps the whole image, for data already at the model's size.
    """
    return T.Compose([*_eval_geometry(img_size, crop_pct), T.ToTensor(), T.Normalize(mean, std)])


def _eval_geometry(img_size: int, crop_pct: float) -> list:
    return [T.Resize(round(img_size / crop_pct), interpolation=InterpolationMode.BICUBIC), T.CenterCrop(img_size)]


def train_transform(img_size: int, recipe: str = "imagenet", mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Train augmentation.

    recipe "imagenet": random resized crop (scale 0.08-1), flip, RandAugment,
    random erasing: Swin's recipe, for full-size images and long schedules.
    recipe "small": resize to size, random crop with padding, flip: for
    small images and the minutes-long embedded demo, where the heavy recipe
    regularises more than a short schedule can use.
    """
    if recipe == "imagenet":
        return T.Compose([
            T.RandomResizedCrop(img_size, scale=(0.08, 1.0), interpolation=InterpolationMode.BICUBIC),
            T.RandomHorizontalFlip(),
            T.RandAugment(num_ops=2, magnitude=9),
            T.ToTensor(),
            T.Normalize(mean, std),
            T.RandomErasing(p=0.25),
        ])
    if recipe == "small":
        return T.Compose([
            T.Resize(img_size, interpolation=InterpolationMode.BICUBIC),
            T.RandomCrop(img_size, padding=max(1, img_size // 16)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(mean, std),
        ])
    raise ValueError(f"unknown augmentation recipe '{recipe}' (imagenet, small)")


# The same transforms for in-memory datasets, as whole-batch recipes (edge_swin.data.batches); keep each one in
# step with its per-image twin above.
def eval_batch_recipe(img_size: int, crop_pct: float = DEFAULT_CROP_PCT, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    return BatchRecipe(T.Compose(_eval_geometry(img_size, crop_pct)), tuple(mean), tuple(std))


def train_batch_recipe(img_size: int, recipe: str = "small", mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """The "small" recipe on whole batches; None for a recipe that has no batch form (use the per-image one)."""
    if recipe != "small":
        return None
    # Resize + center crop is the per-image Resize for the square images this recipe is for.
    return BatchRecipe(T.Compose(_eval_geometry(img_size, 1.0)), tuple(mean), tuple(std),
                       pad=max(1, img_size // 16), flip=True)
