"""A small training loop: seeded mini-batches, one optimizer step per batch, one progress line.

``fit`` is the loop every chapter would otherwise write by hand::

    for each epoch:  shuffle the indices with a seeded generator
        for each mini-batch:  logits = model(xb); loss, c = loss_forward(logits, yb)
                              model.backward(loss_backward(1.0, c), input_grad=False)
                              opt.step(); opt.zero_grad()
                              scheduler.step()

It records the loss, the batch accuracy and the learning rate of every step, and (if a
validation set is given) the validation loss and accuracy after every epoch. ``evaluate`` and
``predict_proba`` run the model in eval mode in chunks, so that 10,000 test images never build
one huge im2col matrix.

Two losses are built in: ``"cross_entropy"`` (softmax + negative log-likelihood, the modern
choice) and ``"mse"``: the squared error between the softmax probabilities and the one-hot
target, the "total error" of early networks (Rumelhart, Hinton & Williams 1986). ``loss=`` also
takes a loss module (``value = crit(logits, y)``, then ``dlogits = crit.backward(1.0)``) or a
function ``(logits, y) -> (loss, dlogits)``.

At the edges: images must be float32 or float64 (uint8 pixels are refused with the cast to use),
labels class indices for the built-in losses; an empty set is refused; a loss that turns NaN or
infinite stops ``fit`` at that step, before the weights take it, with the epoch, the step and
what to change; ``evaluate`` refuses a model whose outputs are not finite.

Calling ``fit`` again on the same model with the same integer ``seed`` continues the shuffling
where the last call stopped: two calls of one epoch see the batches one call of two epochs sees
(with the same optimizer, scheduler and augmentation objects, they end with the same weights).

References:
- PyTorch ``torch.utils.data.DataLoader`` (``shuffle=True``, ``drop_last=False``: the last
  batch of an epoch may be smaller), and the training loop of its tutorials.
- Smith & Topin, "Super-convergence", 2018 (the one-cycle schedule stepped once per batch).
"""
from __future__ import annotations

import math
import sys
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from . import functional as F
from ._checks import check_ndim, check_positive_int, check_targets, float_input, is_static, make_rng

__all__ = ["History", "progress", "batch_indices", "loss_and_grad", "train_step", "fit", "evaluate",
           "forward_only", "predict_proba", "LOSSES"]

LOSSES = ("cross_entropy", "mse")


class _Loss(NamedTuple):
    """A loss as the loop uses it: ``grad(logits, y) -> (value, dlogits)``, ``value(logits, y)``
    (forward only), and whether ``y`` holds class indices (then accuracy is defined)."""
    grad: Callable
    value: Callable
    classes: bool


def _check_loss(fn: str, loss) -> _Loss:
    """`loss` as a :class:`_Loss`: a built-in name, a loss module (``crit(logits, y)`` then
    ``crit.backward(1.0)``) or a function ``(logits, y) -> (loss, dlogits)``."""
    if isinstance(loss, _Loss):
        return loss
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"{fn}: loss must be one of {LOSSES}, a loss module or a function "
                             f"(logits, y) -> (loss, dlogits), got loss={loss!r}; use "
                             f"loss='cross_entropy'.")
        return _Loss(lambda z, y: _builtin_loss_and_grad(z, y, loss),
                     lambda z, y: _loss_value(z, y, loss), True)
    if callable(loss) and callable(getattr(loss, "backward", None)):      # a loss module
        def grad(z, y):
            value = loss(z, y)
            return value, _check_dlogits(fn, loss.backward(1.0), z)
        return _Loss(grad, lambda z, y: loss(z, y), False)
    if callable(loss):
        def grad(z, y):
            out = loss(z, y)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(f"{fn}: a loss function must return (loss, dlogits), got "
                                f"{type(out).__name__}; for a loss module pass the module itself "
                                f"(it has .backward).")
            return out[0], _check_dlogits(fn, out[1], z)
        return _Loss(grad, lambda z, y: loss(z, y)[0], False)
    raise TypeError(f"{fn}: loss must be one of {LOSSES}, a loss module or a function "
                    f"(logits, y) -> (loss, dlogits), got {type(loss).__name__}; use "
                    f"loss='cross_entropy'.")


