"""Optimizers and learning-rate schedules with PyTorch's exact update rules.

``SGD``, ``RMSprop``, ``Adam`` and ``AdamW`` update ``Parameter.data`` from
``Parameter.grad``; the schedules set the optimizer's ``lr`` (and, for one-cycle, its momentum or
Adam's beta1) once per ``step()``. Hyper-parameters live in ``optimizer.param_groups[0]`` as in
PyTorch, with ``optimizer.lr`` as a shortcut.

A frozen parameter (``requires_grad=False``) is skipped by every ``step()``: no update, no
weight decay, no state, as PyTorch skips a parameter whose ``grad`` is None. Unfreezing it later
starts its state afresh, as in PyTorch.

References:
- PyTorch ``torch/optim/sgd.py``, ``adam.py``, ``lr_scheduler.py`` (the formulas below).
- Sutskever et al., "On the importance of initialization and momentum in deep learning",
  ICML 2013 (momentum and Nesterov's variant in the form PyTorch uses).
- Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015.
- Tieleman & Hinton, "Lecture 6.5 - RMSprop", COURSERA: Neural Networks for Machine Learning, 2012.
- Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019 (AdamW).
- Smith & Topin, "Super-convergence", 2018 (the one-cycle policy).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "LRScheduler", "OneCycleLR", "StepLR",
           "CosineAnnealingLR"]


def _active(params, state):
    """(parameter, state) pairs of the parameters that are not frozen."""
    return [(p, st) for p, st in zip(params, state) if getattr(p, "requires_grad", True)]


def _nonneg(fn: str, name: str, v, fix: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
            or not math.isfinite(v) or v < 0:
        raise ValueError(f"{fn}: {name} must be a finite number >= 0, got {name}={v!r}; {fix}.")
    return float(v)


class Optimizer:
    """Holds the parameters and one group of hyper-parameters (``param_groups[0]``)."""

    def __init__(self, params, defaults: dict):
        fn = type(self).__name__
        params = list(params.parameters() if hasattr(params, "parameters") else params)
        if not params:
            raise ValueError(f"{fn}: got an empty parameter list; pass model.parameters().")
        for p in params:
            if not (hasattr(p, "data") and hasattr(p, "grad") and isinstance(p.data, np.ndarray)):
                raise TypeError(f"{fn}: expected cnnbook.nn.Parameter objects (with .data and "
                                f".grad arrays), got {type(p).__name__}; pass model.parameters().")
        self.params = params
        self.defaults = dict(defaults)
        self.param_groups = [dict(defaults, params=params)]
        self.state = [dict() for _ in params]

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        self.param_groups[0]["lr"] = float(value)

    def zero_grad(self):
        """Reset every gradient to zero (PyTorch would set it to None; zeros read the same)."""
        for p in self.params:
            p.grad = np.zeros_like(p.data)

    def step(self):
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"state": [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                          for s in self.state],
                "param_groups": [{k: v for k, v in self.param_groups[0].items() if k != "params"}]}

    def load_state_dict(self, sd: dict):
        if len(sd["state"]) != len(self.state):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is for "
                             f"{len(sd['state'])} parameters, this optimizer has {len(self.state)}.")
        self.state = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for s in sd["state"]]
        self.param_groups[0].update(sd["param_groups"][0])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay.

    As in PyTorch, per parameter with gradient g::

        g = g + weight_decay * p
        buf = g                                  (first step)
        buf = momentum * buf + (1 - dampening) * g   (later steps)
        g = g + momentum * buf  if nesterov  else  buf
        p = p - lr * g
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        fn = "SGD"
        lr = _nonneg(fn, "lr", lr, "use e.g. lr=0.01")
        momentum = _nonneg(fn, "momentum", momentum, "use 0 for none or e.g. 0.9")
        dampening = _nonneg(fn, "dampening", dampening, "use dampening=0")
        weight_decay = _nonneg(fn, "weight_decay", weight_decay, "use 0 for none or e.g. 5e-4")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got "
                             f"momentum={momentum}, dampening={dampening}; set momentum=0.9.")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=bool(nesterov)))

    def step(self):
        g_ = self.param_groups[0]
        lr, mom, damp, wd, nest = (g_["lr"], g_["momentum"], g_["dampening"],
                                   g_["weight_decay"], g_["nesterov"])
        for p, st in _active(self.params, self.state):
            g = p.grad
            if wd != 0:
                g = g + wd * p.data
            if mom != 0:
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = g.copy()
                else:
                    buf = mom * buf + (1 - damp) * g
                st["momentum_buffer"] = buf
                g = g + mom * buf if nest else buf
            p.data = (p.data - lr * g).astype(p.data.dtype, copy=False)


class RMSprop(Optimizer):
    """RMSprop, PyTorch's rule (``centered=False`` unless asked)::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        avg = sqrt(v) + eps            (centered: sqrt(v - mean_g**2) + eps, mean_g = EMA of g)
        buf = momentum * buf + g / avg;  p = p - lr * buf     if momentum > 0
        p = p - lr * g / avg                                  otherwise
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False):
        fn = "RMSprop"
        lr = _nonneg(fn, "lr", lr, "use e.g. lr=1e-2")
        alpha = _nonneg(fn, "alpha", alpha, "use alpha=0.99")
        if alpha >= 1:
            raise ValueError(f"RMSprop: alpha is the decay of the squared-gradient average and "
                             f"must lie in [0, 1), got alpha={alpha!r}; use alpha=0.99.")
        eps = _nonneg(fn, "eps", eps, "use eps=1e-8")
        weight_decay = _nonneg(fn, "weight_decay", weight_decay, "use 0 for none")
        momentum = _nonneg(fn, "momentum", momentum, "use 0 for none or e.g. 0.9")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=bool(centered)))

    def step(self):
        g_ = self.param_groups[0]
        lr, alpha, eps, wd, mom, centered = (g_["lr"], g_["alpha"], g_["eps"], g_["weight_decay"],
                                             g_["momentum"], g_["centered"])
        for p, st in _active(self.params, self.state):
            g = p.grad
            if wd != 0:
                g = g + wd * p.data
            if not st:
                st["step"] = 0
                st["square_avg"] = np.zeros_like(p.data)
                if mom > 0:
                    st["momentum_buffer"] = np.zeros_like(p.data)
                if centered:
                    st["grad_avg"] = np.zeros_like(p.data)
            st["step"] += 1
            v = alpha * st["square_avg"] + (1 - alpha) * g * g
            st["square_avg"] = v
            if centered:
                m = st["grad_avg"] + (1 - alpha) * (g - st["grad_avg"])     # torch's lerp form
                st["grad_avg"] = m
                avg = np.sqrt(v - m * m) + eps
            else:
                avg = np.sqrt(v) + eps
            if mom > 0:
                buf = mom * st["momentum_buffer"] + g / avg
                st["momentum_buffer"] = buf
                update = buf
            else:
                update = g / avg
            p.data = (p.data - lr * update).astype(p.data.dtype, copy=False)


