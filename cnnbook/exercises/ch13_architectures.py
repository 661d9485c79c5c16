"""Self-checks for chapter 13, classic architectures. Every answer is computed with the library."""
import numpy as np

from . import exercise


@exercise("ch13-alexnet-conv1", "Side of AlexNet's first feature map: a 224x224 input, 11x11 "
          "kernels, stride 4, padding 2 (the single-GPU variant)")
def alexnet_conv1_size():
    from ..arithmetic import conv_output_size
    return conv_output_size(224, 11, stride=4, padding=2)


@exercise("ch13-stack-rf", "Receptive field of four stacked 3x3 convolutions with stride 1")
def receptive_field_of_a_3x3_stack():
    from ..arithmetic import receptive_field
    return receptive_field([(3, 1, 1)] * 4).size


@exercise("ch13-stack-weights", "Weights (no biases) of three stacked 3x3 convolutions that map "
          "64 channels to 64 channels")
def weights_of_a_3x3_stack():
    from ..nn import Conv2d
    layers = [Conv2d(64, 64, 3, padding=1, bias=False) for _ in range(3)]
    return sum(layer.weight.data.size for layer in layers)


@exercise("ch13-inception-channels", "Output channels of an Inception module with 64 (1x1), "
          "128 (3x3), 32 (5x5) and 32 (pool projection) filters, on a 28x28x192 input")
def inception_output_channels():
    from ..functional import conv2d, max_pool2d
    x = np.zeros((1, 192, 28, 28))
    branches = [conv2d(x, np.zeros((64, 192, 1, 1))),
                conv2d(conv2d(x, np.zeros((96, 192, 1, 1))), np.zeros((128, 96, 3, 3)), padding=1),
                conv2d(conv2d(x, np.zeros((16, 192, 1, 1))), np.zeros((32, 16, 5, 5)), padding=2),
                conv2d(max_pool2d(x, 3, stride=1, padding=1), np.zeros((32, 192, 1, 1)))]
    return np.concatenate(branches, axis=1).shape[1]


@exercise("ch13-dense-channels", "Channels leaving a dense block of 6 layers with growth rate 32 "
          "that receives 64 channels")
def dense_block_output_channels():
    from ..functional import conv2d
    x = np.zeros((1, 64, 4, 4))
    for _ in range(6):
        new = conv2d(x, np.zeros((32, x.shape[1], 3, 3)), padding=1)
        x = np.concatenate([x, new], axis=1)
    return x.shape[1]


@exercise("ch13-inception-5x5-macs", "Multiply-adds of a 5x5 convolution from 192 to 32 channels "
          "on a 28x28 map with padding 2 (Inception 3a's 5x5 branch without its 1x1 reduction)")
def inception_5x5_branch_macs():
    from ..arithmetic import count_flops
    from ..nn import Conv2d
    return count_flops(Conv2d(192, 32, 5, padding=2, init="zeros"), (1, 192, 28, 28)).macs
