"""Mixed precision: float16 layers over float32 master weights, and dynamic loss scaling.

``half(model)`` returns a copy of `model` whose Conv2d and Linear layers compute as PyTorch's
``torch.autocast(dtype=torch.float16)`` runs them: the input, the weight and the bias are
rounded to float16, the products are summed in float32 (as tensor cores do) and the output is
rounded to float16; on the way back the incoming gradient, the input gradient and each weight
gradient are rounded to float16 too. Everything is held in NumPy float32 arrays whose values
are float16 numbers, so overflow (to inf, above 65,504) and underflow (to 0, below 2**-24 ~
6e-8) happen exactly where float16 would put them. The weights the optimizer updates stay
float32 (the "master copy"); normalization layers and the loss stay float32, as under autocast.

Small gradients underflow in float16. ``GradScaler`` multiplies the loss (its gradient, here)
by a large factor before the backward pass and divides the weight gradients by it before the
step; if any gradient came out inf or NaN, the step is skipped and the factor halved, and after
``growth_interval`` clean steps it is doubled: the constants and the sequence of
``torch.amp.GradScaler`` (init_scale 2**16, growth_factor 2, backoff_factor 0.5,
growth_interval 2000).

Reference: Micikevicius et al. 2018, *Mixed precision training*. Taught in the chapter
``compression``.
"""
from __future__ import annotations

import copy

import numpy as np

from ._checks import check_bool, check_positive_float, check_positive_int
from .module import Module

__all__ = ["to_float16", "Half", "half", "GradScaler", "FLOAT16_TINY", "FLOAT16_SMALLEST_NORMAL"]

FLOAT16_TINY = float(np.finfo(np.float16).smallest_subnormal)       # 2**-24
FLOAT16_SMALLEST_NORMAL = float(np.finfo(np.float16).smallest_normal)  # 2**-14


def to_float16(a, like=None):
    """`a` rounded to the nearest float16 value (overflow to inf, underflow to 0), returned in
    the dtype of `like` (default: float32)."""
    a = np.asarray(a)
    dt = np.float32 if like is None else np.asarray(like).dtype
    with np.errstate(over="ignore"):
        return a.astype(np.float16).astype(dt)


class Half(Module):
    """A Conv2d or Linear layer run in float16 over float32 master weights (see the module
    docstring); forward and backward as the wrapped layer's."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        params = [p for p in self.layer.parameters()]
        master = [p.data for p in params]
        try:
            for p in params:
                p.data = to_float16(p.data, p.data)
            out = self.layer(to_float16(x, x))
        finally:
            for p, m in zip(params, master):
                p.data = m
        return to_float16(out, out)

    def backward(self, dout, input_grad=True):
        params = [p for p in self.layer.parameters() if p.requires_grad]
        before = [p.grad.copy() for p in params]
        dx = self.layer.backward(to_float16(dout, dout), input_grad)
        for p, g0 in zip(params, before):
            p.grad = g0 + to_float16(p.grad - g0, p.grad)
        return None if dx is None else to_float16(dx, dx)

    def extra_repr(self):
        return "float16"


def half(model):
    """A copy of `model` whose Conv2d and Linear layers run in float16 (``Half``); the
    copy's parameters are float32 master weights, trained as usual."""
    from .nn import Conv2d, Linear
    out = copy.deepcopy(model)

    def walk(m):
        for name, child in list(m.named_children()):
            if isinstance(child, (Conv2d, Linear)):
                setattr(m, name, Half(child))
            else:
                walk(child)
    walk(out)
    return out


