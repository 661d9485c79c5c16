"""``DiceLoss``, the layer class of ``F.dice_loss`` (re-exported as ``cnnbook.nn.DiceLoss``).

It follows the loss modules of ``cnnbook.nn``: ``crit = DiceLoss(); loss = crit(logits,
masks)`` keeps the cache and ``dlogits = crit.backward()`` (``dout=1.0``) returns the gradient.
It sits in its own file so that ``nn.py`` only re-exports it; it needs ``Module`` and the
function pair, nothing else of ``nn``. PyTorch has no Dice loss module, so it has no twin.

Reference: F. Milletari, N. Navab and S.-A. Ahmadi, "V-Net", 3DV 2016.
"""
from __future__ import annotations

from . import functional as F
from ._checks import check_any_int, check_choice, check_real
from .module import Module

__all__ = ["DiceLoss"]


class DiceLoss(Module):
    """Soft Dice loss of ``(N, C, H, W)`` logits and ``(N, H, W)`` class masks
    (``F.dice_loss``): ``eps`` the smoothing (default 1.0), ``ignore_index``, ``reduction``."""

    def __init__(self, eps=1.0, ignore_index=-100, reduction="mean"):
        super().__init__()
        fn = "DiceLoss"
        self.eps = check_real(fn, "eps", eps, "use eps=1.0, or 0 for no smoothing")
        if self.eps < 0:
            raise ValueError(f"{fn}: eps must be >= 0, got eps={eps!r}; use eps=1.0.")
        self.ignore_index = check_any_int(fn, "ignore_index", ignore_index, "use -100 for none")
        self.reduction = check_choice(fn, "reduction", reduction, ("mean", "sum", "none"))

    def forward(self, input, target):
        loss, self._cache = F.dice_loss_forward(input, target, self.eps, self.ignore_index,
                                                self.reduction)
        return loss

    def backward(self, dout=1.0, input_grad=True):
        return F.dice_loss_backward(dout, self._saved())

    def extra_repr(self):
        return f"eps={self.eps}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"
