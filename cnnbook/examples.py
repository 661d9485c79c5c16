"""The small arrays the chapters and their exercises compute with, defined once.

A chapter that prints one of these, and the exercise that asks about it, read the same array, so
the question and the page cannot drift apart. The arrays are read-only: ``x = TOY_IMAGE_5x5
.copy()`` gives one to change.

>>> TOY_IMAGE_5x5.shape, TOY_IMAGE_5x5.sum()
((5, 5), np.int64(13))
"""
from __future__ import annotations

import numpy as np

__all__ = ["TOY_IMAGE_5x5", "X_KERNEL_3x3", "PLUS_KERNEL_3x3", "rgb_example",
           "BACKPROP_DY_BIAS", "BACKPROP_X_DW", "BACKPROP_DY_DW", "BACKPROP_X_POOL",
           "BACKPROP_DY_POOL"]


def _frozen(a) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


# The 5x5 binary image and the X-shaped 3x3 kernel of the classic worked example: sliding the
# kernel over the image gives the feature map [[4, 3, 4], [2, 4, 3], [2, 3, 4]].
TOY_IMAGE_5x5 = _frozen([[1, 1, 1, 0, 0],
                         [0, 1, 1, 1, 0],
                         [0, 0, 1, 1, 1],
                         [0, 0, 1, 1, 0],
                         [0, 1, 1, 0, 0]])
X_KERNEL_3x3 = _frozen([[1, 0, 1],
                        [0, 1, 0],
                        [1, 0, 1]])
PLUS_KERNEL_3x3 = _frozen([[0, 1, 0],
                           [1, 1, 1],
                           [0, 1, 0]])


def rgb_example():
    """A 3-channel 4x4 image, a 3x3x3 kernel and a bias (seed 3, small integers), for an
    output computed cell by cell: ``(x (C_in, H, W), w (C_in, KH, KW), b)``."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(3, 4, 4))      # (C_in, H, W) pixel values 0..3
    w = rng.integers(-1, 2, size=(3, 3, 3))     # (C_in, KH, KW) weights -1, 0, 1
    b = 1
    return x, w, b


# Backpropagation by hand: output gradients and inputs small enough to follow on paper.
BACKPROP_DY_BIAS = _frozen([[1.0, -2.0], [3.0, 0.5]])
BACKPROP_X_DW = _frozen(np.arange(9.0).reshape(3, 3))
BACKPROP_DY_DW = _frozen([[1.0, 0.0], [2.0, -1.0]])
BACKPROP_X_POOL = _frozen([[1.0, 5.0, 2.0, 0.0],        # row 1 holds a tie: 7, 7
                           [3.0, 2.0, 7.0, 7.0],
                           [0.0, 4.0, 1.0, 6.0],
                           [4.0, 1.0, 2.0, 3.0]])
BACKPROP_DY_POOL = _frozen([[10.0, 20.0], [30.0, 40.0]])
