"""Exercises of the optimizers and initialization chapter."""
import numpy as np

from . import exercise


@exercise("opt-adam-first-step", "Adam, lr=0.01, eps=0: the size of the first step")
def adam_first_step():
    from ..nn import Parameter
    from ..optim import Adam
    p = Parameter(np.array([0.0]))
    p.grad = np.array([123.0])
    Adam([p], lr=0.01, eps=0.0).step()
    return float(abs(p.data[0]))


@exercise("init-he-std", "kaiming_normal_(relu) std for a conv with 64 input channels and 3x3 kernels")
def he_normal_std():
    from ..init import calculate_gain, fan_in_and_fan_out
    fan_in, _ = fan_in_and_fan_out(np.empty((1, 64, 3, 3)))
    return calculate_gain("relu") / np.sqrt(fan_in)


@exercise("init-xavier-bound", "xavier_uniform_ bound for the weight of Linear(400, 120)")
def xavier_uniform_bound():
    from ..init import fan_in_and_fan_out
    fan_in, fan_out = fan_in_and_fan_out(np.empty((120, 400)))
    return float(np.sqrt(3.0) * np.sqrt(2.0 / (fan_in + fan_out)))
