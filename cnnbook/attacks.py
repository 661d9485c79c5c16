"""Adversarial examples under an L-infinity budget: FGSM and PGD.

An attack moves every pixel of an image by at most ``eps`` (the L-infinity ball around it) in
the direction that raises the model's cross-entropy loss for the true label, and keeps the
pixels in [0, 1]. ``fgsm`` takes one step of size ``eps`` along the sign of the input gradient
(Goodfellow et al. 2015); ``pgd`` starts at a random point of the ball and takes ``steps`` steps
of size ``alpha``, projecting back onto the ball and into [0, 1] after each (Madry et al. 2018).

The input gradient comes from the library's own backward pass (``model.backward`` returns it).
The model runs in the mode it is in: call ``model.eval()`` first, as with PyTorch — in training
mode batch normalization uses the statistics of the batch being attacked and updates its running
averages at every step, and dropout draws new masks. Every parameter's ``.grad`` and every
module's last forward cache come back unchanged (``cnnbook.explain.untouched``); the inputs are
never modified.

Taught in the chapter *What the network looks at, and how easily it is fooled*
(``book/explain_and_attack.ipynb``).

References: I. J. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial
Examples", ICLR 2015; A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep
Learning Models Resistant to Adversarial Attacks", ICLR 2018.
"""
from __future__ import annotations

import numpy as np

from . import losses as _losses
from ._checks import check_int, check_real, check_targets, make_rng
from .explain import _check_images, _check_model, untouched

__all__ = ["fgsm", "pgd", "input_gradient"]


def _check_pixels(fn: str, x) -> np.ndarray:
    x = _check_images(fn, x)
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 1:
        raise ValueError(f"{fn}: x must hold pixels in [0, 1], got values from {lo:g} to {hi:g}; "
                         f"scale the images first (uint8 pixels: x.astype(np.float32) / 255), "
                         f"and attack before any normalization (put it inside the model).")
    return x


def _check_eps(fn: str, name: str, v, positive=False) -> float:
    fix = f"use e.g. {name}=8/255 (a budget in pixel units of [0, 1])"
    v = check_real(fn, name, v, fix)
    if v < 0 or (positive and v == 0):
        raise ValueError(f"{fn}: {name}={v} must be {'> 0' if positive else '>= 0'}; {fix}.")
    return v


def _labels(fn: str, y, logits: np.ndarray) -> np.ndarray:
    return check_targets(fn, y, logits.shape[0], logits.shape[1])


def input_gradient(model, x, y):
    """``(loss, dx)``: the mean cross-entropy of ``model(x)`` against the labels ``y`` and its
    gradient with respect to ``x`` (same shape and dtype), by one forward and one backward pass.
    The model's mode, ``.grad`` arrays and caches are left as they were."""
    fn = "input_gradient"
    model = _check_model(fn, model)
    x = _check_images(fn, x)
    return _loss_and_dx(fn, model, x, y)


def _loss_and_dx(fn, model, x, y):
    with untouched(model):
        logits = model(x)
        if np.ndim(logits) != 2:
            raise ValueError(f"{fn}: the model outputs shape {tuple(np.shape(logits))}; an attack "
                             f"needs class scores (N, num_classes).")
        loss, cache = _losses.cross_entropy_forward(logits, _labels(fn, y, logits))
        dx = model.backward(_losses.cross_entropy_backward(1.0, cache))
    return float(loss), dx


def fgsm(model, x, y, eps):
    """The fast gradient sign method: ``clip(x + eps * sign(dL/dx), 0, 1)``, with ``L`` the mean
    cross-entropy of ``model(x)`` against the true labels ``y`` (one backward pass).

    ``x``: float32/float64 images ``(N, C, H, W)`` in [0, 1]; ``y``: ``(N,)`` class indices;
    ``eps >= 0`` in pixel units (``8/255``: eight grey levels). Returns a new array of ``x``'s
    shape and dtype; ``x`` is not modified. A pixel whose gradient is exactly zero does not
    move (``sign(0) = 0``, as ``torch.sign``).

    >>> import cnnbook as cb
    >>> net = cb.nn.Sequential(cb.nn.Flatten(), cb.nn.Linear(4, 3, rng=0))
    >>> x = np.full((1, 1, 2, 2), 0.5)
    >>> np.abs(fgsm(net, x, np.array([0]), 0.1) - x).round(12).tolist()
    [[[[0.1, 0.1], [0.1, 0.1]]]]
    """
    fn = "fgsm"
    model = _check_model(fn, model)
    x = _check_pixels(fn, x)
    eps = _check_eps(fn, "eps", eps)
    _, dx = _loss_and_dx(fn, model, x, y)
    return np.clip(x + eps * np.sign(dx), 0, 1).astype(x.dtype, copy=False)


def pgd(model, x, y, eps, alpha, steps, rng=None, random_start=True):
    """Projected gradient descent on the loss (ascent, for the attacker), L-infinity.

    With ``random_start`` the attack starts at ``clip(x + u, 0, 1)``, where
    ``u = rng.uniform(-eps, eps, x.shape)`` (cast to ``x``'s dtype); then ``steps`` times:
    ``x_adv += alpha * sign(dL/dx_adv)``, projected onto the ball
    ``clip(x_adv, x - eps, x + eps)`` and into ``clip(x_adv, 0, 1)``. ``L`` is the mean
    cross-entropy against the true labels ``y``. A common choice of step is
    ``alpha = 2.5 * eps / steps``, which lets the attack cross the ball from any start.

    ``rng``: a ``numpy.random.Generator``, an int seed, or None for the library's generator
    (``cb.manual_seed``). Returns a new array of ``x``'s shape and dtype; ``x`` is not modified.
    """
    fn = "pgd"
    model = _check_model(fn, model)
    x = _check_pixels(fn, x)
    eps = _check_eps(fn, "eps", eps)
    alpha = _check_eps(fn, "alpha", alpha, positive=True)
    steps = check_int(fn, "steps", steps, 1, "use e.g. steps=10")
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"{fn}: random_start must be True or False, got {random_start!r}.")
    lo, hi = x - eps, x + eps
    if random_start:
        u = make_rng(fn, rng).uniform(-eps, eps, x.shape).astype(x.dtype)
        x_adv = np.clip(x + u, 0, 1)
    else:
        x_adv = x.copy()
    for _ in range(steps):
        _, dx = _loss_and_dx(fn, model, x_adv, y)
        x_adv = x_adv + alpha * np.sign(dx)
        # onto the eps-ball, then into [0, 1]
        x_adv = np.clip(np.clip(x_adv, lo, hi), 0, 1)
    return x_adv.astype(x.dtype, copy=False)
