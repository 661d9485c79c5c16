"""Optimizers and learning-rate schedules with PyTorch's exact update rules.

``SGD``, ``RMSprop``, ``Adam`` and ``AdamW`` update ``Parameter.data`` from
``Parameter.grad``; the schedules set each parameter group's ``lr`` (and, for one-cycle, its
momentum or Adam's beta1) once per ``step()``.

Parameter groups work as in PyTorch: pass a list of dicts, each with ``"params"`` and any
hyper-parameters that differ from the defaults given as keywords::

    SGD([{"params": head.parameters(), "lr": 1e-2}, {"params": body.parameters()}],
        lr=1e-3, momentum=0.9)

``optimizer.param_groups`` is that list of dicts, completed with the defaults;
``optimizer.lr`` reads the first group's rate (and setting it sets every group's).
``state_dict()`` / ``load_state_dict()`` save and restore the hyper-parameters and the
per-parameter state (momentum buffers, Adam's moments and step count) in PyTorch's layout,
``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, so that training
resumes exactly where it stopped; ``load_state_dict`` also takes a ``torch.optim`` optimizer's
``state_dict()``.

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

import copy
import math
import numbers

import numpy as np

from ._checks import check_positive_int, check_real

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "LRScheduler", "OneCycleLR", "StepLR",
           "CosineAnnealingLR"]


def _nonneg(fn: str, name: str, v, fix: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{fn}: {name} must be a number, got {name}={v!r} of type "
                        f"{type(v).__name__}; {fix}.")
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{fn}: {name} must be a finite number >= 0, got {name}={v!r}; {fix}.")
    return float(v)


def _check_bool(fn: str, name: str, v) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be True or False, got {name}={v!r}.")
    return bool(v)


def _param_list(fn: str, params) -> list:
    """`params` (a module, a Parameter, or an iterable of Parameters) as a list of Parameters."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if hasattr(params, "data") and hasattr(params, "grad"):
        params = [params]
    if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{fn}: params must be an iterable of cnnbook.nn.Parameter objects or a "
                        f"list of parameter groups (dicts), got {type(params).__name__}; pass "
                        f"model.parameters().")
    params = list(params)
    for p in params:
        if type(p).__module__.startswith("torch"):
            raise TypeError(f"{fn}: got a torch {type(p).__name__}; cnnbook.optim updates "
                            f"cnnbook.nn.Parameter objects: pass the parameters of a cnnbook "
                            f"model (model.parameters()), or use torch.optim for a torch model.")
        if not (hasattr(p, "data") and hasattr(p, "grad") and isinstance(p.data, np.ndarray)):
            raise TypeError(f"{fn}: expected cnnbook.nn.Parameter objects (with .data and "
                            f".grad arrays), got {type(p).__name__}; pass model.parameters().")
    return params


