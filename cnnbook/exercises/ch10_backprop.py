"""Self-checks for chapter 10, backpropagation through a CNN. Every answer is computed with the
library's backward passes, none is typed in."""
from __future__ import annotations

import numpy as np

# The chapter's arrays live in cnnbook.examples; the short names stay importable from here.
from ..examples import BACKPROP_DY_BIAS as DY_BIAS
from ..examples import BACKPROP_DY_DW as DY_DW
from ..examples import BACKPROP_DY_POOL as DY_POOL
from ..examples import BACKPROP_X_DW as X_DW
from ..examples import BACKPROP_X_POOL as X_POOL
from . import exercise

__all__ = ["DY_BIAS", "X_DW", "DY_DW", "X_POOL", "DY_POOL"]


@exercise("ch10-db", "The bias gradient db of a one-channel convolution whose output gradient "
          "dY is [[1, -2], [3, 0.5]]")
def bias_gradient():
    from .. import functional as F
    x = np.zeros((1, 1, 3, 3))
    _, cache = F.conv2d_forward(x, np.zeros((1, 1, 2, 2)), np.zeros(1))
    return float(F.conv2d_backward(DY_BIAS[None, None], cache)[2][0])


@exercise("ch10-dw", "The 2x2 weight gradient dW for the input X = arange(9).reshape(3, 3) and "
          "the output gradient dY = [[1, 0], [2, -1]] (stride 1, no padding)")
def weight_gradient():
    from .. import functional as F
    _, cache = F.conv2d_forward(X_DW[None, None], np.zeros((1, 1, 2, 2)))
    return F.conv2d_backward(DY_DW[None, None], cache)[1][0, 0]


@exercise("ch10-maxpool-route", "The 4x4 input gradient of a 2x2 max pool (stride 2) on the "
          "chapter's X_POOL, for the output gradient [[10, 20], [30, 40]]")
def max_pool_gradient_routing():
    from .. import functional as F
    _, cache = F.max_pool2d_forward(X_POOL[None, None], 2)
    return F.max_pool2d_backward(DY_POOL[None, None], cache)[0, 0]


@exercise("ch10-coverage", "A 3x3 convolution with stride 2 on a 7x7 input: how many output "
          "cells send gradient to the input pixel at row 2, column 2?")
def outputs_reached_by_one_pixel():
    from .. import functional as F
    _, cache = F.conv2d_forward(np.ones((1, 1, 7, 7)), np.ones((1, 1, 3, 3)), stride=2)
    counts = F.conv2d_backward(np.ones(cache.out_shape), cache)[0][0, 0]   # ones in, ones out
    return int(round(counts[2, 2]))
