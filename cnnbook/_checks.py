"""Shared argument checks, the library's random generator, and the static-build switch.

The checks here serve every public entry point; modules with checks of their own (a layer's
shape rule, a loader's file format) raise in the same style. One policy throughout:

- ``TypeError`` for a wrong *type*: a string where a number belongs, a float where an integer
  belongs, a torch.Tensor where a NumPy array belongs, uint8 pixels where a layer wants floats;
- ``ValueError`` for a wrong *value* of the right type: stride=0, a negative padding, an empty
  batch, a label out of range.

NumPy scalars (``np.int64(3)``, ``np.float32(0.5)``) are accepted wherever Python's int and float
are; ``True``/``False`` never count as numbers. A message names the function, the quantity, the
numbers, and a fix, e.g.::

    ValueError: conv2d: stride must be a positive integer, got stride=0; use stride=1 for no striding.

Also here: the generator that every ``rng=None`` draws from (``manual_seed``, ``make_rng``) and
``is_static()``, the one reading of ``CNNBOOK_STATIC`` (the book build's switch to static pages).
"""
from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .window import span as _span

__all__ = [
    "as_float_array", "check_ndim", "pair", "pair_nonneg", "check_bias", "check_channels",
    "check_window_fits", "check_strict_tiling", "check_targets", "out_size", "check_axis",
    "check_dout", "check_bool", "check_real", "check_int", "check_positive_int",
    "check_positive_float", "make_rng", "manual_seed", "float_input", "is_static",
]


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _numpy_array(fn: str, name: str, x, what: str) -> np.ndarray:
    """`x` as a NumPy array (no copy); a string, None or a torch tensor raises TypeError."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{fn}: {name} must be {what}, got {type(x).__name__}; "
                        f"pass e.g. np.asarray(...).")
    if type(x).__module__.startswith("torch"):
        raise TypeError(f"{fn}: {name} is a torch.Tensor; cnnbook works on NumPy arrays: "
                        f"pass {name}.detach().cpu().numpy().")
    return np.asarray(x)


def as_float_array(fn: str, name: str, x, dtype=None) -> np.ndarray:
    """Return `x` as a floating NumPy array without modifying it.

    Integer and boolean arrays (a 0/1 toy image) become float64; float32/float64 keep their dtype
    unless `dtype` is given. Anything that is not array-like raises TypeError.
    """
    arr = _numpy_array(fn, name, x, "a NumPy array of numbers")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{fn}: {name} must hold numbers, got dtype {arr.dtype}; "
                        f"convert it with np.asarray({name}, dtype=float).")
    if np.iscomplexobj(arr):
        raise TypeError(f"{fn}: {name} is complex ({arr.dtype}); pass a real array.")
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def check_ndim(fn: str, name: str, x: np.ndarray, ndim, layout: str) -> None:
    """Raise ValueError unless x.ndim is `ndim` (an int or a tuple of allowed ints)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        hint = ""
        if x.ndim == min(allowed) - 1:
            hint = f" For a single example add a batch axis: {name}[None]."
        raise ValueError(f"{fn}: {name} must be {want}-D {layout}, got {x.ndim}-D with shape "
                         f"{tuple(x.shape)}.{hint}")


def check_axis(fn: str, name: str, value, x: np.ndarray, hint: str) -> int:
    """An axis index of `x` (negative counts from the end), returned as a non-negative int."""
    if not _is_int(value):
        raise TypeError(f"{fn}: {name} must be an integer, got {name}={value!r}; {hint}.")
    nd = max(x.ndim, 1)
    if not -nd <= value < nd:
        raise ValueError(f"{fn}: {name}={value} is out of range for a {x.ndim}-D input of shape "
                         f"{tuple(x.shape)}; it must lie in [{-nd}, {nd - 1}].")
    return int(value) % nd