def _check_betas(fn: str, betas):
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2
            and all(isinstance(b, (int, float, np.floating)) and not isinstance(b, bool)
                    and 0 <= b < 1 for b in betas)):
        raise ValueError(f"{fn}: betas must be two numbers in [0, 1), got betas={betas!r}; "
                         f"use betas=(0.9, 0.999).")
    return tuple(float(b) for b in betas)


class Adam(Optimizer):
    """Adam with PyTorch's bias correction (weight decay added to the gradient, not AdamW)::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        fn = type(self).__name__
        lr = _nonneg(fn, "lr", lr, "use e.g. lr=1e-3")
        betas = _check_betas(fn, betas)
        eps = _nonneg(fn, "eps", eps, "use eps=1e-8")
        weight_decay = _nonneg(fn, "weight_decay", weight_decay,
                               "use e.g. weight_decay=1e-2" if self._decoupled else "use 0 for none")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def step(self):
        g_ = self.param_groups[0]
        lr, (b1, b2), eps = g_["lr"], g_["betas"], g_["eps"]
        wd = g_["weight_decay"]
        for p, st in _active(self.params, self.state):
            g = p.grad
            data = p.data
            if wd != 0:
                if self._decoupled:
                    # AdamW: shrink the weights directly
                    data = data * (1 - lr * wd)
                else:
                    # Adam: the L2 term folded into the gradient
                    g = g + wd * data
            if not st:
                st["step"] = 0
                st["exp_avg"] = np.zeros_like(p.data)
                st["exp_avg_sq"] = np.zeros_like(p.data)
            st["step"] += 1
            t = st["step"]
            # torch's lerp form of b1 * m + (1 - b1) * g
            m = st["exp_avg"] + (1 - b1) * (g - st["exp_avg"])
            v = b2 * st["exp_avg_sq"] + (1 - b2) * g * g
            st["exp_avg"], st["exp_avg_sq"] = m, v
            step_size = lr / (1 - b1 ** t)
            denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
            p.data = (data - step_size * (m / denom)).astype(p.data.dtype,
                                                             copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's rule: before the Adam
    step the weights shrink by ``p = p * (1 - lr * weight_decay)``, and the gradient the moments
    see carries no decay term. Unlike Adam's L2 term, the shrinkage is not divided by
    ``sqrt(v)``, so every weight decays at the same rate."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# ------------------------------------------------------------------------------- schedules
class LRScheduler:
    """Sets ``optimizer.lr`` from the step count; ``step()`` advances it by one, as in
    PyTorch (the constructor already sets the step-0 value)."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a cnnbook.optim optimizer, got "
                            f"{type(optimizer).__name__}.")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._apply()

    def get_lr(self) -> float:
        raise NotImplementedError

    def _apply(self):
        self.optimizer.lr = self.get_lr()
        self._last_lr = self.optimizer.lr

    def step(self):
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list:
        return [self._last_lr]


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (step // step_size)``."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}.")
        self.step_size, self.gamma = step_size, float(gamma)
        super().__init__(optimizer)

    def get_lr(self):
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2``."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}.")
        self.T_max, self.eta_min = T_max, float(eta_min)
        super().__init__(optimizer)

    def get_lr(self):
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2