class GradScaler:
    """Dynamic loss scaling, with the constants and the update rule of
    ``torch.amp.GradScaler``.

    Use: the loss's gradient is multiplied by ``get_scale()`` (``scale(dlogits)``, or pass
    ``loss=scaler.loss()`` to ``cb.training.fit``), then ``step(optimizer)`` divides the
    gradients by the scale and steps unless one of them is inf or NaN, and ``update()``
    adapts the scale. ``wrap(optimizer)`` bundles step and update for ``fit``.

    >>> s = GradScaler(growth_interval=2)
    >>> s.get_scale()
    65536.0
    """

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        fn = "GradScaler"
        check_positive_float(fn, "init_scale", init_scale, "use init_scale=2.0**16")
        check_positive_float(fn, "growth_factor", growth_factor, "use growth_factor=2.0")
        check_positive_float(fn, "backoff_factor", backoff_factor, "use backoff_factor=0.5")
        if not growth_factor > 1.0:
            raise ValueError(f"{fn}: growth_factor must be > 1, got {growth_factor}; use 2.0.")
        if not backoff_factor < 1.0:
            raise ValueError(f"{fn}: backoff_factor must be < 1, got {backoff_factor}; use 0.5.")
        self._scale = np.float32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = check_positive_int(fn, "growth_interval", growth_interval)
        self._enabled = check_bool(fn, "enabled", enabled)
        self._growth_tracker = 0
        self._found_inf = {}          # id(optimizer) -> bool, since the last update
        self._unscaled = set()
        self.skipped = 0              # how many steps were skipped for inf/NaN gradients

    def get_scale(self) -> float:
        return float(self._scale) if self._enabled else 1.0

    def scale(self, x):
        """`x` (a loss or the gradient of one) times the current scale."""
        if not self._enabled:
            return x
        return np.asarray(x) * self._scale

    def unscale_(self, optimizer):
        """Divide every gradient of `optimizer` by the scale (multiply by its float32
        reciprocal, as PyTorch) and note whether any is inf or NaN."""
        if not self._enabled:
            return
        if id(optimizer) in self._unscaled:
            raise RuntimeError("GradScaler.unscale_: already called for this optimizer since "
                               "the last update(); call update() after each step.")
        inv = np.float32(1.0 / np.float64(self._scale))
        found = False
        for g in optimizer.param_groups:
            for p in g["params"]:
                if not getattr(p, "requires_grad", True):
                    continue
                if not np.all(np.isfinite(p.grad)):
                    found = True
                p.grad = (p.grad * inv).astype(p.grad.dtype, copy=False)
        self._found_inf[id(optimizer)] = found
        self._unscaled.add(id(optimizer))

    def step(self, optimizer):
        """Unscale (if not done yet), then ``optimizer.step()`` unless a gradient was inf or
        NaN; returns True when the step was taken."""
        if not self._enabled:
            optimizer.step()
            return True
        if id(optimizer) not in self._unscaled:
            self.unscale_(optimizer)
        if self._found_inf[id(optimizer)]:
            self.skipped += 1
            return False
        optimizer.step()
        return True

    def update(self, new_scale=None):
        """Halve the scale after a step with inf/NaN gradients; double it after
        ``growth_interval`` clean steps in a row (PyTorch's ``_amp_update_scale_``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = np.float32(new_scale)
        else:
            found = any(self._found_inf.values())
            if found:
                self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                tracker = self._growth_tracker + 1
                if tracker == self._growth_interval:
                    grown = np.float32(self._scale * np.float32(self._growth_factor))
                    if np.isfinite(grown):
                        self._scale = grown
                    tracker = 0
                self._growth_tracker = tracker
        self._found_inf, self._unscaled = {}, set()

    def state_dict(self) -> dict:
        """PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker."""
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def loss(self, loss="cross_entropy"):
        """A loss for ``cb.training.fit``: the loss's value, and its gradient times the scale."""
        from .training import loss_and_grad

        def scaled(logits, y):
            value, dlogits = loss_and_grad(logits, y, loss)
            return value, self.scale(dlogits).astype(dlogits.dtype, copy=False)
        return scaled

    def wrap(self, optimizer):
        """An optimizer for ``fit`` whose ``step()`` is ``scaler.step(optimizer)`` followed by
        ``scaler.update()``; ``zero_grad`` and ``param_groups`` are the optimizer's."""
        return _ScaledOptimizer(self, optimizer)

    def __repr__(self):
        return (f"GradScaler(scale={self.get_scale():g}, growth_tracker={self._growth_tracker}, "
                f"skipped={self.skipped})")


class _ScaledOptimizer:
    def __init__(self, scaler, optimizer):
        self.scaler, self.optimizer = scaler, optimizer
        self.param_groups = optimizer.param_groups

    def step(self):
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def zero_grad(self):
        self.optimizer.zero_grad()
