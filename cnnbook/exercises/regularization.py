"""Exercises of the overfitting and regularization chapter."""
import numpy as np

from . import exercise


@exercise("reg-dropout-scale", "Inverted dropout, p=0.2: the factor applied to surviving values")
def inverted_dropout_scale():
    from ..norm import dropout
    out = dropout(np.ones((1, 1000)), p=0.2, training=True, rng=np.random.default_rng(0))
    return float(out.max())


@exercise("reg-adamw-shrink", "AdamW lr=1e-3, weight_decay=0.01: shrink factor of the decay over 1,000 steps")
def adamw_shrink_over_1000_steps():
    from ..nn import Parameter
    from ..optim import AdamW
    p = Parameter(np.array([1.0]))
    opt = AdamW([p], lr=1e-3, weight_decay=0.01)
    for _ in range(1000):
        p.grad = np.zeros(1)            # no gradient: only the decoupled decay acts
        opt.step()
    return float(p.data[0])


@exercise("reg-sgd-l2-step", "SGD lr=0.1, weight_decay=0.5, w=2, gradient 0: w after one step")
def sgd_weight_decay_step():
    from ..nn import Parameter
    from ..optim import SGD
    p = Parameter(np.array([2.0]))
    SGD([p], lr=0.1, weight_decay=0.5).step()
    return float(p.data[0])
