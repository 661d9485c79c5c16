"""Exercises of the chapter that puts the training recipe together."""
from . import exercise


@exercise("recipe-steps", "Batch 128 over 55,000 images: steps per epoch, and one-cycle warm-up steps over 15 epochs")
def steps_and_warm_up():
    import numpy as np
    from ..nn import Linear
    from ..optim import AdamW, OneCycleLR
    from ..training import batch_indices
    per_epoch = len(batch_indices(55000, 128, shuffle=False))
    opt = AdamW(Linear(1, 1).parameters())
    sched = OneCycleLR(opt, max_lr=0.01, total_steps=15 * per_epoch)
    lrs = [opt.lr]
    for _ in range(15 * per_epoch - 1):
        sched.step()
        lrs.append(opt.lr)
    return (per_epoch, int(np.argmax(lrs)) + 1)


@exercise("recipe-saved-biases", "Parameters saved by bias=False in convolutions with 6 and 16 filters")
def biases_saved_without_bias():
    from ..arithmetic import count_parameters
    from ..nn import Conv2d
    return sum(count_parameters(Conv2d(1, c, 5)) - count_parameters(Conv2d(1, c, 5, bias=False))
               for c in (6, 16))