def _check_dlogits(fn: str, d, logits) -> np.ndarray:
    d = np.asarray(d)
    if d.shape != np.shape(logits):
        raise ValueError(f"{fn}: the loss's gradient has shape {d.shape}, the model's output "
                         f"{np.shape(logits)}; the gradient of the loss with respect to the "
                         f"logits has the logits' shape.")
    return d


def _check_labels(fn: str, y, n: int, classes: bool) -> np.ndarray:
    """`y` for `n` examples: class indices (integers >= 0) when `classes`, else any numbers."""
    y_arr = np.asarray(y)
    if y_arr.dtype.kind in "USO":
        raise TypeError(f"{fn}: y holds {'strings' if y_arr.dtype.kind in 'US' else 'objects'} "
                        f"(dtype {y_arr.dtype}); labels must be integer class indices: "
                        f"classes, y = np.unique(y, return_inverse=True) maps the names to "
                        f"0..K-1 (classes[k] names class k).")
    if classes:
        if y_arr.dtype.kind == "i" and y_arr.size and y_arr.min() < 0:
            raise ValueError(f"{fn}: y holds the label {int(y_arr.min())}; class indices start at "
                             f"0 (label k means class k).")
        return check_targets(fn, y_arr, n, sys.maxsize)     # the range is checked per batch
    if y_arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: y must hold real numbers, got dtype {y_arr.dtype}; convert it "
                        f"with y.astype(np.float32).")
    if y_arr.ndim < 1 or y_arr.shape[0] != n:
        raise ValueError(f"{fn}: y must hold one target per example ({n}), got shape "
                         f"{y_arr.shape}.")
    return y_arr


def _check_images(fn: str, x) -> np.ndarray:
    x = float_input(fn, "x", x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W): a batch of images")
    if x.shape[0] == 0:
        raise ValueError(f"{fn}: x holds no examples (shape {tuple(x.shape)}); pass at least one "
                         f"image (check the slice or the filter that built x).")
    return x


def _check_model(fn: str, model):
    if type(model).__module__.startswith("torch"):
        raise TypeError(f"{fn}: model is a torch {type(model).__name__}; {fn} runs cnnbook.nn "
                        f"models on NumPy arrays. Train a torch model with a torch loop, or "
                        f"build the model with cnnbook.nn.")
    if not callable(model):
        raise TypeError(f"{fn}: model must be a cnnbook.nn Module, got {type(model).__name__}.")


def _check_optimizer(fn: str, optimizer):
    name = type(optimizer).__name__
    if type(optimizer).__module__.startswith("torch"):
        ours = name if name in ("SGD", "Adam", "AdamW", "RMSprop") else "SGD"
        raise TypeError(f"{fn}: optimizer is torch.optim.{name}, which updates torch tensors; "
                        f"fit trains cnnbook models with cnnbook.optim: use "
                        f"cnnbook.optim.{ours}(model.parameters(), lr=...).")
    if not (callable(getattr(optimizer, "step", None))
            and callable(getattr(optimizer, "zero_grad", None))):
        raise TypeError(f"{fn}: optimizer must have step() and zero_grad(), got {name}; use e.g. "
                        f"cnnbook.optim.SGD(model.parameters(), lr=0.01).")


def _current_lr(optimizer) -> float:
    """The rate the next step uses (the first parameter group's)."""
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0].get("lr", math.nan))
    return float(getattr(optimizer, "lr", math.nan))


def _correct(logits, y):
    """How many rows have their largest logit at the target class; None when the targets are
    not class indices (a regression loss)."""
    y = np.asarray(y)
    if np.ndim(logits) != 2 or y.shape != (np.shape(logits)[0],) or y.dtype.kind not in "iu":
        return None
    return int(np.sum(np.argmax(logits, axis=1) == y))


def _accuracy(logits, y) -> float:
    """The fraction of rows whose largest logit is the target class; NaN when not defined."""
    c = _correct(logits, y)
    return math.nan if c is None else float(np.mean(np.argmax(logits, axis=1) == y))


