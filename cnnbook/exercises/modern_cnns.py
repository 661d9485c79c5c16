"""Exercises of the chapter on modern CNNs (MobileNetV2, EfficientNet, ConvNeXt)."""
from . import exercise


@exercise("separable-params", "Parameters of a depthwise 3x3 plus a pointwise 1x1 convolution from 64 to 128 channels, without biases")
def separable_parameters():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d, Sequential
    return count_parameters(Sequential(Conv2d(64, 64, 3, groups=64, bias=False),
                                       Conv2d(64, 128, 1, bias=False)))


@exercise("se-params", "Parameters of SqueezeExcitation(96, 24): two 1x1 convolutions with biases")
def squeeze_excitation_parameters():
    from ..arithmetic import count_parameters
    from ..blocks import SqueezeExcitation
    return count_parameters(SqueezeExcitation(96, 24, rng=0))
