"""Self-checks for chapter 6, the convolutional layer. Every answer is computed with the library."""
from . import exercise


@exercise("ch06-params-64x3x3", "Parameters (weights and biases) of a convolutional layer with 64 "
          "filters of size 3x3 on a 32-channel input")
def parameters_of_64_3x3_filters():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d
    return count_parameters(Conv2d(32, 64, 3))


@exercise("ch06-output-volume", "Output volume (C_out, H_out, W_out) of ten 7x7 filters with stride 2 "
          "and padding 3 on a 64x64x3 image")
def output_volume_of_ten_7x7_filters():
    import numpy as np
    from ..conv import conv2d
    x = np.zeros((1, 3, 64, 64))
    w = np.zeros((10, 3, 7, 7))
    return tuple(conv2d(x, w, stride=2, padding=3).shape[1:])


@exercise("ch06-locally-connected", "Weights (no biases) of a locally connected layer with 3x3 fields, "
          "one input and one output channel, on an 8x8 image without padding")
def locally_connected_weights():
    from ..arithmetic import conv_output_size
    n_positions = conv_output_size(8, 3) ** 2
    return n_positions * 3 * 3


@exercise("ch06-depthwise-separable", "Weights (no biases) of a 3x3 depthwise convolution on 32 "
          "channels followed by a 1x1 convolution to 64 channels")
def depthwise_separable_weights():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d, Sequential
    return count_parameters(Sequential(Conv2d(32, 32, 3, groups=32, bias=False),
                                       Conv2d(32, 64, 1, bias=False)))