def pair(fn: str, name: str, v, n: int = 2, minimum: int = 1) -> tuple:
    """Normalise an int or a length-n sequence to an n-tuple of ints >= `minimum`.

    `minimum=1` for kernel_size/stride/dilation, `minimum=0` for padding.
    """
    vals = tuple(v) if isinstance(v, (tuple, list, np.ndarray)) else (v,) * n
    if len(vals) != n:
        raise ValueError(f"{fn}: {name} must be an int or a sequence of {n} ints, got {v!r}.")
    for e in vals:
        if not _is_int(e):
            raise TypeError(f"{fn}: {name} must be an integer (or {n} integers), got {name}={v!r} "
                            f"of type {type(e).__name__}; {_int_fix(name, e, minimum)}.")
        if e < minimum:
            if minimum == 0:
                raise ValueError(f"{fn}: {name} must be >= 0, got {name}={v!r}; negative padding "
                                 f"is not supported, crop the input instead.")
            fix = {"dilation": "use dilation=1 for an ordinary (undilated) kernel",
                   "stride": "use stride=1 for no striding"}.get(name, f"use {name}>=1")
            raise ValueError(f"{fn}: {name} must be a positive integer, got {name}={v!r}; {fix}.")
    return tuple(int(e) for e in vals)


def _int_fix(name: str, e, minimum: int) -> str:
    """The fix for a non-integer `e` where an int belongs: the int it stands for when there is
    one (3.0 or '3' -> 3), the two ints around a fraction, else an example."""
    if isinstance(e, str) and e.strip().lstrip("+-").isdigit():
        return f"pass the number, not a string: {name}={int(e)}"
    if isinstance(e, (numbers.Real, np.floating)) and not isinstance(e, (bool, np.bool_)) \
            and math.isfinite(e):
        if float(e).is_integer():
            return f"use {name}={int(e)}"
        lo, hi = math.floor(e), math.ceil(e)
        if lo >= minimum:
            return f"use an integer, e.g. {name}={lo} or {name}={hi}"
        return f"use an integer, e.g. {name}={hi}"
    return f"use an integer, e.g. {name}={max(minimum, 1)}"


def pair_nonneg(fn: str, name: str, v, n: int = 2) -> tuple:
    return pair(fn, name, v, n=n, minimum=0)


def check_bias(fn: str, b, c_out: int, dtype) -> np.ndarray | None:
    if b is None:
        return None
    b = as_float_array(fn, "b", b)
    if b.shape != (c_out,):
        raise ValueError(f"{fn}: bias b must have shape ({c_out},) — one value per output channel "
                         f"— got shape {tuple(b.shape)}; pass b of length {c_out} or b=None.")
    return b.astype(dtype, copy=False)


def check_channels(fn: str, c_in: int, w_c_in: int, groups: int, c_out: int) -> None:
    """Check that x's channels, w's input channels and groups agree (PyTorch's rule)."""
    groups = check_positive_int(fn, "groups", groups, "use groups=1 for an ordinary convolution")
    if c_in % groups != 0:
        raise ValueError(f"{fn}: input channels C_in={c_in} are not divisible by groups={groups}; "
                         f"choose groups among the divisors of {c_in}.")
    if c_out % groups != 0:
        raise ValueError(f"{fn}: output channels C_out={c_out} are not divisible by groups={groups}; "
                         f"choose groups among the divisors of {c_out}.")
    if w_c_in * groups != c_in:
        raise ValueError(f"{fn}: channel mismatch: x has C_in={c_in} channels but w expects "
                         f"C_in/groups={w_c_in} with groups={groups} (= {w_c_in * groups} channels); "
                         f"w must have shape (C_out, {c_in // groups}, KH, KW).")


