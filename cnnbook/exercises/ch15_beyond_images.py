"""Self-checks for chapter 15, CNNs beyond images. Every answer is computed with the library."""
import numpy as np

from . import exercise


@exercise("ch15-causal-rf", "Receptive field of five causal convolutions with kernel 2 and "
          "dilations 1, 2, 4, 8, 16 (WaveNet style)")
def causal_dilated_receptive_field():
    from ..arithmetic import receptive_field
    return receptive_field([(2, 1, 0, d) for d in (1, 2, 4, 8, 16)]).size


@exercise("ch15-conv1d-length", "Output length of conv1d on a signal of length 100 with kernel 5, "
          "stride 2, no padding")
def conv1d_output_length():
    from ..functional import conv1d
    return conv1d(np.zeros((1, 1, 100)), np.zeros((1, 1, 5)), stride=2).shape[-1]


@exercise("ch15-char-params", "Parameters (weights and biases) of a 1-D convolution with 16 "
          "filters of width 3 over one-hot characters from a 27-symbol alphabet")
def character_conv_parameters():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d
    return count_parameters(Conv2d(27, 16, (1, 3)))


@exercise("ch15-motif-score", "The 'cat' detector (one-hot kernel for c, a, t; bias -2; ReLU) "
          "slides over 'the cats act'. What is its largest response?")
def motif_detector_peak():
    from ..functional import conv1d, relu
    alphabet = "abcdefghijklmnopqrstuvwxyz "
    onehot = lambda s: np.eye(27)[[alphabet.index(ch) for ch in s]].T[None]   # (1, 27, L)
    w = onehot("cat")                                                          # (1, 27, 3)
    return float(relu(conv1d(onehot("the cats act"), w, np.array([-2.0]))).max())
