"""Exercises of the chapter on mixed precision, quantization, pruning and distillation."""
from . import exercise


@exercise("compress-zero-point", "Affine uint8 zero point for activations observed in [-1.0, 3.0]")
def affine_zero_point():
    import numpy as np
    from ..quant import MinMaxObserver
    obs = MinMaxObserver(np.uint8)
    obs(np.array([-1.0, 3.0], np.float32))
    return obs.calculate_qparams()[1]


@exercise("compress-float16-bytes", "Bytes of LeNet-5's 61,706 parameters in float16")
def lenet_float16_bytes():
    import numpy as np
    from ..nn import LeNet5
    return sum(p.size for p in LeNet5().parameters()) * np.dtype(np.float16).itemsize