def out_size(fn: str, axis: str, n: int, k: int, s: int, p: int, d: int, ceil_mode: bool = False) -> int:
    """Output length along one axis, with an error that carries the arithmetic when it is < 1."""
    eff = _span(k, d)
    room = n + 2 * p - eff
    if room < 0:
        raise ValueError(
            f"{fn}: the kernel (effective size {eff} = dilation {d} * (kernel {k} - 1) + 1) is larger "
            f"than the padded input along {axis} ({n} + 2*{p} = {n + 2 * p}); use a smaller kernel "
            f"or dilation, or padding >= {-(-(eff - n) // 2)}.")
    if ceil_mode:
        o = -(-room // s) + 1
        # PyTorch: the last window must start inside the input or left padding.
        if (o - 1) * s >= n + p:
            o -= 1
        return o
    return room // s + 1


def check_window_fits(fn: str, axis: str, n: int, k: int, p: int, d: int = 1) -> None:
    out_size(fn, axis, n, k, 1, p, d)


def check_strict_tiling(fn: str, axis: str, n: int, k: int, s: int, p: int, d: int = 1) -> None:
    """With strict=True: raise if the stride leaves rows/columns of the padded input unused."""
    eff = _span(k, d)
    left = (n + 2 * p - eff) % s
    if left:
        unit = "row" if axis in ("H", "height") else "column"
        plural = "s" if left > 1 else ""
        raise ValueError(
            f"{fn}: kernel_size={k}, stride={s} leave {left} {unit}{plural} of {axis}={n} unused "
            f"(({n} + 2*{p} - {eff}) % {s} = {left}); change padding or stride so that it divides "
            f"evenly, or use strict=False to drop them as PyTorch does.")


def check_targets(fn: str, target, n: int, num_classes: int) -> np.ndarray:
    """Class-index targets: integer array of shape (N,) with values in [0, num_classes)."""
    t = np.asarray(target)
    if not (np.issubdtype(t.dtype, np.integer)):
        if np.issubdtype(t.dtype, np.floating) and t.size and np.all(np.mod(t, 1) == 0):
            raise TypeError(f"{fn}: class targets must be integers, got dtype {t.dtype}; "
                            f"use target.astype(np.int64).")
        raise TypeError(f"{fn}: class targets must be integer class indices, got dtype {t.dtype}; "
                        f"for one-hot or probability targets use argmax(axis=1) first.")
    if t.shape != (n,):
        raise ValueError(f"{fn}: target must have shape ({n},) — one class index per row of the "
                         f"logits — got shape {tuple(t.shape)}.")
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        bad = int(t.min()) if t.min() < 0 else int(t.max())
        raise ValueError(f"{fn}: target value {bad} is out of range for {num_classes} classes; "
                         f"targets must lie in [0, {num_classes - 1}].")
    return t.astype(np.int64, copy=False)


def check_dout(fn: str, dout, shape: tuple, dtype=None) -> np.ndarray:
    """The upstream gradient of a backward: an array of the forward output's `shape`, cast to
    the forward `dtype` (when given) without copying when it already has it."""
    d = as_float_array(fn, "dout", dout)
    if d.shape != tuple(shape):
        raise ValueError(f"{fn}: dout must have the shape of the forward output {tuple(shape)}, "
                         f"got {tuple(d.shape)}; pass the gradient of the loss with respect to "
                         f"this layer's output.")
    return d if dtype is None else d.astype(dtype, copy=False)


def check_bool(fn: str, name: str, v) -> bool:
    """`v` as a bool; only True and False are accepted (not 0/1, not strings)."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be True or False, got {name}={v!r}.")
    return bool(v)


def check_real(fn: str, name: str, v, fix: str, positive: bool = False) -> float:
    """`v` as a finite float (and > 0 when `positive`); bools and non-numbers raise TypeError."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{fn}: {name} must be a real number, got {name}={v!r} of type "
                        f"{type(v).__name__}; {fix}.")
    if not np.isfinite(v) or (positive and v <= 0):
        want = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{fn}: {name} must be {want}, got {name}={v!r}; {fix}.")
    return float(v)


def check_positive_float(fn: str, name: str, v, fix: str) -> float:
    """`v` as a finite float > 0."""
    return check_real(fn, name, v, fix, positive=True)


def check_int(fn: str, name: str, v, minimum: int, fix: str) -> int:
    """`v` as an int of at least `minimum`: TypeError for non-integers (bools included),
    ValueError below the minimum."""
    if not _is_int(v):
        raise TypeError(f"{fn}: {name} must be an integer, got {name}={v!r} "
                        f"({type(v).__name__}); {fix}.")
    if v < minimum:
        raise ValueError(f"{fn}: {name}={v} must be at least {minimum}; {fix}.")
    return int(v)


def check_positive_int(fn: str, name: str, v, fix: str | None = None) -> int:
    """`v` as an int >= 1 (NumPy integers included): TypeError for non-integers (bools, floats,
    strings), ValueError for 0 and negatives."""
    if not _is_int(v):
        raise TypeError(f"{fn}: {name} must be a positive integer, got {name}={v!r} of type "
                        f"{type(v).__name__}; {fix or _int_fix(name, v, 1)}.")
    if v < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {name}={v!r}; "
                         f"{fix or f'use e.g. {name}=1'}.")
    return int(v)


