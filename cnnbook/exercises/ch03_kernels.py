"""Self-checks for chapter 3, kernels and feature maps. Every answer is computed with the library."""
import numpy as np

from . import exercise

# The chapter's worked examples, shared by the questions below.
BINARY_IMAGE = np.array([[1, 1, 1, 0, 0],
                         [0, 1, 1, 1, 0],
                         [0, 0, 1, 1, 1],
                         [0, 0, 1, 1, 0],
                         [0, 1, 1, 0, 0]])
PLUS_KERNEL = np.array([[0, 1, 0],
                        [1, 1, 1],
                        [0, 1, 0]])


def rgb_example():
    """The chapter's 3-channel 4x4 image, its 3x3x3 kernel and bias (seed 3, small integers)."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(3, 4, 4))      # (C_in, H, W) pixel values 0..3
    w = rng.integers(-1, 2, size=(3, 3, 3))     # (C_in, KH, KW) weights -1, 0, 1
    b = 1
    return x, w, b


@exercise("ch03-plus-map", "The 3x3 feature map of the 5x5 binary image under the plus-shaped "
          "kernel [[0,1,0],[1,1,1],[0,1,0]] (stride 1, no padding)")
def _():
    from .. import functional as F
    return F.conv2d(BINARY_IMAGE[None, None], PLUS_KERNEL[None, None])[0, 0]


@exercise("ch03-box5-weight", "The value of each weight of a 5x5 box blur that keeps an image's "
          "brightness")
def _():
    from .. import functional as F
    # The weight that maps a constant image to itself: the response of an all-ones 5x5 kernel
    # to a constant 1 image is the number of taps, so each weight is its reciprocal.
    taps = F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 5, 5)))[0, 0, 0, 0]
    return 1.0 / taps


@exercise("ch03-laplacian-flat", "The response of the kernel [[0,1,0],[1,-4,1],[0,1,0]] in the "
          "interior of a constant image whose pixels are all 0.7")
def _():
    from .. import functional as F
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
    return F.conv2d(np.full((1, 1, 6, 6), 0.7), lap[None, None])[0, 0, 2, 2]


@exercise("ch03-rgb-cell11", "In the chapter's 3-channel example, the output at row 1, column 1 "
          "(counting from 0), bias included")
def _():
    from .. import functional as F
    x, w, b = rgb_example()
    return F.conv2d(x[None], w[None], np.array([b]))[0, 0, 1, 1]


@exercise("ch03-output-shape", "Output shape (C_out, H_out, W_out) of 8 filters of size 3x3x3 "
          "on a 3x32x32 image, stride 1, no padding")
def _():
    from .. import functional as F
    out = F.conv2d(np.zeros((1, 3, 32, 32)), np.zeros((8, 3, 3, 3)))
    return tuple(out.shape[1:])
