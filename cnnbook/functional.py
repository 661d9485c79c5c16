"""The layer function pairs, NumPy in and NumPy out (``import cnnbook.functional as F``).

Every operation has three entry points: ``op(...)`` returns the output; ``op_forward(...)``
returns ``(out, cache)``; ``op_backward(dout, cache)`` returns the gradients. Semantics and
argument names follow ``torch.nn.functional``; see each module for references.
"""
from . import activations as _activations
from . import conv as _conv
from . import linear as _linear
from . import losses as _losses
from . import norm as _norm
from . import pool as _pool

__all__ = []
for _m in (_conv, _pool, _activations, _linear, _losses, _norm):
    for _name in _m.__all__:
        globals()[_name] = getattr(_m, _name)
        __all__.append(_name)
del _m, _name
