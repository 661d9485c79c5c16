"""Self-checks for chapter 17, choosing hyperparameters. Every answer is computed with the library."""
from . import exercise


@exercise("ch17-same-padding-7", "The padding that keeps a 28x28 map the same size under a 7x7 "
          "kernel at stride 1")
def same_padding_for_7x7():
    from ..arithmetic import conv_output_size
    return next(p for p in range(8) if conv_output_size(28, 7, 1, p) == 28)


@exercise("ch17-three-3x3-128", "Weights (no biases) of three stacked 3x3 convolutions with 128 "
          "channels in and out")
def weights_of_three_3x3_128_layers():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d, Sequential
    return count_parameters(Sequential(*[Conv2d(128, 128, 3, padding=1, bias=False, rng=0)
                                         for _ in range(3)]))


@exercise("ch17-channels-7x7", "Channels of a 3x3 C->C layer at 7x7 that match the multiply-adds "
          "of one with 256 channels at 14x14")
def channels_matching_macs_at_7x7():
    from ..arithmetic import count_flops
    from ..nn import Conv2d
    target = count_flops(Conv2d(256, 256, 3, padding=1, bias=False, rng=0), (1, 256, 14, 14)).macs
    # 9 * C^2 * 49 = target
    return int(round((target / (9 * 49)) ** 0.5))


@exercise("ch17-rf-four-3x3", "Receptive field of four stacked 3x3 convolutions, stride 1, no "
          "pooling")
def receptive_field_of_four_3x3():
    from ..arithmetic import receptive_field
    return receptive_field([(3, 1, 1)] * 4).size
