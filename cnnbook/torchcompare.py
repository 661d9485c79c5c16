"""Compare a cnnbook forward/backward pair with PyTorch, on any device.

This is the single comparison used by the tests (`tests/conftest.py::assert_matches_torch`) and by
`python -m cnnbook.verify`. It draws a *random* upstream gradient (never ones), runs our pair in
NumPy and the PyTorch function under `torch.autograd.grad`, and reports the largest absolute
differences of the output and of each gradient.
"""
from __future__ import annotations

import contextlib
from typing import Callable, NamedTuple, Sequence

import numpy as np

__all__ = ["Comparison", "compare_with_torch", "available_devices", "tolerance"]


class Comparison(NamedTuple):
    out_err: float
    grad_errs: tuple      # one max-abs error per compared gradient
    grad_names: tuple
    tol: float

    @property
    def passed(self) -> bool:
        errs = (self.out_err,) + tuple(self.grad_errs)
        return all(np.isfinite(e) and e <= self.tol for e in errs)


def available_devices() -> list:
    """'cpu' always; 'cuda' when torch sees a GPU."""
    import torch
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def tolerance(dtype, device: str) -> float:
    """Largest allowed error, scaled by max(1, max |value|): float64 1e-9; float32 2e-4 (TF32 off on CUDA)."""
    return 1e-9 if np.dtype(dtype) == np.float64 else 2e-4


def _max_abs(a, b, scale: bool = True) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"compare_with_torch: shape mismatch {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    err = float(np.max(np.abs(a - b)))
    if scale:  # errors relative to the magnitude of the values, floored at 1
        err /= max(1.0, float(np.max(np.abs(b))))
    return err


def compare_with_torch(forward: Callable, backward: Callable, torch_fn: Callable,
                       arrays: Sequence, grad_of: Sequence[int] | None = None,
                       names: Sequence[str] | None = None, device: str = "cpu",
                       dtype=np.float64, seed: int = 0, tol: float | None = None) -> Comparison:
    """Run `forward(*arrays) -> (out, cache)` and `backward(dout, cache) -> grads` against
    `torch_fn(*tensors) -> out`.

    `arrays` may hold None (e.g. no bias) and non-float arrays (integer targets, index boxes), which
    are passed through as tensors without gradients. `grad_of` lists the positions of `arrays` whose
    gradients `backward` returns, in order (default: every float array). `backward` may return a
    single array or a tuple; a None gradient (no bias) is skipped.
    """
    with _tf32_off():
        return _compare(forward, backward, torch_fn, arrays, grad_of, names, device, dtype, seed, tol)


@contextlib.contextmanager
def _tf32_off():
    """Full float32 precision in PyTorch's CUDA matmuls and convolutions (TF32 rounds inputs to
    10 mantissa bits) while the block runs; the previous settings come back afterwards."""
    import torch
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32
    matmul.allow_tf32 = cudnn.allow_tf32 = False
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def _compare(forward, backward, torch_fn, arrays, grad_of, names, device, dtype, seed, tol):
    import torch
    arrays = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
              for a in arrays]
    if grad_of is None:
        grad_of = [i for i, a in enumerate(arrays)
                   if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    names = tuple(names) if names is not None else tuple(f"d{i}" for i in grad_of)
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]

    out, cache = forward(*arrays)
    for a, c in zip(arrays, copies):   # inputs are never modified in place
        if isinstance(a, np.ndarray) and not np.array_equal(a, c, equal_nan=True):
            raise AssertionError("compare_with_torch: forward modified an input in place")
    rng = np.random.default_rng(seed)
    out = np.asarray(out)
    dout = rng.standard_normal(out.shape).astype(out.dtype) if out.ndim else np.asarray(
        rng.standard_normal(), dtype=out.dtype)
    dout_copy = dout.copy()
    grads = backward(dout, cache)
    if not np.array_equal(dout, dout_copy):
        raise AssertionError("compare_with_torch: backward modified dout in place")
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)

    tensors = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(a)).to(device)
            if i in grad_of:
                t.requires_grad_(True)
            tensors.append(t)
        else:
            tensors.append(a)
    t_out = torch_fn(*tensors)
    want_out = t_out.detach().cpu().numpy()
    out_err = _max_abs(out, want_out)
    pairs = [(g, tensors[i], n) for g, i, n in zip(grads, grad_of, names) if g is not None]
    t_grads = torch.autograd.grad(t_out, [p[1] for p in pairs],
                                  grad_outputs=torch.from_numpy(dout).to(device),
                                  allow_unused=True)
    errs, kept = [], []
    for (g, t, n), tg in zip(pairs, t_grads):
        tg = np.zeros(tuple(t.shape)) if tg is None else tg.detach().cpu().numpy()
        errs.append(_max_abs(g, tg))
        kept.append(n)
    return Comparison(out_err, tuple(errs), tuple(kept), tol if tol is not None else tolerance(dtype, device))
