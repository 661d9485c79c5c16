"""Self-checks for chapter 2, the mathematics of convolution. Answers are computed with the library."""
from __future__ import annotations

import numpy as np

from . import exercise
from ..conv import conv1d, conv2d


def _full_conv1d(f, g) -> np.ndarray:
    """Full 1-D convolution of two 1-D sequences through cnnbook's conv1d (flip=True, pad K-1)."""
    f = np.asarray(f, dtype=np.float64).reshape(1, 1, -1)
    g = np.asarray(g, dtype=np.float64).reshape(1, 1, -1)
    return conv1d(f, g, padding=g.shape[-1] - 1, flip=True).ravel()


@exercise("ch02-full-length", "Outputs of a full convolution of 100 samples with a 7-tap kernel")
def full_convolution_length():
    return int(_full_conv1d(np.ones(100), np.ones(7)).size)


@exercise("ch02-value", "(f * g)[3] for f = [2, -1, 3, 0, 1], g = [1, 2, 1]")
def one_value_of_a_1d_convolution():
    return float(_full_conv1d([2, -1, 3, 0, 1], [1, 2, 1])[3])


@exercise("ch02-flip-kernel", "The kernel whose cross-correlation equals true convolution with [[1, 2], [3, 4]]")
def flipped_kernel():
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    # Find w2 with conv2d(x, w2) == conv2d(x, w, flip=True): probe with an impulse, whose
    # cross-correlation with w2 reads w2 back rotated by 180 degrees.
    impulse = np.zeros((1, 1, 3, 3))
    impulse[0, 0, 1, 1] = 1.0
    response = conv2d(impulse, w.reshape(1, 1, 2, 2), flip=True)[0, 0]      # = w2 turned by 180
    return response[::-1, ::-1]


@exercise("ch02-two-blurs", "The single kernel equal to filtering twice with [1, 1, 1]")
def two_blurs_as_one_kernel():
    return _full_conv1d([1, 1, 1], [1, 1, 1])


@exercise("ch02-circular", "Circular convolution of [1, 2, 3, 4] with [0, 1, 0, 0]")
def circular_convolution():
    f, g = np.array([1.0, 2, 3, 4]), np.array([0.0, 1, 0, 0])
    return np.fft.ifft(np.fft.fft(f) * np.fft.fft(g)).real
