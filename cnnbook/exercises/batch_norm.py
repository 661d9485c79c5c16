"""Exercises of the batch normalization chapter."""
import numpy as np

from . import exercise


@exercise("bn-params-buffers", "BatchNorm2d(16): (trainable parameters, running-statistic values)")
def batch_norm_parameters_and_buffers():
    from ..arithmetic import count_parameters
    from ..nn import BatchNorm2d
    bn = BatchNorm2d(16)
    return (count_parameters(bn), bn.running_mean.size + bn.running_var.size)


@exercise("bn-eval-output", "Eval-mode output for x=6, running mean 2, running var 4, gamma 3, beta 1")
def batch_norm_eval_output():
    from ..norm import batch_norm2d
    out = batch_norm2d(np.full((1, 1, 1, 1), 6.0), np.array([3.0]), np.array([1.0]),
                       np.array([2.0]), np.array([4.0]), training=False, eps=1e-300)
    return float(out[0, 0, 0, 0])


@exercise("bn-train-value", "Training-mode normalised value of 6 in the batch 1, 2, 3, 6")
def batch_norm_training_value():
    from ..norm import batch_norm2d
    x = np.array([1.0, 2.0, 3.0, 6.0]).reshape(4, 1, 1, 1)
    return float(batch_norm2d(x, None, None, eps=1e-300)[3, 0, 0, 0])
