"""Exercises of the transfer learning chapter."""
import numpy as np

from . import exercise


@exercise("tl-lenet-head-params", "LeNet-5 frozen, its last layer replaced by Linear(84, 5): trainable parameters")
def new_head_parameters():
    from .. import models, nn
    model = models.lenet5(num_classes=10, rng=0).requires_grad_(False)
    model[-1] = nn.Linear(84, 5)
    return sum(p.size for p in model.parameters() if p.requires_grad)


@exercise("tl-resnet18-fc-share", "ResNet-18 with a new fc for 5 classes, only fc trainable: trainable share of all parameters")
def resnet18_fc_share():
    from .. import models, nn
    model = models.resnet18(init="zeros").requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, 5, init="zeros")
    params = model.parameters()
    return sum(p.size for p in params if p.requires_grad) / sum(p.size for p in params)


@exercise("tl-frozen-decay-step", "SGD lr=0.5, weight_decay=0.1, a frozen weight of 2 with gradient 1: its value after one step")
def frozen_weight_after_one_step():
    from ..nn import Parameter
    from ..optim import SGD
    frozen = Parameter(np.array([2.0]), requires_grad=False)
    frozen.grad[:] = 1.0
    SGD([frozen, Parameter(np.array([1.0]))], lr=0.5, weight_decay=0.1).step()
    return float(frozen.data[0])
