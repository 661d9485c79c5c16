"""Self-checks for chapter 4, padding, stride and dilation. Every answer is computed with the
library."""
import numpy as np

from . import exercise


def unread_columns(n, kernel_size, stride=1, padding=0, dilation=1):
    """Input columns (0-based, unpadded) that no window of a 1-D convolution reads: those that
    ``cb.arithmetic.window_coverage`` finds in no window."""
    from ..arithmetic import window_coverage
    return [int(c) for c in np.flatnonzero(window_coverage(n, kernel_size, stride, padding,
                                                           dilation) == 0)]


@exercise("ch04-output-224", "Output width of a 224-pixel input with a 7x7 kernel, stride 2, "
          "padding 3")
def output_width_224_k7_s2_p3():
    from ..arithmetic import conv_output_size
    return conv_output_size(224, 7, stride=2, padding=3)


@exercise("ch04-same-padding-5", "Padding that keeps the width of a stride-1 convolution with a "
          "5x5 kernel unchanged")
def same_padding_for_5x5():
    from ..arithmetic import conv_output_size
    return next(p for p in range(10) if conv_output_size(32, 5, padding=p) == 32)


@exercise("ch04-effective-d3", "Effective width of a 3x3 kernel with dilation 3")
def effective_width_dilation_3():
    from ..arithmetic import receptive_field
    return receptive_field([(3, 1, 0, 3)])[0]


@exercise("ch04-unread-10-3-4", "How many of the 10 input columns does a width-3 kernel with "
          "stride 4 and no padding never read?")
def unread_columns_10_k3_s4():
    return len(unread_columns(10, 3, stride=4))


@exercise("ch04-full-output-6-4", "Output width of a 6-pixel input and a width-4 kernel with "
          "'full' padding (every partial overlap counted), stride 1")
def full_padding_output_width():
    from ..arithmetic import conv_output_size
    k = 4
    return conv_output_size(6, k, padding=k - 1)