def batch_indices(n, batch_size, rng=None, shuffle=True):
    """The index arrays of one epoch: a permutation of ``range(n)`` drawn from
    `rng` (or the identity when ``shuffle=False``) cut into batches of
    `batch_size`; the last may be smaller.

    >>> [b.tolist() for b in batch_indices(5, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    fn = "batch_indices"
    n = check_positive_int(fn, "n", n, "pass the number of examples")
    batch_size = check_positive_int(fn, "batch_size", batch_size,
                                    "use e.g. batch_size=64")
    order = make_rng(fn, rng).permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def loss_and_grad(logits, y, loss="cross_entropy"):
    """``(loss, dlogits)`` for a batch of logits ``(N, C)`` and integer targets ``(N,)``.

    ``"mse"``: ``mean((softmax(logits) - onehot(y))**2)`` over all N*C entries, as
    ``torch.nn.functional.mse_loss(logits.softmax(1), one_hot(y))`` computes it. A loss module
    or a function ``(logits, y) -> (loss, dlogits)`` is used as it is.
    """
    return _check_loss("loss_and_grad", loss).grad(logits, y)


def _builtin_loss_and_grad(logits, y, loss):
    if loss == "cross_entropy":
        value, c = F.cross_entropy_forward(logits, y)
        return value, F.cross_entropy_backward(1.0, c)
    probs, c_soft = F.softmax_forward(logits, dim=1)
    y = check_targets("loss_and_grad", y, probs.shape[0], probs.shape[1])
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(y)), y] = 1
    value, c_mse = F.mse_loss_forward(probs, onehot)
    return value, F.softmax_backward(F.mse_loss_backward(1.0, c_mse), c_soft)


def train_step(model, optimizer, xb, yb, loss="cross_entropy",
               scheduler=None):
    """One step: forward, loss, backward, ``optimizer.step()``,
    ``optimizer.zero_grad()``, and ``scheduler.step()`` if given.
    Returns ``(loss, batch accuracy)`` as Python floats (the accuracy is
    NaN when ``yb`` is not class indices). A NaN or infinite loss raises
    FloatingPointError before the backward pass: the weights stay as
    they were."""
    loss = _check_loss("train_step", loss)
    logits = model(xb)
    value, dlogits = loss.grad(logits, yb)
    value = float(np.asarray(value))
    if not math.isfinite(value):
        raise FloatingPointError(
            _diverged("train_step", value, xb, model, optimizer))
    # no gradient for the images themselves
    model.backward(dlogits, input_grad=False)
    optimizer.step()
    optimizer.zero_grad()
    if scheduler is not None:
        scheduler.step()
    return value, _accuracy(logits, yb)


def _diverged(where: str, value: float, xb, model, optimizer) -> str:
    """Why a loss is not finite, and what to change."""
    if not np.all(np.isfinite(xb)):
        cause = (f"the batch itself holds {int(np.sum(~np.isfinite(xb)))} NaN or infinite "
                 f"values: clean x first (np.isfinite(x).all() must hold)")
    elif any(not np.all(np.isfinite(p.data)) for p in model.parameters()):
        cause = "the weights already hold NaN or infinite values: the steps before this one diverged"
    else:
        cause = (f"the weights are finite, the batch's values lie in [{float(np.min(xb)):.3g}, "
                 f"{float(np.max(xb)):.3g}]: the logits grew too large")
    return (f"{where}: the loss is {value} ({cause}). The weights are as they were before this "
            f"step. Lower the learning rate (it is {_current_lr(optimizer):g}; try a tenth of it) "
            f"and scale the inputs to [0, 1] (for 0..255 pixels: x.astype(np.float32) / 255).")


@dataclass
class History:
    """What ``fit`` recorded: one entry per step in ``loss``, ``acc`` (batch accuracy) and
    ``lr``; one per epoch in ``val_loss`` and ``val_acc`` (if a validation set was given) and
    in ``epoch_seconds``; ``best_epoch`` is the epoch (from 0) with the best validation accuracy."""
    loss: list = field(default_factory=list)
    acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    best_epoch: int | None = None

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def seconds(self) -> float:
        return float(sum(self.epoch_seconds))

    def smoothed_loss(self, window=50):
        """Moving average of the step losses over `window` steps (shorter at the start)."""
        v = np.asarray(self.loss, dtype=float)
        c = np.concatenate([[0.0], np.cumsum(v)])
        lo = np.maximum(np.arange(1, len(v) + 1) - window, 0)
        return (c[1:] - c[lo]) / (np.arange(1, len(v) + 1) - lo)


def progress(iterable, desc=None, total=None):
    """`iterable` with one progress line in Jupyter (``tqdm.auto``, removed when done); in the
    book build (``CNNBOOK_STATIC=1``) the iterable itself, since a widget progress bar cannot
    update on a static page and would only add weight to it."""
    if is_static():
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, total=total, leave=False, mininterval=1.0, dynamic_ncols=True)


def _summary(desc, hist, epochs_run, seconds) -> str:
    parts = [f"{desc}: {epochs_run} epoch{'s' if epochs_run != 1 else ''}", f"{hist.steps} steps",
             f"final train loss {np.mean(hist.loss[-100:]):.3f}"]
    if hist.val_acc and math.isnan(hist.val_acc[-1]):
        parts.append(f"val loss {hist.val_loss[-1]:.4f}")
    elif hist.val_acc:
        parts.append(f"val acc {hist.val_acc[-1]:.4f}")
        if hist.best_epoch is not None and hist.best_epoch != len(hist.val_acc) - 1:
            parts.append(f"best {hist.val_acc[hist.best_epoch]:.4f} (epoch {hist.best_epoch + 1})")
    parts.append(f"{seconds:.1f} s")
    return ", ".join(parts)


def fit(model, optimizer, x, y, *, epochs=1, batch_size=64, scheduler=None, loss="cross_entropy",
        seed=0, validation=None, max_steps=None, augment=None, patience=None, restore_best=False,
        progress=True, desc="train"):
    """Train `model` in place on ``(x, y)`` and return a :class:`History`.

    Each epoch draws a fresh permutation from ``np.random.default_rng(seed)`` (so the same seed
    gives the same batches, run after run), calls ``model.train()``, takes one optimizer step per
    mini-batch, and steps `scheduler` after every optimizer step (as ``OneCycleLR`` expects).
    A second call on the same model with the same integer seed goes on drawing from that
    generator, so ``fit(epochs=1)`` twice sees the batches of ``fit(epochs=2)``; ``seed`` may
    also be a ``np.random.Generator`` (drawn from as it is) or None (the library's generator).
    ``max_steps`` stops early, in the middle of an epoch if need be. ``augment`` is a callable
    applied to every training batch (e.g. ``cnnbook.data.RandomCrop(28, padding=2)``); the
    validation set is never augmented.

    ``x`` is float32 or float64 ``(N, C, H, W)``; ``y`` holds class indices for the built-in
    losses. ``loss`` is ``"cross_entropy"``, ``"mse"``, a loss module or a function
    ``(logits, y) -> (loss, dlogits)`` (then ``y`` may hold any numbers, and the recorded
    accuracy is NaN unless ``y`` holds class indices). A loss that becomes NaN or infinite
    stops the run with a FloatingPointError naming the epoch and the step.

    ``validation=(x_val, y_val)`` is evaluated after every epoch. Early stopping on it:
    ``patience=k`` stops after k epochs without a better validation accuracy (a lower
    validation loss when accuracy is not defined), and ``restore_best=True`` loads the weights
    of the best epoch back at the end (``History.best_epoch`` says which, counting from 0).

    ``progress=True`` shows one progress line for the whole run (``tqdm.auto``, removed when the
    run ends) and then prints one summary line (epochs, steps, final train loss, validation
    accuracy, time). In the static build (``CNNBOOK_STATIC=1``) only the summary is printed.
    """
    fn = "fit"
    _check_model(fn, model)
    _check_optimizer(fn, optimizer)
    loss = _check_loss(fn, loss)
    x = _check_images(fn, x)
    y = _check_labels(fn, y, x.shape[0], loss.classes)
    epochs = check_positive_int(fn, "epochs", epochs, "use e.g. epochs=1")
    batch_size = check_positive_int(fn, "batch_size", batch_size, "use e.g. batch_size=64")
    if max_steps is not None:
        max_steps = check_positive_int(fn, "max_steps", max_steps, "or max_steps=None for no limit")
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise TypeError(f"{fn}: validation must be a pair (x_val, y_val), got "
                            f"{type(validation).__name__}.")
    if patience is not None:
        patience = check_positive_int(fn, "patience", patience, "or patience=None to run all epochs")
    if (patience is not None or restore_best) and validation is None:
        raise ValueError(f"{fn}: patience={patience!r} and restore_best={restore_best!r} stop on "
                         f"the validation accuracy; pass validation=(x_val, y_val).")
    if augment is not None and not callable(augment):
        raise TypeError(f"{fn}: augment must be a callable on an NCHW batch, got "
                        f"{type(augment).__name__}; use e.g. cnnbook.data.RandomTranslate(2).")
    rng = _shuffle_rng(fn, model, seed)
    steps_per_epoch = math.ceil(x.shape[0] / batch_size)
    total = epochs * steps_per_epoch
    total = total if max_steps is None else min(max_steps, total)
    hist = History()
    bar = _progress_bar(progress, total, desc)
    best_state, since_best, epochs_run = None, 0, 0
    t_start = time.perf_counter()
    try:
        for epoch in range(epochs):
            if hist.steps >= total:
                break
            _train_epoch(model, optimizer, x, y, batch_indices(x.shape[0], batch_size, rng), hist,
                         total, loss=loss, scheduler=scheduler, augment=augment, bar=bar,
                         epoch=epoch, steps_per_epoch=steps_per_epoch)
            epochs_run += 1
            if validation is None:
                continue
            if _validate(model, validation, loss, hist, bar):
                since_best = 0
                if restore_best:
                    best_state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
            else:
                since_best += 1
            if patience is not None and since_best >= patience:
                break
    finally:
        if bar is not None:
            bar.close()
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if progress:
        print(_summary(desc, hist, epochs_run, time.perf_counter() - t_start))
    return hist


# The shuffling generator of each (model, integer seed): a second ``fit`` on the same model with
# the same seed continues its sequence instead of repeating the first epoch's batch order.
_SHUFFLES = weakref.WeakKeyDictionary()


def _shuffle_rng(fn: str, model, seed) -> np.random.Generator:
    rng = make_rng(fn, seed, "seed")             # checks the type; a Generator or None as it is
    if seed is None or isinstance(seed, np.random.Generator):
        return rng
    try:
        per_model = _SHUFFLES.setdefault(model, {})
    except TypeError:                            # a model that cannot be weakly referenced
        return rng
    return per_model.setdefault(int(seed), rng)


def _progress_bar(show, total, desc):
    """One ``tqdm.auto`` bar of `total` steps, or None when `show` is false or in the static
    build, where a widget bar cannot update."""
    if not show or is_static():
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False, mininterval=1.0, unit="step",
                dynamic_ncols=True)


def _train_epoch(model, optimizer, x, y, batches, hist, total, *, loss, scheduler, augment, bar,
                 epoch=0, steps_per_epoch=None):
    """One pass over `batches` (index arrays) in train mode, one optimizer step each, recorded
    in `hist`; stops when `hist` holds `total` steps."""
    model.train()
    t0 = time.perf_counter()
    for i, idx in enumerate(batches):
        if hist.steps >= total:
            break
        lr = _current_lr(optimizer)                  # the rate this step uses, before scheduling
        xb = x[idx] if augment is None else augment(x[idx])
        where = (f"fit: epoch {epoch + 1}, step {i + 1} of {steps_per_epoch or len(batches)} "
                 f"(step {hist.steps + 1} of this run)")
        try:
            value, acc = train_step(model, optimizer, xb, y[idx], loss, scheduler)
        except FloatingPointError as err:
            raise FloatingPointError(f"{where}: {err}") from None
        hist.loss.append(value)
        hist.acc.append(acc)
        hist.lr.append(lr)
        if bar is not None:
            bar.update(1)
            if hist.steps % 20 == 0 or hist.steps == total:
                recent = slice(max(0, hist.steps - 100), None)
                bar.set_postfix(loss=f"{np.mean(hist.loss[recent]):.3f}",
                                acc=f"{np.mean(hist.acc[recent]):.3f}", refresh=False)
    hist.epoch_seconds.append(time.perf_counter() - t0)


def _validate(model, validation, loss, hist, bar) -> bool:
    """Evaluate on ``validation = (x_val, y_val)``, record it in `hist`, and say whether this
    epoch is the best so far (then ``hist.best_epoch`` points to it): the highest accuracy, or
    the lowest loss when accuracy is not defined."""
    vl, va = evaluate(model, *validation, loss=loss)
    hist.val_loss.append(vl)
    hist.val_acc.append(va)
    if bar is not None:
        bar.set_postfix(val_acc=f"{va:.4f}", refresh=False)
    score = (lambda k: -hist.val_loss[k]) if math.isnan(va) else (lambda k: hist.val_acc[k])
    if hist.best_epoch is None or score(len(hist.val_acc) - 1) > score(hist.best_epoch):
        hist.best_epoch = len(hist.val_acc) - 1
        return True
    return False


def predict_proba(model, x, batch_size=1000):
    """Softmax probabilities ``(N, num_classes)`` in eval mode, computed `batch_size` images at
    a time (the model is left in eval mode). ``x``: float32 or float64, at least one image."""
    fn = "predict_proba"
    _check_model(fn, model)
    x = _check_images(fn, x)
    batch_size = check_positive_int(fn, "batch_size", batch_size, "use e.g. batch_size=1000")
    model.eval()
    return np.concatenate([F.softmax(model(x[i:i + batch_size]), dim=1)
                           for i in range(0, x.shape[0], batch_size)])


def evaluate(model, x, y, batch_size=1000, loss="cross_entropy"):
    """``(mean loss, accuracy)`` of `model` on ``(x, y)`` in eval mode, as Python floats (the
    accuracy is NaN for a loss whose targets are not class indices).

    Forward passes only: no gradient is computed, no parameter's ``.grad`` changes, and the
    model comes back as it was: each module's train/eval mode and the cache its last forward
    pass saved for ``backward`` are restored (see :func:`forward_only`). Outputs that are NaN or
    infinite raise FloatingPointError (an accuracy read from them would mean nothing)."""
    fn = "evaluate"
    _check_model(fn, model)
    loss = _check_loss(fn, loss)
    batch_size = check_positive_int(fn, "batch_size", batch_size, "use e.g. batch_size=1000")
    x = _check_images(fn, x)
    y = np.asarray(y)
    if y.ndim < 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{fn}: y must hold one label per image, shape ({x.shape[0]},), got "
                         f"shape {y.shape}.")
    y = _check_labels(fn, y, x.shape[0], loss.classes)
    total_loss, correct = 0.0, 0
    with forward_only(model):
        for i in range(0, x.shape[0], batch_size):
            logits = model(x[i:i + batch_size])
            bad = ~np.isfinite(logits)
            if bad.any():
                first = i + int(np.argwhere(bad)[0][0])
                weights = ("the weights hold NaN or infinite values (training diverged: lower "
                           "the learning rate and train again)"
                           if any(not np.all(np.isfinite(p.data)) for p in model.parameters())
                           else "the weights are finite: check x for NaN, inf or huge values "
                                "and scale it to [0, 1]")
                raise FloatingPointError(
                    f"{fn}: the model's outputs hold {int(bad.sum())} NaN or infinite values "
                    f"(the first for example {first}); {weights}.")
            yb = y[i:i + batch_size]
            if loss.classes:
                yb = check_targets(fn, yb, logits.shape[0], logits.shape[1])
            total_loss += float(np.asarray(loss.value(logits, yb))) * len(yb)
            c = _correct(logits, yb)
            correct = None if c is None or correct is None else correct + c
    return total_loss / x.shape[0], (math.nan if correct is None else correct / x.shape[0])


@contextmanager
def forward_only(model):
    """Run `model` in eval mode inside the ``with`` block, then put back what the block changed.

    The layers of ``cnnbook.nn`` save a cache on every forward call, for ``backward``; there is
    no switch that skips it. This context manager does the next best thing: on exit it restores
    every module's ``training`` flag and the cache of its last forward pass *before* the block,
    so the caches built inside are dropped, and a ``backward`` after the block still goes back
    through the forward pass that came before it. Parameters and their ``.grad`` are not
    touched (a forward pass never changes them; BatchNorm's running statistics do not move in
    eval mode).

    >>> import cnnbook as cb
    >>> m = cb.nn.Sequential(cb.nn.Linear(2, 2), cb.nn.Dropout(0.5)).train()
    >>> with forward_only(m):
    ...     m.training
    False
    >>> m.training
    True
    """
    # every module in the model's record, blocks with their own forward included: a block
    # (models.BasicBlock) keeps the cache of its last ReLU itself
    saved = [(m, m.training, m.__dict__.get("_cache")) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training, cache in saved:
            m.training, m._cache = training, cache


def _loss_value(logits, y, loss) -> float:
    """The mean loss of a batch, forward only (``loss_and_grad`` without the gradient)."""
    if loss == "cross_entropy":
        logp = F.log_softmax(logits, dim=1)
        return float(-np.mean(logp[np.arange(len(y)), y]))
    probs = F.softmax(logits, dim=1)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(y)), y] = 1
    return float(np.mean((probs - onehot) ** 2))
