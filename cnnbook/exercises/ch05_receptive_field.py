"""Self-checks for chapter 5, the receptive field. Every answer is computed with the library."""
from . import exercise


@exercise("ch05-vgg-block", "Receptive field size after conv3 -> conv3 -> 2x2 max pool -> conv3 -> "
          "conv3 (all convolutions stride 1, padding 1)")
def receptive_field_of_a_vgg_block():
    from ..arithmetic import receptive_field
    conv, pool = (3, 1, 1, 1), (2, 2, 0, 1)
    return receptive_field([conv, conv, pool, conv, conv])[0]


@exercise("ch05-dilated-1248", "Receptive field size of four stacked 3x3 convolutions with "
          "dilations 1, 2, 4, 8 (stride 1)")
def receptive_field_dilations_1_2_4_8():
    from ..arithmetic import receptive_field
    return receptive_field([(3, 1, d, d) for d in (1, 2, 4, 8)])[0]


@exercise("ch05-layers-for-32", "The fewest stacked 3x3 stride-1 convolutions whose receptive "
          "field is at least 32 pixels wide")
def layers_for_a_32_pixel_field():
    from ..arithmetic import receptive_field
    n = 1
    while receptive_field([(3, 1, 1, 1)] * n)[0] < 32:
        n += 1
    return n


@exercise("ch05-param-ratio", "Weights (no biases) of three stacked 3x3 convolutions with 32 "
          "channels in and out, divided by the weights of one 7x7 convolution with the same channels")
def three_3x3_versus_one_7x7_weights():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d, Sequential
    stack = Sequential(*[Conv2d(32, 32, 3, padding=1, bias=False) for _ in range(3)])
    single = Conv2d(32, 32, 7, padding=3, bias=False)
    return count_parameters(stack) / count_parameters(single)
