"""The module record (attribute assignment registers parameters, sub-modules and buffers) and
what walks it: traversal, state_dict, train/eval, forward_only and the one-backward rule."""
import numpy as np
import pytest

import cnnbook as cb
from cnnbook import nn


def _small_resnet18(seed=0):
    return cb.models.resnet18(num_classes=4, rng=seed, dtype=np.float64, width=0.125,
                              small_input=True, in_channels=1)


def test_evaluate_between_forward_and_backward_leaves_resnet18_backward_alone():
    """training.forward_only restores every module's cache, including each block's last ReLU:
    evaluate() on another batch between a forward and its backward changes no gradient."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 8, 8))
    dout = rng.standard_normal((2, 4))
    x_eval, y_eval = rng.standard_normal((3, 1, 8, 8)), np.array([0, 1, 2])
    grads = []
    for with_evaluate in (False, True):
        model = _small_resnet18()
        model(x)
        if with_evaluate:
            cb.training.evaluate(model, x_eval, y_eval, batch_size=3)
        dx = model.backward(dout)
        grads.append([dx] + [p.grad.copy() for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)
