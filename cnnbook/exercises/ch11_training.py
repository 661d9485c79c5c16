"""Exercises of chapter 11, training LeNet-5."""

import numpy as np

from . import exercise


@exercise("ch11-conv2-params", "Parameters of LeNet-5's second convolution (16 filters 5x5 over 6 channels)")
def lenet_conv2_parameters():
    from ..arithmetic import count_parameters
    from ..nn import LeNet5
    return count_parameters(LeNet5()[3])


@exercise("ch11-steps-per-epoch", "Steps per epoch over 60,000 images with batch 100 and batch 128")
def steps_per_epoch():
    from ..training import batch_indices
    return tuple(len(batch_indices(60000, b, shuffle=False)) for b in (100, 128))


@exercise("ch11-onecycle", "One-cycle (max_lr=0.01, 1000 steps): lr at step 0 and the step of the peak")
def one_cycle_start_and_peak():
    from ..nn import Linear
    from ..optim import Adam, OneCycleLR
    opt = Adam(Linear(1, 1).parameters())
    sched = OneCycleLR(opt, max_lr=0.01, total_steps=1000)
    lrs = [opt.lr]
    for _ in range(999):
        sched.step()
        lrs.append(opt.lr)
    return (lrs[0], int(np.argmax(lrs)))


@exercise("ch11-saturated-gradient", "d loss / d z_true for z=(10,0,...,0), true class 1: (cross-entropy, mse)",
          rtol=1e-4, atol=1e-9)
def saturated_logit_gradients():
    from ..training import loss_and_grad
    z = np.zeros((1, 10))
    z[0, 0] = 10
    y = np.array([1])
    return (float(loss_and_grad(z, y, "cross_entropy")[1][0, 1]),
            float(loss_and_grad(z, y, "mse")[1][0, 1]))
