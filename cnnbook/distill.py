"""Knowledge distillation (Hinton, Vinyals and Dean 2015, *Distilling the knowledge in a neural
network*): a small *student* learns from the softened outputs of a large *teacher*.

With temperature T, teacher probabilities ``p = softmax(t / T)`` and student log-probabilities
``log q = log_softmax(s / T)``, the loss over a batch of N examples is::

    L = alpha * T**2 * sum(p * (log p - log q)) / N  +  (1 - alpha) * cross_entropy(s, y)

the Kullback-Leibler divergence of the softened distributions (PyTorch's ``F.kl_div(...,
reduction="batchmean")``) plus the usual loss on the labels. The factor T**2 keeps the soft
term's gradient, ``alpha * T * (q - p) / N``, on the scale of the hard term's as T changes.
The teacher's logits are constants: no gradient flows into them. Taught in the chapter
``compression``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import losses as _losses
from ._checks import as_float_array, check_dout, check_ndim, check_positive_float, \
    check_unit_interval, make_rng

__all__ = ["distillation_loss", "distillation_loss_forward", "distillation_loss_backward",
           "train_student"]


class DistillCache(NamedTuple):
    q: np.ndarray            # softmax(s / T), the student's softened probabilities  (N, C)
    p: np.ndarray            # softmax(t / T), the teacher's                          (N, C)
    ce: tuple                # the cross-entropy's cache (hard labels)
    T: float
    alpha: float


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def distillation_loss_forward(student_logits, teacher_logits, target, T=4.0, alpha=0.9):
    """The loss (a float) and the cache of ``distillation_loss_backward``."""
    fn = "distillation_loss"
    s = as_float_array(fn, "student_logits", student_logits)
    t = as_float_array(fn, "teacher_logits", teacher_logits, s.dtype)
    check_ndim(fn, "student_logits", s, 2, "(N, C) logits")
    if t.shape != s.shape:
        raise ValueError(f"{fn}: teacher_logits has shape {t.shape}, student_logits "
                         f"{s.shape}; give the teacher's logits for the same batch.")
    T = check_positive_float(fn, "T", T, "use a temperature such as T=4.0")
    alpha = check_unit_interval(fn, "alpha", alpha, "use e.g. alpha=0.9")
    N = s.shape[0]
    log_q, log_p = _log_softmax(s / T), _log_softmax(t / T)
    p = np.exp(log_p)
    kl = float(np.sum(p * (log_p - log_q)) / N)
    ce, ce_cache = _losses.cross_entropy_forward(s, target)
    loss = alpha * T * T * kl + (1 - alpha) * float(ce)
    return loss, DistillCache(np.exp(log_q), p, ce_cache, T, alpha)


def distillation_loss_backward(dout, cache: DistillCache) -> np.ndarray:
    """d loss / d student_logits = dout * (alpha * T * (q - p) / N + (1 - alpha) * dCE)."""
    dout = float(check_dout("distillation_loss_backward", dout, ()))
    q, p, ce_cache, T, alpha = cache
    N = q.shape[0]
    d_soft = alpha * T * (q - p) / N
    d_hard = (1 - alpha) * _losses.cross_entropy_backward(1.0, ce_cache)
    return (dout * (d_soft + d_hard)).astype(q.dtype, copy=False)


def distillation_loss(student_logits, teacher_logits, target, T=4.0, alpha=0.9) -> float:
    """Hinton et al.'s loss; see ``distillation_loss_forward``."""
    return distillation_loss_forward(student_logits, teacher_logits, target, T, alpha)[0]


def train_student(student, optimizer, x, y, teacher_logits, *, T=4.0, alpha=0.9, epochs=1,
                  batch_size=64, seed=0):
    """Train `student` on ``(x, y)`` with the distillation loss against the teacher's logits
    of the same images (computed once beforehand); ``alpha=0`` is plain cross-entropy, the
    same loop without a teacher. Returns the loss of every step."""
    rng = make_rng("train_student", seed, "seed")
    teacher_logits = np.asarray(teacher_logits)
    if teacher_logits.shape[0] != len(y):
        raise ValueError(f"train_student: {teacher_logits.shape[0]} teacher logits for "
                         f"{len(y)} images; compute the teacher's logits of exactly x.")
    student.train()
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            logits = student(x[idx])
            loss, cache = distillation_loss_forward(logits, teacher_logits[idx], y[idx], T,
                                                    alpha)
            student.backward(distillation_loss_backward(1.0, cache), input_grad=False)
            optimizer.step()
            optimizer.zero_grad()
            history.append(loss)
    student.eval()
    return history
