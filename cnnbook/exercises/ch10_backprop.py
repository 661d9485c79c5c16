"""Self-checks for chapter 10, backpropagation through a CNN. Every answer is computed with the
library's backward passes, none is typed in."""
from __future__ import annotations

import numpy as np

from . import exercise

# The small arrays the questions are about (also printed in the chapter).
DY_BIAS = np.array([[1.0, -2.0], [3.0, 0.5]])
X_DW = np.arange(9.0).reshape(3, 3)
DY_DW = np.array([[1.0, 0.0], [2.0, -1.0]])
X_POOL = np.array([[1.0, 5.0, 2.0, 0.0],
                   [3.0, 2.0, 7.0, 7.0],
                   [0.0, 4.0, 1.0, 6.0],
                   [4.0, 1.0, 2.0, 3.0]])
DY_POOL = np.array([[10.0, 20.0], [30.0, 40.0]])


@exercise("ch10-db", "The bias gradient db of a one-channel convolution whose output gradient "
          "dY is [[1, -2], [3, 0.5]]")
def _():
    from .. import functional as F
    x = np.zeros((1, 1, 3, 3))
    _, cache = F.conv2d_forward(x, np.zeros((1, 1, 2, 2)), np.zeros(1))
    return float(F.conv2d_backward(DY_BIAS[None, None], cache)[2][0])


@exercise("ch10-dw", "The 2x2 weight gradient dW for the input X = arange(9).reshape(3, 3) and "
          "the output gradient dY = [[1, 0], [2, -1]] (stride 1, no padding)")
def _():
    from .. import functional as F
    _, cache = F.conv2d_forward(X_DW[None, None], np.zeros((1, 1, 2, 2)))
    return F.conv2d_backward(DY_DW[None, None], cache)[1][0, 0]


@exercise("ch10-maxpool-route", "The 4x4 input gradient of a 2x2 max pool (stride 2) on the "
          "chapter's X_POOL, for the output gradient [[10, 20], [30, 40]]")
def _():
    from .. import functional as F
    _, cache = F.max_pool2d_forward(X_POOL[None, None], 2)
    return F.max_pool2d_backward(DY_POOL[None, None], cache)[0, 0]


@exercise("ch10-coverage", "A 3x3 convolution with stride 2 on a 7x7 input: how many output "
          "cells send gradient to the input pixel at row 2, column 2?")
def _():
    from .. import functional as F
    _, cache = F.conv2d_forward(np.ones((1, 1, 7, 7)), np.ones((1, 1, 3, 3)), stride=2)
    counts = F.conv2d_backward(np.ones(cache.out_shape), cache)[0][0, 0]   # ones in, ones out
    return int(round(counts[2, 2]))
