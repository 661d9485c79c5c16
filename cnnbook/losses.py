"""Softmax, log-softmax and the losses: cross-entropy, binary cross-entropy with logits, MSE,
soft Dice.

Softmax and log-softmax subtract the maximum along ``dim`` first, so they are exact for logits as
large as ±1e4 (no ``exp`` overflow). The losses take PyTorch's ``reduction`` ("mean", the
default, "sum" or "none"); their backward takes the upstream gradient ``dout`` — a scalar for
"mean" and "sum" (1.0 in a training step: ``F.cross_entropy_backward(1.0, cache)``), an array of
the per-element losses' shape for "none" — and returns the gradient of the first argument.

References:
- J. Bridle, "Probabilistic Interpretation of Feedforward Classification Network Outputs",
  1990 (softmax).
- I. Goodfellow, Y. Bengio and A. Courville, Deep Learning, MIT Press 2016, §4.1 (the
  max-subtraction for softmax) and §6.2.2 (cross-entropy with softmax outputs).
- CS231n, "Linear classification" (softmax classifier and its numeric stability).
- PyTorch documentation: ``torch.nn.functional.softmax``, ``log_softmax``, ``cross_entropy``
  (``weight``, ``ignore_index``, ``label_smoothing``), ``nll_loss``,
  ``binary_cross_entropy_with_logits`` (``pos_weight``), ``mse_loss``, ``one_hot``.
- C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens and Z. Wojna, "Rethinking the Inception
  Architecture for Computer Vision", CVPR 2016, section 7 (label smoothing).
- F. Milletari, N. Navab and S.-A. Ahmadi, "V-Net: Fully Convolutional Neural Networks for
  Volumetric Medical Image Segmentation", 3DV 2016 (the Dice loss).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_float_array, check_axis, check_dout
from .activations import _stable_sigmoid

__all__ = [
    "softmax", "softmax_forward", "softmax_backward",
    "log_softmax", "log_softmax_forward", "log_softmax_backward",
    "cross_entropy", "cross_entropy_forward", "cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_forward",
    "binary_cross_entropy_with_logits_backward",
    "mse_loss", "mse_loss_forward", "mse_loss_backward",
    "one_hot",
    "dice_loss", "dice_loss_forward", "dice_loss_backward",
]


# ---------------------------------------------------------------------------------------------
# private checks

def _check_dim(fn: str, dim, x: np.ndarray) -> int:
    return check_axis(fn, "dim", dim, x, "use dim=-1 for the last axis (the classes of (N, C) logits)")


def _check_scalar_dout(fn: str, dout, dtype):
    d = as_float_array(fn, "dout", dout)
    if d.size != 1:
        raise ValueError(f"{fn}: a loss is a scalar, so dout must be a scalar, got shape "
                         f"{tuple(d.shape)}; use dout=1.0 to start backpropagation.")
    return d.reshape(()).astype(dtype)


def _check_same_shape(fn: str, a_name: str, a: np.ndarray, b_name: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {b_name} has shape {tuple(b.shape)} but {a_name} has shape "
                         f"{tuple(a.shape)}; they must be equal (no broadcasting) — one target "
                         f"per {a_name} element.")


def _check_reduction(fn: str, reduction) -> str:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got "
                         f"reduction={reduction!r}; use reduction='mean' as PyTorch.")
    return reduction


def _check_dout_for(fn: str, dout, reduction: str, shape: tuple, dtype):
    """The upstream gradient of a loss: a scalar for mean/sum, the per-element shape for none."""
    if reduction == "none":
        return check_dout(fn, dout, shape, dtype)
    return _check_scalar_dout(fn, dout, dtype)


def _reduce(loss: np.ndarray, reduction: str, dtype):
    if reduction == "none":
        return loss
    return dtype.type(loss.sum() if reduction == "sum" else loss.mean())


def _mean_count(fn: str, n: int) -> int:
    if n == 0:
        raise ValueError(f"{fn}: the input is empty, so the mean is undefined; pass at least one "
                         f"example.")
    return n


# ---------------------------------------------------------------------------------------------
# softmax and log-softmax

class SoftmaxCache(NamedTuple):
    out: np.ndarray        # the probabilities: the Jacobian is diag(p) - p p^T
    dim: int


def softmax_forward(x, dim=-1):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed as ``exp(x - max)``. Shape: unchanged."""
    x = as_float_array("softmax", "x", x)
    dim = _check_dim("softmax", dim, x)
    if x.ndim == 0:
        x = x.reshape(1)
    e = np.exp(x - x.max(axis=dim, keepdims=True))            # largest term is exp(0) = 1
    out = e / e.sum(axis=dim, keepdims=True)
    return out, SoftmaxCache(out, dim)


