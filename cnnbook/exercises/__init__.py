"""Self-check exercises for the book's chapters.

A chapter poses a question and the reader calls ``cb.exercises.check("key", answer)``. The
check computes the right answer with the library (nothing is stored as a literal answer), then
prints whether the reader's answer is right, and returns True/False.

Each chapter registers its exercises in its own module in this package (``ch04_padding.py``,
...) with the ``@exercise`` decorator::

    @exercise("output-size-288", "Output width of a 288-pixel input, kernel 4, stride 2, no padding")
    def _():
        return conv_output_size(288, 4, stride=2)

The decorated function returns the expected answer. Answers compare with ``np.allclose`` for
numbers and arrays (``rtol``/``atol`` may be given to the decorator), ``==`` otherwise.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, NamedTuple

import numpy as np

__all__ = ["exercise", "check", "solution", "list_exercises"]


class _Exercise(NamedTuple):
    key: str
    question: str
    answer: Callable
    rtol: float
    atol: float


_REGISTRY: dict[str, _Exercise] = {}
_loaded = False


def exercise(key: str, question: str, rtol: float = 1e-6, atol: float = 1e-9):
    """Register the decorated zero-argument function as the answer to exercise `key`."""
    def deco(fn):
        if key in _REGISTRY:
            raise ValueError(f"exercise: key {key!r} is registered twice; keys must be unique.")
        _REGISTRY[key] = _Exercise(key, question, fn, rtol, atol)
        return fn
    return deco


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for m in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{m.name}")
        _loaded = True


def _get(key: str) -> _Exercise:
    _load_all()
    if key not in _REGISTRY:
        near = [k for k in _REGISTRY if k.split("-")[0] == key.split("-")[0]] or sorted(_REGISTRY)[:5]
        raise ValueError(f"check: no exercise named {key!r}; known keys include {near}.")
    return _REGISTRY[key]


def _equal(got, want, rtol, atol) -> bool:
    if isinstance(want, (str, bool, type(None))):
        return got == want
    if isinstance(want, (tuple, list)) and any(isinstance(w, str) for w in want):
        return tuple(got) == tuple(want)
    try:
        g = np.asarray(got, dtype=np.float64)
        w = np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        return got == want
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=rtol, atol=atol))


def check(key: str, answer, quiet: bool = False) -> bool:
    """Print whether `answer` solves exercise `key`, and return True or False."""
    ex = _get(key)
    ok = _equal(answer, ex.answer(), ex.rtol, ex.atol)
    if not quiet:
        shape = f" (shape {np.shape(answer)})" if np.ndim(answer) else ""
        print(f"{'Correct' if ok else 'Not yet'}: {ex.question}{'' if ok else ' — your answer ' + repr(answer if np.ndim(answer) == 0 else '')+ shape + ' differs; try again.'}")
    return ok


def solution(key: str):
    """The expected answer, computed by the library."""
    return _get(key).answer()


def list_exercises() -> list:
    _load_all()
    return [(e.key, e.question) for e in _REGISTRY.values()]
