"""cnnbook — every CNN layer in NumPy, forward and backward, verified against PyTorch.

The helper package of the cnnbook textbook. Chapters start with ``import cnnbook as cb``;
submodules load on first use, so the core needs only NumPy:

- ``cb.functional`` (also ``cb.F``): the layer function pairs (``conv2d``, ``conv2d_forward``,
  ``conv2d_backward``, ...), NCHW and PyTorch semantics.
- ``cb.nn``, ``cb.optim``, ``cb.init``: layer classes, ``LeNet5``, optimizers and schedules,
  weight initialisation.
- ``cb.models``: LeNet-5, AlexNet, ZF Net, VGG, NiN, GoogLeNet, ResNet, DenseNet in NumPy, with
  torchvision's state_dict names.
- ``cb.arithmetic``: output sizes, receptive fields, parameter and FLOP counts.
- ``cb.data``: Fashion-MNIST, MNIST, scikit-learn digits, sample photos.
- ``cb.gradcheck``, ``cb.verify``: finite differences, and the comparison with PyTorch.
- ``cb.widgets``, ``cb.plot``, ``cb.exercises``: the book's explorers, figures and self-checks.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "functional", "nn", "optim", "init", "arithmetic", "data", "gradcheck", "verify", "torchcompare",
    "widgets", "plot", "exercises", "training", "conv", "pool", "activations", "linear", "losses", "norm",
    "models",
}


def __getattr__(name):
    if name == "F":
        return importlib.import_module(".functional", __name__)
    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'cnnbook' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | {"F"})