class Optimizer:
    """Parameter groups (``param_groups``, a list of dicts), per-parameter ``state`` (a list
    in the order of ``params``), ``zero_grad``, and saving and loading both."""

    def __init__(self, params, defaults: dict):
        fn = type(self).__name__
        self.defaults = self._check_hyper(fn, dict(defaults))
        self.param_groups = []
        self.state = []
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()
        if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
            raise TypeError(f"{fn}: params must be an iterable of Parameters or of parameter "
                            f"groups (dicts), got {type(params).__name__}; pass model.parameters().")
        items = list(params)
        if not items:
            raise ValueError(f"{fn}: got an empty parameter list; pass model.parameters().")
        if any(isinstance(i, dict) for i in items):
            if not all(isinstance(i, dict) for i in items):
                raise TypeError(f"{fn}: params mixes parameter groups (dicts) with parameters; "
                                f"put every parameter in a group, e.g. [{{'params': head}}, "
                                f"{{'params': body, 'lr': 1e-3}}].")
            for group in items:
                self.add_param_group(group)
        else:
            self.add_param_group({"params": items})

    # ---- hyper-parameters: each optimizer checks its own -------------------------------------
    @staticmethod
    def _check_hyper(fn: str, g: dict) -> dict:
        return g

    def add_param_group(self, group: dict):
        """Add a group ``{"params": [...], "lr": ..., ...}``; the keys it leaves out take the
        defaults given to the constructor (PyTorch's ``add_param_group``)."""
        fn = type(self).__name__
        where = f"{fn} (param group {len(self.param_groups)})"
        if not isinstance(group, dict):
            raise TypeError(f"{fn}: a parameter group must be a dict with a 'params' key, got "
                            f"{type(group).__name__}.")
        if "params" not in group:
            raise ValueError(f"{where}: the group has no 'params' key (keys {sorted(group)}); "
                             f"use e.g. {{'params': model.fc.parameters(), 'lr': 1e-2}}.")
        params = _param_list(where, group["params"])
        if not params:
            raise ValueError(f"{where}: the group's 'params' is empty; pass some parameters or "
                             f"leave the group out.")
        seen = {id(p) for p in self.params}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError(f"{where}: some parameters appear more than once (in this group or "
                             f"in an earlier one); give each parameter to one group only.")
        g = dict(self.defaults)
        g.update({k: v for k, v in group.items() if k != "params"})
        g = self._check_hyper(where, g)
        self.param_groups.append({"params": params, **g})
        self.state += [dict() for _ in params]

    @property
    def params(self) -> list:
        """Every parameter, group after group (the order of ``state`` and of the indices in
        ``state_dict``)."""
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        value = _nonneg(type(self).__name__, "lr", value, "use e.g. lr=0.01")
        for g in self.param_groups:
            g["lr"] = value

    def _active(self):
        """(group, parameter, state) of every parameter that is not frozen."""
        i = 0
        for g in self.param_groups:
            for p in g["params"]:
                if getattr(p, "requires_grad", True):
                    yield g, p, self.state[i]
                i += 1

    def zero_grad(self):
        """Reset every gradient to zero (PyTorch would set it to None; zeros read the same)."""
        for p in self.params:
            p.grad = np.zeros_like(p.data)

    def step(self):
        raise NotImplementedError

    # ---- saving and resuming -------------------------------------------------------------
    def state_dict(self) -> dict:
        """A copy of the optimizer's state in PyTorch's layout: ``"state"`` maps the index of a
        parameter (in ``params`` order) to its state, for parameters that have one;
        ``"param_groups"`` holds each group's hyper-parameters with ``"params"`` as indices."""
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
                 for i, st in enumerate(self.state) if st}
        groups, start = [], 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append({**copy.deepcopy({k: v for k, v in g.items() if k != "params"}),
                           "params": list(range(start, start + n))})
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        """Restore what ``state_dict()`` saved (from this optimizer class over parameters of the
        same shapes, or from the ``torch.optim`` optimizer of the same name): the per-parameter
        state and each group's hyper-parameters. The dictionary is copied, never kept."""
        fn = f"{type(self).__name__}.load_state_dict"
        if not (isinstance(state_dict, dict) and "state" in state_dict
                and "param_groups" in state_dict):
            raise TypeError(f"{fn}: expected the dict that optimizer.state_dict() returns, with "
                            f"keys 'state' and 'param_groups', got {type(state_dict).__name__}.")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{fn}: the state has {len(saved)} parameter groups, this optimizer "
                             f"has {len(self.param_groups)}; build the optimizer with the same "
                             f"groups before loading.")
        for k, (sg, g) in enumerate(zip(saved, self.param_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError(f"{fn}: parameter group {k} holds {len(sg['params'])} parameters "
                                 f"in the state but {len(g['params'])} here; build the optimizer "
                                 f"over the same parameters before loading.")
        index = {i: j for sg in saved for j, i in
                 enumerate(sg["params"], start=sum(len(s["params"]) for s in
                                                   saved[:saved.index(sg)]))}
        params = self.params
        new_state = [dict() for _ in params]
        for key, st in state_dict["state"].items():
            if key not in index:
                raise ValueError(f"{fn}: the state names parameter {key!r}, which no saved group "
                                 f"holds.")
            j = index[key]
            p = params[j]
            entry = {}
            for name, v in st.items():
                if type(v).__module__.startswith("torch"):
                    v = v.detach().cpu().numpy()
                if name == "step":
                    entry[name] = int(np.asarray(v).item())
                elif v is None:
                    continue
                else:
                    v = np.array(v, dtype=p.data.dtype, copy=True)
                    if v.shape != p.data.shape:
                        raise ValueError(f"{fn}: the saved {name} of parameter {j} has shape "
                                         f"{v.shape}, the parameter has shape {p.data.shape}; "
                                         f"the state is from another model.")
                    entry[name] = v
            new_state[j] = entry
        groups = []
        for k, (sg, g) in enumerate(zip(saved, self.param_groups)):
            h = {key: v for key, v in g.items() if key != "params"}
            h.update({key: copy.deepcopy(v) for key, v in sg.items() if key in h})
            groups.append({"params": g["params"],
                           **self._check_hyper(f"{fn} (param group {k})", h)})
        self.param_groups, self.state = groups, new_state


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
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @staticmethod
    def _check_hyper(fn, g):
        g["lr"] = _nonneg(fn, "lr", g["lr"], "use e.g. lr=0.01")
        g["momentum"] = _nonneg(fn, "momentum", g["momentum"], "use 0 for none or e.g. 0.9")
        g["dampening"] = _nonneg(fn, "dampening", g["dampening"], "use dampening=0")
        g["weight_decay"] = _nonneg(fn, "weight_decay", g["weight_decay"],
                                    "use 0 for none or e.g. 5e-4")
        g["nesterov"] = _check_bool(fn, "nesterov", g["nesterov"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError(f"{fn}: Nesterov momentum needs momentum > 0 and dampening = 0, got "
                             f"momentum={g['momentum']}, dampening={g['dampening']}; set "
                             f"momentum=0.9.")
        return g

    def step(self):
        for g_, p, st in self._active():
            lr, mom, damp, wd = g_["lr"], g_["momentum"], g_["dampening"], g_["weight_decay"]
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
                g = g + mom * buf if g_["nesterov"] else buf
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
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    @staticmethod
    def _check_hyper(fn, g):
        g["lr"] = _nonneg(fn, "lr", g["lr"], "use e.g. lr=1e-2")
        g["alpha"] = _nonneg(fn, "alpha", g["alpha"], "use alpha=0.99")
        if g["alpha"] >= 1:
            raise ValueError(f"{fn}: alpha is the decay of the squared-gradient average and "
                             f"must lie in [0, 1), got alpha={g['alpha']!r}; use alpha=0.99.")
        g["eps"] = _nonneg(fn, "eps", g["eps"], "use eps=1e-8")
        g["weight_decay"] = _nonneg(fn, "weight_decay", g["weight_decay"], "use 0 for none")
        g["momentum"] = _nonneg(fn, "momentum", g["momentum"], "use 0 for none or e.g. 0.9")
        g["centered"] = _check_bool(fn, "centered", g["centered"])
        return g

    def step(self):
        for g_, p, st in self._active():
            lr, alpha, eps, wd, mom = (g_["lr"], g_["alpha"], g_["eps"], g_["weight_decay"],
                                       g_["momentum"])
            g = p.grad
            if wd != 0:
                g = g + wd * p.data
            if not st:
                st["step"] = 0
                st["square_avg"] = np.zeros_like(p.data)
                if mom > 0:
                    st["momentum_buffer"] = np.zeros_like(p.data)
                if g_["centered"]:
                    st["grad_avg"] = np.zeros_like(p.data)
            st["step"] += 1
            v = alpha * st["square_avg"] + (1 - alpha) * g * g
            st["square_avg"] = v
            if g_["centered"]:
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
    if not isinstance(betas, (tuple, list)) or not all(
            isinstance(b, (numbers.Real, np.floating)) and not isinstance(b, (bool, np.bool_))
            for b in betas):
        raise TypeError(f"{fn}: betas must be a pair of numbers, got betas={betas!r}; use "
                        f"betas=(0.9, 0.999).")
    if not (len(betas) == 2 and all(0 <= b < 1 for b in betas)):
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
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_hyper(self, fn, g):
        g["lr"] = _nonneg(fn, "lr", g["lr"], "use e.g. lr=1e-3")
        g["betas"] = _check_betas(fn, g["betas"])
        g["eps"] = _nonneg(fn, "eps", g["eps"], "use eps=1e-8")
        g["weight_decay"] = _nonneg(fn, "weight_decay", g["weight_decay"],
                                    "use e.g. weight_decay=1e-2" if self._decoupled
                                    else "use 0 for none")
        return g

    def step(self):
        for g_, p, st in self._active():
            lr, (b1, b2), eps = g_["lr"], g_["betas"], g_["eps"]
            wd = g_["weight_decay"]
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
    """Sets every parameter group's ``lr`` from the step count; ``step()`` advances it by one,
    as in PyTorch (the constructor already sets the step-0 value). Each group's schedule starts
    from its own rate (``base_lrs``), so groups keep their ratios."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a cnnbook.optim optimizer, got "
                            f"{type(optimizer).__name__}.")
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    @property
    def base_lr(self) -> float:
        """The first group's starting rate."""
        return self.base_lrs[0]

    def _lr(self, base_lr: float) -> float:
        raise NotImplementedError

    def get_lr(self) -> list:
        """The rate of every group at the current step."""
        return [self._lr(b) for b in self.base_lrs]

    def _apply(self):
        lrs = self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = float(lr)
        self._last_lr = [float(lr) for lr in lrs]

    def step(self):
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The schedule's position and settings (everything but the optimizer), as PyTorch's."""
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "optimizer"})

    def load_state_dict(self, state_dict: dict):
        self.__dict__.update(copy.deepcopy(state_dict))


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (step // step_size)``."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = check_positive_int("StepLR", "step_size", step_size, "use e.g. step_size=30")
        self.gamma = check_real("StepLR", "gamma", gamma, "use e.g. gamma=0.1")
        super().__init__(optimizer)

    def _lr(self, base_lr):
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2``."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = check_positive_int("CosineAnnealingLR", "T_max", T_max,
                                        "use the number of steps of the run")
        self.eta_min = _nonneg("CosineAnnealingLR", "eta_min", eta_min, "use eta_min=0")
        super().__init__(optimizer)

    def _lr(self, base_lr):
        return self.eta_min + (base_lr - self.eta_min) * (
            1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2


class OneCycleLR(LRScheduler):
    """The one-cycle policy, PyTorch's formula: the learning rate rises from
    ``max_lr/div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps`` and
    then falls to ``max_lr/div_factor/final_div_factor``; each phase is a half cosine
    (``anneal_strategy="cos"``) or a straight line (``"linear"``). Phase boundaries are at
    steps ``pct_start*total_steps - 1`` and ``total_steps - 1``. ``max_lr`` is one number for
    every parameter group or a list with one per group.

    With ``cycle_momentum=True`` (PyTorch's default) the momentum moves the other way, between
    ``max_momentum`` and ``base_momentum``: SGD's ``momentum`` or Adam's ``beta1`` is set.
    """

    def __init__(self, optimizer, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
                 div_factor=25.0, final_div_factor=1e4, cycle_momentum=True,
                 base_momentum=0.85, max_momentum=0.95):
        fn = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{fn}: expected a cnnbook.optim optimizer, got "
                            f"{type(optimizer).__name__}.")
        self.total_steps = check_positive_int(fn, "total_steps", total_steps,
                                              "use epochs * steps_per_epoch")
        pct_start = check_real(fn, "pct_start", pct_start, "use pct_start=0.3")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"{fn}: pct_start is the fraction of steps spent warming up and must "
                             f"lie in [0, 1], got {pct_start!r}; use pct_start=0.3.")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{fn}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}.")
        n = len(optimizer.param_groups)
        if isinstance(max_lr, (list, tuple)):
            if len(max_lr) != n:
                raise ValueError(f"{fn}: max_lr has {len(max_lr)} values for {n} parameter "
                                 f"groups; give one per group or a single number.")
            max_lrs = [_nonneg(fn, "max_lr", v, "use e.g. max_lr=0.01") for v in max_lr]
        else:
            max_lrs = [_nonneg(fn, "max_lr", max_lr, "use e.g. max_lr=0.01")] * n
        div_factor = check_real(fn, "div_factor", div_factor, "use div_factor=25", positive=True)
        final_div_factor = check_real(fn, "final_div_factor", final_div_factor,
                                      "use final_div_factor=1e4", positive=True)
        self.anneal_strategy = anneal_strategy
        # per group, PyTorch's arithmetic: initial = max / div_factor, min = initial / final_div
        self._rates = [{"initial": m / div_factor, "max": m, "min": m / div_factor / final_div_factor}
                       for m in max_lrs]
        self.max_lr, self.initial_lr, self.min_lr = (self._rates[0][k] for k in ("max", "initial", "min"))
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum, self.max_momentum = float(base_momentum), float(max_momentum)
        # (end step, start rate, end rate, start momentum, end momentum)
        self._phases = [
            (float(pct_start * self.total_steps) - 1, "initial", "max",
             self.max_momentum, self.base_momentum),
            (self.total_steps - 1, "max", "min", self.base_momentum, self.max_momentum),
        ]
        self._use_beta1 = "betas" in optimizer.defaults
        super().__init__(optimizer)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _lr_momentum(self, rates):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {t} times, but total_steps={self.total_steps}; "
                             f"raise total_steps or stop stepping.")
        start = 0.0
        for i, (end, r0, r1, m0, m1) in enumerate(self._phases):
            if t <= end or i == len(self._phases) - 1:
                pct = (t - start) / (end - start)
                return self._anneal(rates[r0], rates[r1], pct), self._anneal(m0, m1, pct)
            start = end

    def get_lr(self):
        return [self._lr_momentum(r)[0] for r in self._rates]

    def _apply(self):
        lrs = []
        for g, rates in zip(self.optimizer.param_groups, self._rates):
            lr, mom = self._lr_momentum(rates)
            g["lr"] = lr
            lrs.append(lr)
            if self.cycle_momentum:
                if self._use_beta1:
                    g["betas"] = (mom, g["betas"][1])
                else:
                    g["momentum"] = mom
        self._last_lr = lrs
