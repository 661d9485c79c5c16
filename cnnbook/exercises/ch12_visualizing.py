"""Exercises of chapter 12, visualizing what a CNN learns."""
from . import exercise


def _digit_net():
    from ..nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
    return Sequential(Conv2d(1, 6, 5), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(400, 120), ReLU(), Linear(120, 100),
                      ReLU(), Linear(100, 10))


@exercise("ch12-conv2-size", "Map size after the second convolution of the 32x32 digit network")
def conv2_map_size():
    from ..arithmetic import summary
    return summary(_digit_net(), (1, 1, 32, 32)).rows[3].output_shape[-1]


@exercise("ch12-fc-params", "Parameters of the fully connected layers 400-120-100-10")
def fully_connected_parameters():
    from ..arithmetic import count_parameters
    return count_parameters(_digit_net()[6:])


@exercise("ch12-occlusion-passes", "Forward passes of a 6x6, stride-3 occlusion map on 32x32")
def occlusion_forward_passes():
    from ..arithmetic import conv_output_size
    return conv_output_size(32, 6, stride=3) ** 2


@exercise("ch12-pool2-field", "Input rows and columns seen by unit (2, 3) after the second pooling")
def pool2_receptive_field():
    from ..arithmetic import receptive_field_of
    return receptive_field_of(_digit_net()[:6], (2, 3))


@exercise("ch12-guided-relu", "What guided backpropagation passes down a ReLU with forward input "
          "x = [2, -1, 3, 0.5, -2] and signal d = [-1, 2, 0.5, 0, 4]")
def guided_backprop_through_relu():
    import numpy as np
    from ..activations import relu, relu_backward, relu_forward
    x = np.array([2, -1, 3, 0.5, -2])
    d = np.array([-1, 2, 0.5, 0, 4])
    return relu_backward(relu(d), relu_forward(x)[1])


@exercise("ch12-pool2-projection-pixels", "Most input pixels on which the deconvnet projection of "
          "one unit after the second pooling layer can be non-zero")
def deconvnet_projection_pixels():
    from ..arithmetic import receptive_field
    return receptive_field(_digit_net()[:6]).size ** 2
