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
target, the "total error" of early networks (Rumelhart, Hinton & Williams 1986).

References:
- PyTorch ``torch.utils.data.DataLoader`` (``shuffle=True``, ``drop_last=False``: the last
  batch of an epoch may be smaller), and the training loop of its tutorials.
- Smith & Topin, "Super-convergence", 2018 (the one-cycle schedule stepped once per batch).
"""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from . import functional as F
from ._checks import as_float_array, check_ndim, check_positive_int, check_targets, make_rng

__all__ = ["History", "progress", "batch_indices", "loss_and_grad", "train_step", "fit", "evaluate",
           "forward_only", "predict_proba", "LOSSES"]

LOSSES = ("cross_entropy", "mse")




def _check_loss(fn: str, loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"{fn}: loss must be one of {LOSSES}, got loss={loss!r}; use "
                         f"loss='cross_entropy'.")
    return loss


def _check_data(fn: str, x, y, num_classes=None):
    x = as_float_array(fn, "x", x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W): a batch of images")
    if num_classes is None:
        y_arr = np.asarray(y)
        num_classes = int(y_arr.max()) + 1 if y_arr.size else 1
    y = check_targets(fn, y, x.shape[0], num_classes)
    return x, y


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
    ``torch.nn.functional.mse_loss(logits.softmax(1), one_hot(y))`` computes it.
    """
    loss = _check_loss("loss_and_grad", loss)
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
    Returns ``(loss, batch accuracy)`` as Python floats."""
    logits = model(xb)
    value, dlogits = loss_and_grad(logits, yb, loss)
    # no gradient for the images themselves
    model.backward(dlogits, input_grad=False)
    optimizer.step()
    optimizer.zero_grad()
    if scheduler is not None:
        scheduler.step()
    return float(value), float(np.mean(np.argmax(logits, axis=1) == yb))


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


def _static() -> bool:
    """True while the book is being built (``CNNBOOK_STATIC=1``): a widget progress bar cannot
    update on a static page, so ``fit`` prints a one-line summary instead."""
    return os.environ.get("CNNBOOK_STATIC", "") not in ("", "0")


def progress(iterable, desc=None, total=None):
    """`iterable` with one progress line in Jupyter (``tqdm.auto``, removed when done); in the
    book build (``CNNBOOK_STATIC=1``) the iterable itself, since a widget progress bar cannot
    update on a static page and would only add weight to it."""
    if _static():
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, total=total, leave=False, mininterval=1.0, dynamic_ncols=True)


def _summary(desc, hist, epochs_run, seconds) -> str:
    parts = [f"{desc}: {epochs_run} epoch{'s' if epochs_run != 1 else ''}", f"{hist.steps} steps",
             f"final train loss {np.mean(hist.loss[-100:]):.3f}"]
    if hist.val_acc:
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
    ``max_steps`` stops early, in the middle of an epoch if need be. ``augment`` is a callable
    applied to every training batch (e.g. ``cnnbook.data.RandomCrop(28, padding=2)``); the
    validation set is never augmented.

    ``validation=(x_val, y_val)`` is evaluated after every epoch. Early stopping on it:
    ``patience=k`` stops after k epochs without a better validation accuracy, and
    ``restore_best=True`` loads the weights of the best epoch back at the end
    (``History.best_epoch`` says which, counting from 0).

    ``progress=True`` shows one progress line for the whole run (``tqdm.auto``, removed when the
    run ends) and then prints one summary line (epochs, steps, final train loss, validation
    accuracy, time). In the static build (``CNNBOOK_STATIC=1``) only the summary is printed.
    """
    fn = "fit"
    x, y = _check_data(fn, x, y, num_classes=None)
    epochs = check_positive_int(fn, "epochs", epochs, "use e.g. epochs=1")
    batch_size = check_positive_int(fn, "batch_size", batch_size, "use e.g. batch_size=64")
    loss = _check_loss(fn, loss)
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
    rng = make_rng(fn, seed, "seed")
    total = epochs * math.ceil(x.shape[0] / batch_size)
    total = total if max_steps is None else min(max_steps, total)
    hist = History()
    bar = _progress_bar(progress, total, desc)
    best_state, since_best, epochs_run = None, 0, 0
    t_start = time.perf_counter()
    for _ in range(epochs):
        if hist.steps >= total:
            break
        _train_epoch(model, optimizer, x, y, batch_indices(x.shape[0], batch_size, rng), hist,
                     total, loss=loss, scheduler=scheduler, augment=augment, bar=bar)
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
    if bar is not None:
        bar.close()
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if progress:
        print(_summary(desc, hist, epochs_run, time.perf_counter() - t_start))
    return hist


