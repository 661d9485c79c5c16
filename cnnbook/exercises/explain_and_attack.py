"""Exercises of the chapter on CAM, Grad-CAM and adversarial examples."""
from . import exercise


@exercise("explain-gradcam-cam-ratio", "Grad-CAM at a 7x7 layer followed by global average pooling and a linear layer is ReLU(CAM) divided by what?", rtol=1e-4)
def gradcam_cam_ratio():
    import numpy as np

    from ..explain import cam, grad_cam
    from ..nn import AdaptiveAvgPool2d, Conv2d, Flatten, Linear, ReLU, Sequential
    net = Sequential(Conv2d(1, 4, 3, padding=1, rng=0, dtype=np.float64), ReLU(),
                     AdaptiveAvgPool2d(1), Flatten(), Linear(4, 3, rng=1, dtype=np.float64))
    x = np.random.default_rng(0).random((1, 1, 7, 7))      # maps at the input's size: no resizing
    return float(np.maximum(cam(net, x, "1"), 0).max() / grad_cam(net, x, "1").max())


@exercise("explain-linf-ball-l2", "Largest L2 norm of a change of at most 8/255 per pixel of a 28x28 image", rtol=2e-3)
def linf_ball_l2():
    import numpy as np
    return float(np.linalg.norm(np.full((28, 28), 8 / 255)))
