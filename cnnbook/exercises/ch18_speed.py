"""Self-checks for chapter 18 (speed: loops, im2col, GPU) and for the verification appendix.

Every answer is computed with the library.
"""
import numpy as np

from . import exercise


@exercise("ch18-cols-shape", "Shape of cb.conv.im2col(x, 5) for x of shape (2, 3, 32, 32) "
          "(stride 1, no padding), as a tuple")
def im2col_shape():
    from ..conv import im2col
    return im2col(np.zeros((2, 3, 32, 32)), 5).shape


@exercise("ch18-memory-ratio", "How many times more numbers than the input does the im2col matrix "
          "hold for a 7x7 kernel, stride 1, padding 3 (output as large as the input)?")
def im2col_memory_ratio():
    from ..conv import im2col
    x = np.zeros((1, 2, 20, 20))
    return im2col(x, 7, padding=3).size / x.size


@exercise("ch18-coverage-stride2", "A 5x5 image goes through im2col with a 3x3 kernel and stride 2, "
          "then col2im: what value comes back at the centre pixel (2, 2) of an all-ones image?")
def col2im_of_ones_stride_2():
    from ..conv import col2im, im2col
    x = np.ones((1, 1, 5, 5))
    return float(col2im(im2col(x, 3, stride=2), x.shape, 3, stride=2)[0, 0, 2, 2])


@exercise("ch18-lenet-conv1-macs", "Multiply-adds of LeNet-5's first layer (1 -> 6 channels, 5x5 "
          "kernel, padding 2) on one 28x28 image")
def lenet_conv1_macs():
    from ..arithmetic import count_flops
    from ..nn import Conv2d
    return count_flops(Conv2d(1, 6, 5, padding=2), (1, 1, 28, 28)).macs


@exercise("app-float32-tolerance", "The largest error (relative to max(1, max |value|)) that the "
          "verification accepts for a float32 case")
def float32_tolerance():
    from ..torchcompare import tolerance
    return tolerance(np.float32, "cpu")
