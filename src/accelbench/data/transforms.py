"""Decoding and augmentation of one image file, as pure functions of (file, random draws).

The ImageNet training and evaluation transforms of the ResNet papers and of NVIDIA's ResNet-50
v1.5 recipe (github.com/NVIDIA/DeepLearningExamples, PyTorch/Classification/ConvNets/
resnet50v1.5, "Data augmentation"), written with pillow and numpy because torchvision does not
import beside this torch:

* **training**: random-resized crop (Szegedy et al. 2015, "Going deeper with convolutions",
  section 6: a crop of 8%..100% of the area with aspect ratio 3/4..4/3, resized to 224x224;
  ten tries, then a centre crop clamped to the ratio range, as torchvision documents
  ``RandomResizedCrop``), then a horizontal flip with probability 1/2;
* **evaluation**: resize the shorter side to 256 (the longer one truncated to an integer, as
  torchvision's ``Resize``), centre crop 224x224 (offsets rounded).

Both are done as **one** ``Image.resize(..., box=...)`` call from the source pixels: the box is
the crop in source coordinates, so resize-then-crop and crop-then-resize sample the same points
without an intermediate 8-bit image. Resampling is bilinear with pillow's antialiasing when
shrinking, as torchvision's PIL path.

**Draft mode** (``draft=True``, the default, recorded in every result): for a JPEG, pillow can
ask libjpeg to decode at 1/2, 1/4 or 1/8 scale (``Image.draft``), choosing the smallest scale at
which the crop is still at least the output size. This skips most of the inverse DCT work for
large photographs (an ImageNet photo is about 500x375 and the crop often a small part of it),
and is how fast CPU loaders decode; the DCT-domain downscale differs from a full decode plus
antialiased resize by a small amount of blur, the same on every platform. ``draft=False`` decodes
every pixel.

Randomness comes from a ``numpy.random.Generator`` the caller seeds per (seed, epoch, image),
so an image gets the same crop and flip whatever the number of worker processes.

Images come back as ``[H, W, 3]`` uint8 arrays (HWC): stacked into a batch and permuted to
NCHW on the device this is already the ``channels_last`` memory format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Per-channel mean and standard deviation of the ImageNet training set (0..1 scale), the values
# every torchvision and NVIDIA ImageNet model is trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TRAIN_SCALE = (0.08, 1.0)
TRAIN_RATIO = (3 / 4, 4 / 3)
EVAL_RESIZE = 256
CROP_SIZE = 224

Box = tuple[float, float, float, float]
"""(left, upper, right, lower) in source pixel coordinates, pillow's convention."""


@dataclass(frozen=True)
class TransformSpec:
    """Which transform, at what size; picklable, so DataLoader workers receive it."""

    train: bool
    size: int = CROP_SIZE
    resize: int = EVAL_RESIZE
    """Evaluation only: the shorter side before the centre crop."""
    scale: tuple[float, float] = TRAIN_SCALE
    ratio: tuple[float, float] = TRAIN_RATIO
    flip: bool = True
    draft: bool = True

    def describe(self) -> str:
        if self.train:
            flip = ", horizontal flip p=0.5" if self.flip else ""
            return (
                f"random-resized crop {self.size}x{self.size} (scale {self.scale[0]:g}.."
                f"{self.scale[1]:g}, ratio {self.ratio[0]:.4g}..{self.ratio[1]:.4g}){flip}"
            )
        return f"resize shorter side {self.resize}, centre crop {self.size}x{self.size}"


def random_resized_crop_box(
    width: int,
    height: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = TRAIN_SCALE,
    ratio: tuple[float, float] = TRAIN_RATIO,
) -> tuple[int, int, int, int]:
    """(left, top, w, h) of a random crop covering ``scale`` of the area with aspect ratio
    (w / h) drawn log-uniformly from ``ratio``; after ten misses, the largest centred crop with
    the ratio clamped into range."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return left, top, w, h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def eval_box(width: int, height: int, resize: int, size: int) -> Box:
    """The source region that resize-shorter-side-to-``resize`` then centre-crop-``size``
    keeps, so one resize from the source gives the same image."""
    if width <= height:
        rw, rh = resize, int(resize * height / width)
    else:
        rw, rh = int(resize * width / height), resize
    sx, sy = rw / width, rh / height
    left = round((rw - size) / 2.0)
    top = round((rh - size) / 2.0)
    return left / sx, top / sy, (left + size) / sx, (top + size) / sy


def _draft(im: object, box: Box, size: int) -> Box:
    """Ask a JPEG for a reduced-scale decode that still leaves the crop >= ``size`` pixels;
    returns the box in the reduced image's coordinates."""
    from PIL import Image

    assert isinstance(im, Image.Image)
    if im.format != "JPEG":
        return box
    w0, h0 = im.size
    cw, ch = box[2] - box[0], box[3] - box[1]
    im.draft("RGB", (math.ceil(w0 * size / cw), math.ceil(h0 * size / ch)))
    sx, sy = im.size[0] / w0, im.size[1] / h0
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def load_image(path: str | Path, spec: TransformSpec, rng: np.random.Generator) -> np.ndarray:
    """Decode ``path`` and apply ``spec``: an ``[size, size, 3]`` uint8 array.

    Raises whatever pillow raises for an unreadable file; callers turn that into a counted,
    named skip or an error (see :mod:`accelbench.data.image_loader`).
    """
    from PIL import Image

    with Image.open(path) as im:
        w0, h0 = im.size
        if spec.train:
            left, top, w, h = random_resized_crop_box(w0, h0, rng, spec.scale, spec.ratio)
            box: Box = (left, top, left + w, top + h)
            flip = spec.flip and rng.random() < 0.5
        else:
            box = eval_box(w0, h0, spec.resize, spec.size)
            flip = False
        if spec.draft:
            box = _draft(im, box, spec.size)
        rgb = im.convert("RGB")
        out = rgb.resize((spec.size, spec.size), Image.Resampling.BILINEAR, box=box)
        if flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = np.asarray(out, dtype=np.uint8)
    if arr.shape != (spec.size, spec.size, 3):  # pragma: no cover - pillow guarantees it
        raise ValueError(f"decoded to {arr.shape}, expected ({spec.size}, {spec.size}, 3)")
    return arr
