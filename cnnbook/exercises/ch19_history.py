"""Self-checks for chapter 19, a short history. Every answer is computed with the library."""
import numpy as np

from . import exercise


@exercise("ch19-c1-side", "Side of LeNet-5's C1 feature maps: a 32x32 input, 5x5 kernels, "
          "stride 1, no padding (the 1998 layout)")
def lenet_c1_map_size():
    from ..arithmetic import conv_output_size
    return conv_output_size(32, 5)


@exercise("ch19-c-cell-tolerance", "A feature sits in the first column of a 4x4, stride-4 max-pool "
          "window. How many pixels to the right can it move before the pooled map changes?")
def shift_tolerated_by_4x4_pooling():
    from ..functional import max_pool2d
    base = np.zeros((1, 1, 8, 8))
    base[0, 0, 1, 0] = 1.0
    ref = max_pool2d(base, 4)
    shift = 0
    while shift + 1 < 8:
        moved = np.roll(base, shift + 1, axis=3)
        if not np.array_equal(max_pool2d(moved, 4), ref):
            break
        shift += 1
    return shift


@exercise("ch19-lenet-params", "Parameters of the book's LeNet-5 (cb.nn.LeNet5)")
def lenet_parameters():
    from ..arithmetic import count_parameters
    from ..nn import LeNet5
    return count_parameters(LeNet5())


@exercise("ch19-tdnn-frames", "Frames of the TDNN's second hidden layer: 15 input frames, a "
          "3-frame window, then a 5-frame window, stride 1, no padding")
def tdnn_second_layer_frames():
    from ..arithmetic import conv_output_size
    return conv_output_size(conv_output_size(15, 3), 5)


@exercise("ch19-tdnn-weights", "Weights and biases of the TDNN's first hidden layer: 16 "
          "coefficients per frame, a 3-frame window, 8 units, weights shared over time")
def tdnn_first_layer_weights():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d
    return count_parameters(Conv2d(16, 8, (1, 3)))     # a time-delay layer is a height-1 convolution