def softmax_backward(dout, cache: SoftmaxCache):
    """dx = p * (dout - sum(dout * p)) along dim."""
    p, dim = cache
    dout = check_dout("softmax_backward", dout, p.shape, p.dtype)
    return p * (dout - np.sum(dout * p, axis=dim, keepdims=True))


def softmax(x, dim=-1):
    """Softmax along ``dim``: non-negative values that sum to 1."""
    return softmax_forward(x, dim)[0]


class LogSoftmaxCache(NamedTuple):
    out: np.ndarray        # log-probabilities
    dim: int


def log_softmax_forward(x, dim=-1):
    """``x - max - log(sum(exp(x - max)))`` along ``dim``. Shape: unchanged."""
    x = as_float_array("log_softmax", "x", x)
    dim = _check_dim("log_softmax", dim, x)
    if x.ndim == 0:
        x = x.reshape(1)
    shifted = x - x.max(axis=dim, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
    return out, LogSoftmaxCache(out, dim)


def log_softmax_backward(dout, cache: LogSoftmaxCache):
    """dx = dout - softmax(x) * sum(dout) along dim."""
    out, dim = cache
    dout = check_dout("log_softmax_backward", dout, out.shape, out.dtype)
    return dout - np.exp(out) * np.sum(dout, axis=dim, keepdims=True)


def log_softmax(x, dim=-1):
    """Logarithm of softmax, computed without forming the (possibly underflowing) softmax."""
    return log_softmax_forward(x, dim)[0]


# ---------------------------------------------------------------------------------------------
# one-hot encoding

def one_hot(y, num_classes=-1):
    """``out[..., c] = 1`` where ``y == c``, else 0, as int64 (PyTorch's ``F.one_hot``).

    ``num_classes=-1`` takes ``y.max() + 1``. There is no gradient: class indices are not
    differentiable.

    Shape:
        y ``(*)`` integer class indices in ``[0, num_classes)``; out ``(*, num_classes)`` int64.

    >>> one_hot(np.array([0, 2])).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    fn = "one_hot"
    if type(y).__module__.startswith("torch"):
        raise TypeError(f"{fn}: y is a torch.Tensor; pass y.detach().cpu().numpy().")
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{fn}: y must hold integer class indices, got dtype {y.dtype}; use "
                        f"y.astype(np.int64).")
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{fn}: num_classes must be an integer, got num_classes={num_classes!r}; "
                        f"use -1 to take y.max() + 1.")
    if y.size and y.min() < 0:
        raise ValueError(f"{fn}: class values must be >= 0, found {int(y.min())}; one_hot encodes "
                         f"indices 0 .. num_classes - 1.")
    if num_classes == -1:
        if y.size == 0:
            raise ValueError(f"{fn}: cannot infer the number of classes from an empty y; pass "
                             f"num_classes.")
        num_classes = int(y.max()) + 1
    elif num_classes < 1:
        raise ValueError(f"{fn}: num_classes must be >= 1 or -1 (infer), got "
                         f"num_classes={num_classes}.")
    elif y.size and y.max() >= num_classes:
        raise ValueError(f"{fn}: class value {int(y.max())} is out of range for "
                         f"num_classes={num_classes}; use num_classes >= {int(y.max()) + 1} or -1.")
    return (y[..., None] == np.arange(int(num_classes))).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# cross-entropy

class CrossEntropyCache(NamedTuple):
    log_probs: np.ndarray  # (M, C) log-softmax of the logits, class axis last (M = N * d1 * ...)
    target: np.ndarray     # (M,) int64 class indices (ignored positions as given)
    shape: tuple = ()      # the logits' shape, (N, C) or (N, C, d1, ...)
    weight: np.ndarray | None = None   # (C,) class weights, None means 1
    valid: np.ndarray | None = None    # (M,) bool: target != ignore_index
    reduction: str = "mean"
    label_smoothing: float = 0.0
    denom: float = 1.0     # mean: sum of the weights of the valid targets; else 1


def _check_class_targets(fn: str, target, shape: tuple, num_classes: int,
                         ignore_index: int) -> np.ndarray:
    """Integer class indices of `shape` with values in [0, C) or equal to ignore_index."""
    if type(target).__module__.startswith("torch"):
        raise TypeError(f"{fn}: target is a torch.Tensor; pass target.detach().cpu().numpy().")
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        if np.issubdtype(t.dtype, np.floating) and t.size and np.all(np.mod(t, 1) == 0):
            raise TypeError(f"{fn}: class targets must be integers, got dtype {t.dtype}; "
                            f"use target.astype(np.int64).")
        raise TypeError(f"{fn}: class targets must be integer class indices, got dtype {t.dtype}; "
                        f"for one-hot or probability targets use argmax(axis=1) first.")
    if t.shape != tuple(shape):
        what = "one class index per row of the logits" if len(shape) == 1 else \
            "the logits' shape without the class axis 1"
        raise ValueError(f"{fn}: target must have shape {tuple(shape)} — {what} — got shape "
                         f"{tuple(t.shape)}.")
    bad = (t != ignore_index) & ((t < 0) | (t >= num_classes))
    if bad.any():
        v = int(t[bad].flat[0])
        raise ValueError(f"{fn}: target value {v} is out of range for {num_classes} classes; "
                         f"targets must lie in [0, {num_classes - 1}] or equal "
                         f"ignore_index={ignore_index}.")
    return t.astype(np.int64, copy=False)


def cross_entropy_forward(logits, target, weight=None, ignore_index=-100, reduction="mean",
                          label_smoothing=0.0):
    """``-log softmax(logits)[n, target[n]]`` per example (or per pixel), reduced as PyTorch's
    ``F.cross_entropy``.

    With ``w = weight`` (ones if None), ``eps = label_smoothing`` and ``lp`` the log-softmax
    over the class axis 1, each position not equal to ``ignore_index`` costs
    ``(1 - eps) * (-w[t] * lp[t]) + eps / C * (-sum_c w[c] * lp[c])`` (ignored ones cost 0).
    ``reduction="mean"`` divides the sum by the sum of ``w[t]`` over the non-ignored targets
    (their count without weights; nan when every target is ignored, as PyTorch), "sum" adds,
    "none" keeps one loss per position. Returns ``(loss, cache)``.

    Shape:
        logits ``(N, C)`` or ``(N, C, d1, ...)`` (e.g. ``(N, C, H, W)`` per-pixel scores);
        target ``(N,)`` or ``(N, d1, ...)`` integer class indices in ``[0, C)`` or
        ``ignore_index``; weight ``(C,)``; loss a scalar, or ``target``'s shape for
        ``reduction="none"``.

    >>> loss, cache = cross_entropy_forward(np.zeros((2, 4)), np.array([1, 3]))
    >>> round(float(loss), 4), round(float(np.log(4)), 4)
    (1.3863, 1.3863)
    >>> cross_entropy_forward(np.zeros((1, 3, 1, 2)), np.array([[[0, -100]]]),
    ...                       reduction="none")[0].round(4).tolist()
    [[[1.0986, 0.0]]]
    """
    fn = "cross_entropy"
    logits = as_float_array(fn, "logits", logits)
    if logits.ndim < 2:
        raise ValueError(f"{fn}: logits must be 2-D (N, C), or (N, C, d1, ...) with a class score "
                         f"per position, got {logits.ndim}-D with shape {tuple(logits.shape)}; "
                         f"for a single example add a batch axis: logits[None].")
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{fn}: ignore_index must be an integer, got ignore_index={ignore_index!r}; "
                        f"use -100 as PyTorch.")
    reduction = _check_reduction(fn, reduction)
    if isinstance(label_smoothing, (bool, np.bool_)) or \
            not isinstance(label_smoothing, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: label_smoothing must be a number in [0, 1], got "
                        f"label_smoothing={label_smoothing!r}; use 0.0 for none or e.g. 0.1.")
    label_smoothing = float(label_smoothing)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{fn}: label_smoothing must be a number in [0, 1], got "
                         f"label_smoothing={label_smoothing!r}; use 0.0 for none or e.g. 0.1.")
    N, C = logits.shape[:2]
    target = _check_class_targets(fn, target, (N,) + logits.shape[2:], C, int(ignore_index))
    if weight is not None:
        weight = as_float_array(fn, "weight", weight)
        if weight.shape != (C,):
            raise ValueError(f"{fn}: weight must have shape ({C},) — one weight per class — got "
                             f"shape {tuple(weight.shape)}; pass {C} weights or None.")
        weight = weight.astype(logits.dtype, copy=False)
    if reduction == "mean":
        _mean_count(fn, target.size)
    z = np.moveaxis(logits, 1, -1).reshape(-1, C)             # (M, C), class axis last
    t = target.reshape(-1)                                    # (M,)
    log_probs, _ = log_softmax_forward(z, dim=1)
    valid = t != ignore_index
    t_safe = np.where(valid, t, 0)                            # any class: masked below
    rows = np.arange(t.size)
    w_t = valid.astype(z.dtype) if weight is None else np.where(valid, weight[t_safe], 0)
    loss = -w_t * log_probs[rows, t_safe]                     # (M,) the likelihood term
    if label_smoothing:
        smooth = -(log_probs.sum(axis=1) if weight is None else log_probs @ weight)
        loss = (1 - label_smoothing) * loss + (label_smoothing / C) * np.where(valid, smooth, 0)
    loss = loss.astype(z.dtype, copy=False)
    denom = 1.0
    if reduction == "mean":
        denom = float(w_t.sum())
        # no weight on any target (all ignored, or zero weights): 0/0, nan as PyTorch
        out = z.dtype.type(loss.sum() / z.dtype.type(denom)) if denom else z.dtype.type(np.nan)
    elif reduction == "sum":
        out = z.dtype.type(loss.sum())
    else:
        out = loss.reshape(target.shape)
    cache = CrossEntropyCache(log_probs, t, logits.shape, weight, valid, reduction,
                              float(label_smoothing), denom)
    return out, cache


def cross_entropy_backward(dout, cache: CrossEntropyCache):
    """dlogits = g * (softmax * sum(q) - q) per position, where
    ``q = (1 - eps) * w[t] * onehot(t) + eps / C * w`` (zero at ignored positions) and ``g`` is
    ``dout / denom`` (mean), ``dout`` (sum) or ``dout[n]`` (none). Without weight, smoothing or
    ignored targets this is the familiar ``(softmax - onehot) * dout / N``."""
    log_probs, t, shape, weight, valid, reduction, eps, denom = cache
    M, C = log_probs.shape
    if valid is None:                                         # a cache built field by field
        valid = np.ones(M, bool)
    dtype = log_probs.dtype
    dout = _check_dout_for("cross_entropy_backward", dout, reduction,
                           (shape[0],) + tuple(shape[2:]) if shape else (M,), dtype)
    rows = np.arange(M)
    t_safe = np.where(valid, t, 0)
    w_t = valid.astype(dtype) if weight is None else np.where(valid, weight[t_safe], 0)
    q = np.zeros((M, C), dtype)                               # -dloss/dlog_probs
    q[rows, t_safe] = (1 - eps) * w_t
    if eps:
        q += (eps / C) * (np.ones(C, dtype) if weight is None else weight) * valid[:, None]
    if reduction == "none":
        g = dout.reshape(M, 1)
    elif reduction == "sum":
        g = dout
    elif denom:
        g = dout / dtype.type(denom)
    else:                      # as PyTorch: nan on the rows of zero-weight targets, 0 if ignored
        g = np.where(valid, np.nan, 0).astype(dtype)[:, None] * dout
    dz = (np.exp(log_probs) * q.sum(axis=1, keepdims=True) - q) * g
    dz = dz.astype(dtype, copy=False)
    if not shape or len(shape) == 2:
        return dz
    N, spatial = shape[0], tuple(shape[2:])
    return np.ascontiguousarray(np.moveaxis(dz.reshape((N,) + spatial + (C,)), -1, 1))  # (N, C, ...)


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between softmax(logits) and integer class targets (PyTorch's
    ``F.cross_entropy``, class-index targets); returns only the loss.

    Shape:
        logits ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N,)`` or ``(N, d1, ...)``.

    >>> round(float(cross_entropy(np.array([[0.0, 0.0]]), np.array([1]), label_smoothing=0.2)), 4)
    0.6931
    """
    return cross_entropy_forward(logits, target, weight, ignore_index, reduction,
                                 label_smoothing)[0]


# ---------------------------------------------------------------------------------------------
# binary cross-entropy with logits

class BCEWithLogitsCache(NamedTuple):
    logits: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None = None        # broadcast to logits' shape, None means 1
    pos_weight: np.ndarray | None = None    # broadcast to logits' shape, None means 1
    reduction: str = "mean"


def _check_broadcast(fn: str, name: str, v, shape: tuple, dtype, hint: str):
    if v is None:
        return None
    v = as_float_array(fn, name, v)
    try:
        ok = np.broadcast_shapes(v.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{fn}: {name} of shape {tuple(v.shape)} does not broadcast to the "
                         f"logits' shape {tuple(shape)}; {hint}.")
    return np.broadcast_to(v.astype(dtype, copy=False), shape)


def binary_cross_entropy_with_logits_forward(logits, target, weight=None, reduction="mean",
                                             pos_weight=None):
    """``-w * [p * t * log sigmoid(z) + (1 - t) * log(1 - sigmoid(z))]`` per element, reduced.

    Computed as ``w * ((1 - t) z + (1 + (p - 1) t) * softplus(-z))`` with
    ``softplus(-z) = max(-z, 0) + log1p(exp(-|z|))``, which never overflows (PyTorch's form).
    ``weight`` rescales each element, ``pos_weight`` the positive term (e.g. one value per
    class, along the last axis, ``negatives / positives`` to balance rare positives).

    Shape:
        logits ``(*)``; target the same shape with values in ``[0, 1]``; weight, pos_weight
        broadcastable to ``(*)`` (pos_weight typically ``(C,)`` for ``(N, C)`` logits); loss a
        scalar, or ``(*)`` for ``reduction="none"``.

    >>> loss, cache = binary_cross_entropy_with_logits_forward(np.zeros(2), np.array([0.0, 1.0]))
    >>> round(float(loss), 4)
    0.6931
    """
    fn = "binary_cross_entropy_with_logits"
    logits = as_float_array(fn, "logits", logits)
    target = as_float_array(fn, "target", target).astype(logits.dtype, copy=False)
    _check_same_shape(fn, "logits", logits, "target", target)
    reduction = _check_reduction(fn, reduction)
    if reduction == "mean":
        _mean_count(fn, logits.size)
    if np.any(~np.isfinite(target)) or np.any(target < 0) or np.any(target > 1):
        bad = target[~((target >= 0) & (target <= 1))].flat[0]
        raise ValueError(f"{fn}: targets must be probabilities in [0, 1], found {bad}; for class "
                         f"indices over several classes use cross_entropy instead.")
    weight = _check_broadcast(fn, "weight", weight, logits.shape, logits.dtype,
                              "use one weight per element, or a shape that broadcasts")
    pos_weight = _check_broadcast(fn, "pos_weight", pos_weight, logits.shape, logits.dtype,
                                  "use one value per class along the last axis")
    sp = np.maximum(-logits, 0) + np.log1p(np.exp(-np.abs(logits)))     # softplus(-z)
    if pos_weight is None:
        loss = (1 - target) * logits + sp
    else:
        loss = (1 - target) * logits + (1 + (pos_weight - 1) * target) * sp
    if weight is not None:
        loss = loss * weight
    out = _reduce(loss.astype(logits.dtype, copy=False), reduction, logits.dtype)
    return out, BCEWithLogitsCache(logits, target, weight, pos_weight, reduction)


def binary_cross_entropy_with_logits_backward(dout, cache: BCEWithLogitsCache):
    """dlogits = g * w * ((1 + (p - 1) t) * sigmoid(z) - p * t), which is
    ``g * (sigmoid(z) - t)`` without weights; ``g`` is ``dout / numel`` (mean), ``dout`` (sum)
    or ``dout`` elementwise (none)."""
    z, t, weight, pos_weight, reduction = cache
    dout = _check_dout_for("binary_cross_entropy_with_logits_backward", dout, reduction, z.shape,
                           z.dtype)
    s = _stable_sigmoid(z)
    d = s - t if pos_weight is None else (1 + (pos_weight - 1) * t) * s - pos_weight * t
    if weight is not None:
        d = d * weight
    g = dout / z.size if reduction == "mean" else dout
    return (d * g).astype(z.dtype, copy=False)


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross-entropy on raw scores (sigmoid folded in); returns only the loss.

    Shape:
        logits ``(*)``; target ``(*)``.

    >>> round(float(binary_cross_entropy_with_logits(np.array([0.0]), np.array([1.0]),
    ...                                              pos_weight=np.array([3.0]))), 4)
    2.0794
    """
    return binary_cross_entropy_with_logits_forward(logits, target, weight, reduction,
                                                    pos_weight)[0]


# ---------------------------------------------------------------------------------------------
# mean squared error

class MSECache(NamedTuple):
    diff: np.ndarray       # input - target
    reduction: str = "mean"


def mse_loss_forward(input, target, reduction="mean"):
    """``(input - target)**2`` per element, reduced by ``reduction``. Shapes must be equal.

    Shape:
        input ``(*)``; target ``(*)``, the same shape; loss a scalar, or ``(*)`` for
        ``reduction="none"``.

    >>> loss, cache = mse_loss_forward(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    >>> float(loss)
    2.0
    """
    input = as_float_array("mse_loss", "input", input)
    target = as_float_array("mse_loss", "target", target).astype(input.dtype, copy=False)
    _check_same_shape("mse_loss", "input", input, "target", target)
    reduction = _check_reduction("mse_loss", reduction)
    if reduction == "mean":
        _mean_count("mse_loss", input.size)
    diff = input - target
    return _reduce(diff * diff, reduction, input.dtype), MSECache(diff, reduction)


def mse_loss_backward(dout, cache: MSECache):
    """dinput = 2 * (input - target) * g, with ``g`` = ``dout / numel`` (mean), ``dout`` (sum) or
    ``dout`` elementwise (none)."""
    diff, reduction = cache
    dout = _check_dout_for("mse_loss_backward", dout, reduction, diff.shape, diff.dtype)
    g = dout / diff.dtype.type(diff.size) if reduction == "mean" else dout
    return (2 * diff * g).astype(diff.dtype, copy=False)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (or its sum, or per element); returns only the loss.

    Shape:
        input ``(*)``; target ``(*)``.

    >>> float(mse_loss(np.array([0.0, 3.0]), np.array([1.0, 1.0]), reduction="sum"))
    5.0
    """
    return mse_loss_forward(input, target, reduction)[0]


# ---------------------------------------------------------------------------------------------
# soft Dice (segmentation)

class DiceCache(NamedTuple):
    probs: np.ndarray      # (N, C, S) softmax over the classes, S = d1 * d2 * ... positions
    onehot: np.ndarray     # (N, C, S) the targets one-hot, zero at ignored positions
    valid: np.ndarray      # (N, 1, S) 1.0 where target != ignore_index
    dice: np.ndarray       # (N, C) the soft Dice coefficients
    denom: np.ndarray      # (N, C) sum(p) + sum(g) + eps over the valid positions
    shape: tuple           # the logits' shape
    reduction: str


def dice_loss_forward(logits, target, eps=1.0, ignore_index=-100, reduction="mean"):
    """Soft Dice loss (Milletari et al. 2016, in the form of most segmentation code) of
    per-position class scores: ``p = softmax(logits)`` over the class axis 1, ``g`` the one-hot
    targets, and per image n and class c, over the positions not equal to ``ignore_index``,

        ``dice[n, c] = (2 * sum(p * g) + eps) / (sum(p) + sum(g) + eps)``,  loss ``1 - dice``.

    ``eps`` (the smoothing, default 1.0) keeps the ratio defined for a class absent from an
    image and its prediction (then dice -> 1, loss -> 0: nothing to find, nothing found) and
    softens the gradient of small objects; 0 gives the unsmoothed ratio (nan for such a class).
    Each class counts as much as any other whatever its area, which is the point of Dice on
    an imbalanced background. ``reduction``: "mean" over n and c (the default), "sum", or
    "none" for the ``(N, C)`` losses. Returns ``(loss, cache)``.

    Shape:
        logits ``(N, C, d1, ...)``, e.g. ``(N, C, H, W)``; target ``(N, d1, ...)`` integer
        class indices in ``[0, C)`` or ``ignore_index``; loss a scalar or ``(N, C)``.

    >>> z = np.full((1, 2, 1, 2), -50.0); z[0, 0, 0, 0] = z[0, 1, 0, 1] = 50.0
    >>> float(dice_loss_forward(z, np.array([[[0, 1]]]))[0])     # a perfect prediction
    0.0
    """
    fn = "dice_loss"
    logits = as_float_array(fn, "logits", logits)
    if logits.ndim < 3:
        raise ValueError(f"{fn}: logits must be (N, C, d1, ...) with a class score per "
                         f"position, got shape {tuple(logits.shape)}; for (N, C) scores of whole "
                         f"images use cross_entropy.")
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{fn}: ignore_index must be an integer, got ignore_index={ignore_index!r}; "
                        f"use -100 as PyTorch's cross_entropy.")
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer, np.floating)) \
            or not eps >= 0:
        raise ValueError(f"{fn}: eps must be a number >= 0, got eps={eps!r}; use eps=1.0 (the "
                         f"usual smoothing) or 0 for none.")
    reduction = _check_reduction(fn, reduction)
    N, C = logits.shape[:2]
    target = _check_class_targets(fn, target, (N,) + logits.shape[2:], C, int(ignore_index))
    dt = logits.dtype
    z = logits.reshape(N, C, -1)                                          # (N, C, S)
    t = target.reshape(N, 1, -1)                                          # (N, 1, S)
    valid = (t != ignore_index).astype(dt)
    p = softmax_forward(z, dim=1)[0]
    g = (t == np.arange(C).reshape(1, C, 1)).astype(dt) * valid           # (N, C, S)
    inter = (p * g).sum(axis=2)                                           # (N, C)
    denom = (p * valid).sum(axis=2) + g.sum(axis=2) + dt.type(eps)
    dice = (2 * inter + dt.type(eps)) / denom
    loss = _reduce((1 - dice).astype(dt, copy=False), reduction, dt)
    return loss, DiceCache(p, g, valid, dice, denom, logits.shape, reduction)


