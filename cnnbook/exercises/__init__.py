"""Self-check exercises for the book's chapters.

A chapter poses a question and the reader calls ``cb.exercises.check("key", answer)``. The
check computes the right answer with the library (nothing is stored as a literal answer), then
prints whether the reader's answer is right, and returns True/False.

Each chapter registers its exercises in its own module in this package (``ch04_padding.py``,
...) with the ``@exercise`` decorator::

    @exercise("output-size-288", "Output width of a 288-pixel input, kernel 4, stride 2, no padding")
    def output_width_288_k4_s2():
        return conv_output_size(288, 4, stride=2)

The decorated function returns the expected answer. Answers compare with ``np.allclose`` for
numbers and arrays (``rtol``/``atol`` may be given to the decorator), ``==`` otherwise.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, NamedTuple

import numpy as np

from cnnbook.widgets import is_static

__all__ = ["exercise", "check", "solution", "list_exercises", "Verdict"]


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


class Verdict:
    """The result of `check`: true when the answer is right.

    It behaves as a bool (``assert check(...)``) and shows nothing as a cell's last value,
    since `check` has already printed its message.
    """
    __slots__ = ("ok",)

    def __init__(self, ok: bool):
        self.ok = bool(ok)

    def __bool__(self):
        return self.ok

    def __eq__(self, other):
        return self.ok == bool(other)

    def __hash__(self):
        return hash(self.ok)

    def __repr__(self):
        return f"Verdict({self.ok})"

    def _ipython_display_(self):
        pass


def check(key: str, answer, quiet: bool = False) -> Verdict:
    """Print whether `answer` solves exercise `key`; the returned `Verdict` is truthy if it does."""
    ex = _get(key)
    ok = answer is not None and _equal(answer, ex.answer(), ex.rtol, ex.atol)
    if not quiet:
        if ok:
            print(f"Correct: {ex.question}")
        elif answer is None:
            if is_static():  # the rendered book: nothing can run there, so no verdict to show
                return Verdict(ok)
            print(f"Not yet answered: {ex.question} Replace None with your answer and run the cell again.")
        else:
            shown = repr(answer) if np.ndim(answer) == 0 else f"an array of shape {np.shape(answer)}"
            print(f"Not yet: {ex.question} Your answer {shown} is not right; try again.")
    return Verdict(ok)


def solution(key: str):
    """The expected answer, computed by the library."""
    return _get(key).answer()


def list_exercises() -> list:
    _load_all()
    return [(e.key, e.question) for e in _REGISTRY.values()]
