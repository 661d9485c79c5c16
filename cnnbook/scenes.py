"""Fashion-MNIST scenes: several garments on one canvas, for segmentation and detection.

``make_scenes(split, n)`` places one to ``max_objects`` Fashion-MNIST garments, each rescaled by a
random factor, at random places on a black ``size`` x ``size`` canvas, and returns

- ``x``: float32 ``(n, 1, size, size)`` in [0, 1], the scenes;
- ``masks``: int64 ``(n, size, size)``, each pixel's class: 0 for background and ``k + 1`` for a
  pixel of a garment of Fashion-MNIST class ``k`` (so 1 to 10; ``SCENE_CLASSES[v]`` names value
  ``v``);
- ``boxes``: a list of ``n`` float32 arrays ``(k_i, 4)``, one box ``(x1, y1, x2, y2)`` per object
  in pixel coordinates, the tight box of the pixels the object shows in ``masks`` (a box covering
  columns ``a..b`` has ``x1 = a`` and ``x2 = b + 1``, as torchvision's boxes do);
- ``labels``: a list of ``n`` int64 arrays ``(k_i,)``, each object's mask value (1 to 10).

A garment's footprint is its pixels brighter than 0.05 with the holes filled. Objects are drawn
in list order, a later one on top of an earlier one (the z-order), and an object is only kept
where at least half of its footprint stays visible; the images, the masks and the boxes all
follow the same z-order. Training and validation scenes are cut from Fashion-MNIST's training
split (garments 0-49,999 for ``"train"``, 50,000-59,999 for ``"val"``), test scenes from its test
split, so no garment is shared between the three. Everything follows from ``(split, n, size,
max_objects, seed, ...)``: the same arguments give the same scenes, and the first ``m`` scenes of
a call with ``n > m`` equal a call with ``n = m``. Results are cached and handed out read-only.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ._checks import check_int, check_real

__all__ = ["make_scenes", "Scenes", "SCENE_CLASSES"]

SCENE_CLASSES = ("background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                 "Shirt", "Sneaker", "Bag", "Ankle boot")

_SPLITS = {"train": (0, "train", 0, 50_000), "val": (1, "train", 50_000, 60_000),
           "test": (2, "test", 0, 10_000)}
_THRESHOLD = 0.05
_MIN_VISIBLE = 0.5


class Scenes(NamedTuple):
    """What :func:`make_scenes` returns (it unpacks as ``x, masks, boxes, labels``)."""
    x: np.ndarray
    masks: np.ndarray
    boxes: list
    labels: list


def _footprint(img: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_fill_holes
    return binary_fill_holes(img > _THRESHOLD)


def _resize(img: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of a square float image in [0, 1] to ``side`` x ``side`` pixels."""
    from PIL import Image
    if side == img.shape[0]:
        return img.copy()
    out = Image.fromarray(img.astype(np.float32), mode="F").resize((side, side),
                                                           Image.Resampling.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def _scene(rng, pool_x, pool_y, size, max_objects, min_objects, scale):
    canvas = np.zeros((size, size), np.float32)
    owner = np.full((size, size), -1, np.int64)                 # which object shows at each pixel
    k = int(rng.integers(min_objects, max_objects + 1))
    placed = []                                                 # (class, footprint area)
    for _ in range(k):
        i = int(rng.integers(0, len(pool_x)))
        side = max(8, int(round(28 * rng.uniform(*scale))))
        img = _resize(pool_x[i, 0], side)
        fp = _footprint(img)
        area = int(fp.sum())
        if area == 0:
            continue
        for _attempt in range(20):
            top = int(rng.integers(0, size - side + 1))
            left = int(rng.integers(0, size - side + 1))
            new_owner = owner.copy()
            new_owner[top:top + side, left:left + side][fp] = len(placed)
            shown = np.bincount(new_owner[new_owner >= 0].ravel(), minlength=len(placed) + 1)
            areas = [a for _, a in placed] + [area]
            if all(shown[j] >= _MIN_VISIBLE * areas[j] for j in range(len(areas))):
                owner = new_owner
                canvas[top:top + side, left:left + side][fp] = img[fp]
                placed.append((int(pool_y[i]) + 1, area))
                break
    mask = np.zeros((size, size), np.int64)
    boxes = np.zeros((len(placed), 4), np.float32)
    labels = np.zeros(len(placed), np.int64)
    for j, (cls, _) in enumerate(placed):
        rows, cols = np.nonzero(owner == j)
        mask[rows, cols] = cls
        boxes[j] = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        labels[j] = cls
    return canvas, mask, boxes, labels


@functools.lru_cache(maxsize=8)
def _make(split, n, size, max_objects, seed, min_objects, scale):
    from .data import load_fashion_mnist
    code, source, lo, hi = _SPLITS[split]
    x_all, y_all = load_fashion_mnist(source)
    pool_x, pool_y = x_all[lo:hi], y_all[lo:hi]
    x = np.zeros((n, 1, size, size), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    boxes, labels = [], []
    for s in range(n):
        rng = np.random.default_rng([seed, code, s])            # one stream per scene
        x[s, 0], masks[s], b, lab = _scene(rng, pool_x, pool_y, size, max_objects,
                                           min_objects, scale)
        b.flags.writeable = False
        lab.flags.writeable = False
        boxes.append(b)
        labels.append(lab)
    x.flags.writeable = False
    masks.flags.writeable = False
    return x, masks, tuple(boxes), tuple(labels)


def make_scenes(split, n, size=64, max_objects=4, seed=0, *, min_objects=1, scale=(0.75, 1.25)):
    """``n`` Fashion-MNIST scenes of ``split`` (``"train"``, ``"val"`` or ``"test"``).

    Returns :class:`Scenes` ``(x, masks, boxes, labels)`` as the module docstring describes.
    ``scale`` is the range of the factor applied to each 28 x 28 garment, ``min_objects`` and
    ``max_objects`` the range of the number of garments tried per scene (one that cannot be
    placed with half of it visible, after 20 tries, is left out, so a scene may hold fewer).

    >>> x, masks, boxes, labels = make_scenes("val", 2, size=48, seed=1)
    >>> x.shape, masks.shape, len(boxes)
    ((2, 1, 48, 48), (2, 48, 48), 2)
    >>> bool(set(np.unique(masks[0])) <= set(range(11)))
    True
    """
    fn = "make_scenes"
    if split not in _SPLITS:
        raise ValueError(f"{fn}: split must be 'train', 'val' or 'test', got split={split!r}; "
                         f"validation scenes come from Fashion-MNIST's training garments "
                         f"50,000-59,999.")
    n = check_int(fn, "n", n, 0, "e.g. n=1000")
    size = check_int(fn, "size", size, 28, "the canvas must hold a 28 x 28 garment; e.g. size=64")
    max_objects = check_int(fn, "max_objects", max_objects, 1, "e.g. max_objects=4")
    min_objects = check_int(fn, "min_objects", min_objects, 1, "e.g. min_objects=1")
    if min_objects > max_objects:
        raise ValueError(f"{fn}: min_objects={min_objects} is larger than "
                         f"max_objects={max_objects}; pass min_objects <= max_objects.")
    seed = check_int(fn, "seed", seed, 0, "e.g. seed=0")
    if not isinstance(scale, (tuple, list)) or len(scale) != 2:
        raise TypeError(f"{fn}: scale must be a pair (low, high), got {scale!r}; "
                        f"e.g. scale=(0.75, 1.25).")
    lo = check_real(fn, "scale[0]", scale[0], "e.g. scale=(0.75, 1.25)")
    hi = check_real(fn, "scale[1]", scale[1], "e.g. scale=(0.75, 1.25)")
    if not 0 < lo <= hi or round(28 * hi) > size:
        raise ValueError(f"{fn}: scale must satisfy 0 < low <= high with a garment of 28*high "
                         f"pixels fitting the canvas, got scale=({lo}, {hi}) with size={size}; "
                         f"e.g. scale=(0.75, 1.25).")
    x, masks, boxes, labels = _make(split, n, size, max_objects, seed, min_objects,
                                    (float(lo), float(hi)))
    return Scenes(x.view(), masks.view(), list(boxes), list(labels))
