"""Exercises of the chapter that trains a small residual network."""
from . import exercise


@exercise("resnet-block-params", "Parameters of BasicBlock(16, 16): two 3x3 convolutions without bias, two batch norms")
def basic_block_parameters():
    import numpy as np
    from ..arithmetic import count_parameters
    from ..models import BasicBlock
    return count_parameters(BasicBlock(16, 16, 1, None, np.random.default_rng(0), np.dtype(np.float32)))


@exercise("resnet-projection-macs", "Multiply-adds of a 1x1, stride-2 projection from 16 to 32 channels on a 14x14 map")
def projection_shortcut_macs():
    from ..arithmetic import count_flops
    from ..nn import Conv2d
    return count_flops(Conv2d(16, 32, 1, stride=2, bias=False), (1, 16, 14, 14)).macs
