"""Self-checks for chapter 8, pooling. Every answer is computed with the library."""
import numpy as np

from . import exercise


@exercise("ch08-alexnet-27", "Side of the map that 3x3 max pooling with stride 2 (AlexNet's "
          "overlapping pooling) makes from a 55x55 map")
def alexnet_overlapping_pool_size():
    from ..functional import max_pool2d
    return max_pool2d(np.zeros((1, 1, 55, 55)), 3, stride=2).shape[-1]


@exercise("ch08-discard-3x3", "Fraction of the activations that 3x3 max pooling with stride 3 "
          "discards from a 9x9 map")
def fraction_discarded_by_3x3_pooling():
    from ..functional import max_pool2d
    kept = max_pool2d(np.zeros((1, 1, 9, 9)), 3).size
    return 1 - kept / 81


@exercise("ch08-l2-window", "L2 pooling (norm_type=2) of the single 2x2 window [[3, 4], [0, 0]]")
def l2_pool_of_one_window():
    from ..functional import lp_pool2d
    return float(lp_pool2d(np.array([[[[3.0, 4.0], [0.0, 0.0]]]]), 2, 2)[0, 0, 0, 0])


@exercise("ch08-roi-rows", "How many feature-map rows does the first bin read when a region "
          "7 rows tall is RoI-pooled to 2 rows (torchvision's rule)?")
def roi_pool_rows_of_the_first_bin():
    from ..pool import roi_bins
    h_edges, _ = roi_bins([0, 0, 0, 4, 6], (2, 2), 1.0, 10, 10)   # box 5 wide, 7 tall
    h0, h1 = h_edges[0]
    return h1 - h0


@exercise("ch08-tie-gradient", "Max pooling a 2x2 window [[5, 5], [1, 5]] with upstream gradient "
          "1: the gradient that reaches the input, as a 2x2 array")
def max_pool_gradient_with_ties():
    from ..functional import max_pool2d_backward, max_pool2d_forward
    out, cache = max_pool2d_forward(np.array([[[[5.0, 5.0], [1.0, 5.0]]]]), 2)
    return max_pool2d_backward(np.ones_like(out), cache)[0, 0]