class OneCycleLR(LRScheduler):
    """The one-cycle policy, PyTorch's formula: the learning rate rises from
    ``max_lr/div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps`` and
    then falls to ``max_lr/div_factor/final_div_factor``; each phase is a half cosine
    (``anneal_strategy="cos"``) or a straight line (``"linear"``). Phase boundaries are at
    steps ``pct_start*total_steps - 1`` and ``total_steps - 1``.

    With ``cycle_momentum=True`` (PyTorch's default) the momentum moves the other way, between
    ``max_momentum`` and ``base_momentum``: SGD's ``momentum`` or Adam's ``beta1`` is set.
    """

    def __init__(self, optimizer, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
                 div_factor=25.0, final_div_factor=1e4, cycle_momentum=True,
                 base_momentum=0.85, max_momentum=0.95):
        fn = "OneCycleLR"
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"{fn}: total_steps must be a positive integer, got {total_steps!r}; "
                             f"use epochs * steps_per_epoch.")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"{fn}: pct_start is the fraction of steps spent warming up and must "
                             f"lie in [0, 1], got {pct_start!r}; use pct_start=0.3.")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{fn}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}.")
        self.total_steps = total_steps
        self.anneal_strategy = anneal_strategy
        self.initial_lr = max_lr / div_factor
        self.max_lr = float(max_lr)
        self.min_lr = self.initial_lr / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum, self.max_momentum = float(base_momentum), float(max_momentum)
        # (end step, start lr, end lr, start momentum, end momentum)
        self._phases = [
            (float(pct_start * total_steps) - 1, self.initial_lr, self.max_lr,
             self.max_momentum, self.base_momentum),
            (total_steps - 1, self.max_lr, self.min_lr, self.base_momentum, self.max_momentum),
        ]
        self._use_beta1 = "betas" in optimizer.defaults
        super().__init__(optimizer)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _lr_momentum(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {t} times, but total_steps={self.total_steps}; "
                             f"raise total_steps or stop stepping.")
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
            if t <= end or i == len(self._phases) - 1:
                pct = (t - start) / (end - start)
                return self._anneal(lr0, lr1, pct), self._anneal(m0, m1, pct)
            start = end

    def get_lr(self):
        return self._lr_momentum()[0]

    def _apply(self):
        lr, mom = self._lr_momentum()
        self.optimizer.lr = lr
        self._last_lr = lr
        if self.cycle_momentum:
            g = self.optimizer.param_groups[0]
            if self._use_beta1:
                g["betas"] = (mom, g["betas"][1])
            else:
                g["momentum"] = mom
