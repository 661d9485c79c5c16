"""Self-checks for chapter 3, kernels and feature maps. Every answer is computed with the library."""
import numpy as np

from ..examples import PLUS_KERNEL_3x3, TOY_IMAGE_5x5, rgb_example
from . import exercise


@exercise("ch03-plus-map", "The 3x3 feature map of the 5x5 binary image under the plus-shaped "
          "kernel [[0,1,0],[1,1,1],[0,1,0]] (stride 1, no padding)")
def plus_kernel_feature_map():
    from .. import functional as F
    return F.conv2d(TOY_IMAGE_5x5[None, None], PLUS_KERNEL_3x3[None, None])[0, 0]


@exercise("ch03-box5-weight", "The value of each weight of a 5x5 box blur that keeps an image's "
          "brightness")
def box_blur_5x5_weight():
    from .. import functional as F
    # The weight that maps a constant image to itself: the response of an all-ones 5x5 kernel
    # to a constant 1 image is the number of taps, so each weight is its reciprocal.
    taps = F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 5, 5)))[0, 0, 0, 0]
    return 1.0 / taps


@exercise("ch03-laplacian-flat", "The response of the kernel [[0,1,0],[1,-4,1],[0,1,0]] in the "
          "interior of a constant image whose pixels are all 0.7")
def laplacian_on_a_flat_image():
    from .. import functional as F
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
    return F.conv2d(np.full((1, 1, 6, 6), 0.7), lap[None, None])[0, 0, 2, 2]


@exercise("ch03-rgb-cell11", "In the chapter's 3-channel example, the output at row 1, column 1 "
          "(counting from 0), bias included")
def rgb_example_output_1_1():
    from .. import functional as F
    x, w, b = rgb_example()
    return F.conv2d(x[None], w[None], np.array([b]))[0, 0, 1, 1]


@exercise("ch03-output-shape", "Output shape (C_out, H_out, W_out) of 8 filters of size 3x3x3 "
          "on a 3x32x32 image, stride 1, no padding")
def output_shape_of_8_filters():
    from .. import functional as F
    out = F.conv2d(np.zeros((1, 3, 32, 32)), np.zeros((8, 3, 3, 3)))
    return tuple(out.shape[1:])
