"""The layer function pairs, NumPy in and NumPy out (``import cnnbook.functional as F``).

Every operation has three entry points: ``op(...)`` returns the output; ``op_forward(...)``
returns ``(out, cache)``; ``op_backward(dout, cache)`` returns the gradients. Semantics and
argument names follow ``torch.nn.functional``; see each module for references. The loop versions
(``conv2d_naive``, ``conv2d_backward_naive``, ``max_pool2d_naive``, ...) compute the same numbers
one output position at a time, to be read next to the formulas.
"""
from . import activations, attention, conv, linear, losses, norm, pool, spatial

_MODULES = (conv, pool, activations, linear, losses, norm, spatial, attention)

# every public name of the operation modules, from their own ``__all__`` (one list to keep)
__all__ = [name for _m in _MODULES for name in _m.__all__]
globals().update({name: getattr(_m, name) for _m in _MODULES for name in _m.__all__})