def float_input(fn: str, name: str, x) -> np.ndarray:
    """`x` as a float32 or float64 NumPy array, unchanged (no copy, no cast): the input of a
    layer, ``fit``, ``evaluate`` and ``predict_proba``. Every other dtype raises TypeError with
    the cast to use (uint8 pixels: ``x.astype(np.float32) / 255``), as PyTorch's layers refuse
    integer tensors. (The functional API is more lenient: see ``as_float_array``.)

    >>> float_input("f", "x", np.zeros(2, np.float32)).dtype
    dtype('float32')
    """
    arr = _numpy_array(fn, name, x, "a NumPy array of float32 or float64")
    if arr.dtype in (np.float32, np.float64):
        return arr
    if arr.dtype == np.uint8:
        fix = (f"raw pixel values 0..255? scale them to [0, 1]: {name}.astype(np.float32) / 255")
    elif arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer) \
            or np.issubdtype(arr.dtype, np.floating):
        fix = f"cast it: {name}.astype(np.float32)"
    else:
        fix = f"it must hold real numbers, e.g. np.asarray({name}, dtype=np.float32)"
    raise TypeError(f"{fn}: {name} must be float32 or float64, got dtype {arr.dtype}; {fix}.")


def is_static() -> bool:
    """True when the environment asks for the static book (``CNNBOOK_STATIC`` set to anything
    but ``""``, ``0``, ``false``, ``no`` or ``off``, in any case): explorers precompute their
    frames and ``fit`` prints a summary line instead of a progress bar."""
    return os.environ.get("CNNBOOK_STATIC", "").strip().lower() not in ("", "0", "false", "no", "off")


# The library's random generator: what every function with ``rng=None`` draws from, so that two
# layers built one after the other get different weights. ``manual_seed(n)`` reseeds it in place,
# as ``torch.manual_seed`` does for PyTorch, so a Dropout or an augmentation built before the call
# (which holds this very object) draws the new sequence too; importing the library seeds it with 0.
_GENERATOR = np.random.default_rng(0)


def manual_seed(seed) -> np.random.Generator:
    """Reseed the library's generator from `seed`, in place, and return it: afterwards it draws
    exactly what ``np.random.default_rng(seed)`` draws.

    >>> a = manual_seed(3).random(); b = manual_seed(3).random()
    >>> a == b
    True
    """
    seed = check_int("manual_seed", "seed", seed, 0, "use e.g. cb.manual_seed(0)")
    _GENERATOR.bit_generator.state = type(_GENERATOR.bit_generator)(seed).state
    return _GENERATOR


def make_rng(fn: str, rng, name: str = "rng") -> np.random.Generator:
    """The generator a function draws from: `rng` itself when it is a ``numpy.random.Generator``,
    a fresh generator for an int seed, and the library's generator (see ``manual_seed``) for
    None."""
    if rng is None:
        return _GENERATOR
    if isinstance(rng, np.random.Generator):
        return rng
    if _is_int(rng):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{fn}: {name} must be a numpy.random.Generator or an int seed, got "
                    f"{type(rng).__name__}; use {name}=0.")


def check_choice(fn: str, name: str, v, choices) -> str:
    """`v` as one of the strings `choices`: TypeError for a non-string, ValueError for another
    string."""
    if not isinstance(v, str):
        raise TypeError(f"{fn}: {name} must be a string, one of {list(choices)}, got {name}={v!r} "
                        f"({type(v).__name__}).")
    if v not in choices:
        raise ValueError(f"{fn}: {name} must be one of {list(choices)}, got {name}={v!r}.")
    return v


def check_any_int(fn: str, name: str, v, fix: str) -> int:
    """`v` as an int of any sign (a dimension index such as ``start_dim=-1``): TypeError for
    anything else, bools and floats included."""
    if not _is_int(v):
        raise TypeError(f"{fn}: {name} must be an integer, got {name}={v!r} "
                        f"({type(v).__name__}); {fix}.")
    return int(v)


def check_unit_interval(fn: str, name: str, v, fix: str, upper_open: bool = False) -> float:
    """`v` as a float in [0, 1] (or [0, 1) with `upper_open`): TypeError for a non-number,
    ValueError outside the interval."""
    v = check_real(fn, name, v, fix)
    if not 0 <= v <= 1 or (upper_open and v == 1):
        raise ValueError(f"{fn}: {name} must lie in [0, 1{')' if upper_open else ']'}, got "
                         f"{name}={v}; {fix}.")
    return v