def _progress_bar(show, total, desc):
    """One ``tqdm.auto`` bar of `total` steps, or None when `show` is false or in the static
    build, where a widget bar cannot update."""
    if not show or _static():
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False, mininterval=1.0, unit="step",
                dynamic_ncols=True)


def _train_epoch(model, optimizer, x, y, batches, hist, total, *, loss, scheduler, augment, bar):
    """One pass over `batches` (index arrays) in train mode, one optimizer step each, recorded
    in `hist`; stops when `hist` holds `total` steps."""
    model.train()
    t0 = time.perf_counter()
    for idx in batches:
        if hist.steps >= total:
            break
        lr = optimizer.lr                            # the rate this step uses, before scheduling
        xb = x[idx] if augment is None else augment(x[idx])
        value, acc = train_step(model, optimizer, xb, y[idx], loss, scheduler)
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
    epoch is the best so far (then ``hist.best_epoch`` points to it)."""
    vl, va = evaluate(model, *validation, loss=loss)
    hist.val_loss.append(vl)
    hist.val_acc.append(va)
    if bar is not None:
        bar.set_postfix(val_acc=f"{va:.4f}", refresh=False)
    if hist.best_epoch is None or va > hist.val_acc[hist.best_epoch]:
        hist.best_epoch = len(hist.val_acc) - 1
        return True
    return False


def predict_proba(model, x, batch_size=1000):
    """Softmax probabilities ``(N, num_classes)`` in eval mode, computed `batch_size` images at
    a time (the model is left in eval mode)."""
    x = as_float_array("predict_proba", "x", x)
    check_ndim("predict_proba", "x", x, 4, "(N, C, H, W): a batch of images")
    batch_size = check_positive_int("predict_proba", "batch_size", batch_size,
                                     "use e.g. batch_size=1000")
    model.eval()
    return np.concatenate([F.softmax(model(x[i:i + batch_size]), dim=1)
                           for i in range(0, x.shape[0], batch_size)])


def evaluate(model, x, y, batch_size=1000, loss="cross_entropy"):
    """``(mean loss, accuracy)`` of `model` on ``(x, y)`` in eval mode, as Python floats.

    Forward passes only: no gradient is computed, no parameter's ``.grad`` changes, and the
    model comes back as it was: each module's train/eval mode and the cache its last forward
    pass saved for ``backward`` are restored (see :func:`forward_only`)."""
    fn = "evaluate"
    loss = _check_loss(fn, loss)
    batch_size = check_positive_int(fn, "batch_size", batch_size, "use e.g. batch_size=1000")
    x = as_float_array(fn, "x", x)
    check_ndim(fn, "x", x, 4, "(N, C, H, W): a batch of images")
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ValueError(f"{fn}: y must hold one label per image, shape ({x.shape[0]},), got "
                         f"shape {y.shape}.")
    total_loss, correct = 0.0, 0
    with forward_only(model):
        for i in range(0, x.shape[0], batch_size):
            logits = model(x[i:i + batch_size])
            yb = check_targets(fn, y[i:i + batch_size], logits.shape[0], logits.shape[1])
            total_loss += _loss_value(logits, yb, loss) * len(yb)
            correct += int(np.sum(np.argmax(logits, axis=1) == yb))
    return total_loss / x.shape[0], correct / x.shape[0]


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
    saved = [(m, m.training, getattr(m, "_cache", None)) for _, m in model.named_modules()]
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