def dice_loss_backward(dout, cache: DiceCache):
    """``d dice / d p = valid * (2 g - dice) / denom`` per position; the loss is ``1 - dice``,
    weighted by the upstream gradient ``w[n, c]`` (``dout / (N C)`` for "mean"); then back
    through the softmax: ``dz = p * (dp - sum_c dp * p)``."""
    p, g, valid, dice, denom, shape, reduction = cache
    N, C = shape[:2]
    dt = p.dtype
    dout = _check_dout_for("dice_loss_backward", dout, reduction, (N, C), dt)
    w = dout / dt.type(N * C) if reduction == "mean" else dout
    w = np.broadcast_to(w, (N, C))
    dp = -(w / denom)[:, :, None] * valid * (2 * g - dice[:, :, None])   # (N, C, S)
    dz = p * (dp - (dp * p).sum(axis=1, keepdims=True))
    return dz.astype(dt, copy=False).reshape(shape)


def dice_loss(logits, target, eps=1.0, ignore_index=-100, reduction="mean"):
    """The soft Dice loss of :func:`dice_loss_forward`, the loss only.

    >>> round(float(dice_loss(np.zeros((1, 2, 1, 2)), np.array([[[0, 1]]]))), 4)   # p = 1/2
    0.3333
    """
    return dice_loss_forward(logits, target, eps, ignore_index, reduction)[0]
