"""The shared chapter arrays (cnnbook.examples) and the one coverage count every probe uses
(cb.arithmetic.window_coverage), checked against two independent computations."""
import doctest
import inspect

import numpy as np
import pytest

import cnnbook as cb
from cnnbook import examples
from cnnbook.arithmetic import window_coverage
from cnnbook.conv import col2im, im2col

GRID = [  # n, kernel_size, stride, padding, dilation
    (10, 3, 4, 0, 1), (9, 3, 3, 0, 2), (11, 2, 3, 1, 1), (7, 3, 2, 2, 2), (5, 3, 1, 0, 1),
    ((7, 9), (3, 2), (2, 3), (1, 0), (1, 2)), ((6, 5), 3, 2, 1, 1), ((8, 8), (1, 3), (3, 1), 0, (1, 2)),
]


def _as_2d(n, k, s, p, d):
    two = lambda v: tuple(v) if np.ndim(v) else (v, v)                    # noqa: E731
    if np.ndim(n) or any(np.ndim(v) for v in (k, s, p, d)):
        return tuple(map(two, (n, k, s, p, d))), False
    return ((1, n), (1, k), (1, s), (0, p), (1, d)), True


@pytest.mark.parametrize("n, k, s, p, d", GRID, ids=lambda v: str(v).replace(" ", ""))
def test_coverage_equals_the_gradient_of_the_summed_output(n, k, s, p, d):
    """d(sum of a ones-kernel convolution)/dx counts the windows that read each pixel."""
    (H, W), ks, ss, ps, ds = _as_2d(n, k, s, p, d)[0]
    one_d = _as_2d(n, k, s, p, d)[1]
    out, cache = cb.F.conv2d_forward(np.zeros((1, 1, H, W)), np.ones((1, 1) + ks), None, ss, ps, ds)
    dx = cb.F.conv2d_backward(np.ones_like(out), cache)[0][0, 0]
    want = dx[0] if one_d else dx
    got = window_coverage(n, k, s, p, d)
    assert got.dtype == np.int64 and got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("n, k, s, p, d", [g for g in GRID if np.ndim(g[0])])
def test_padded_coverage_equals_col2im_of_im2col_of_ones(n, k, s, p, d):
    """Over the padded input: send ones through im2col and back through col2im (no padding
    there, the padded input is the input)."""
    (H, W), ks, ss, ps, ds = _as_2d(n, k, s, p, d)[0]
    ones = np.ones((1, 1, H + 2 * ps[0], W + 2 * ps[1]))
    counts = col2im(im2col(ones, ks, stride=ss, dilation=ds), ones.shape, ks, stride=ss, dilation=ds)
    assert np.array_equal(window_coverage(n, k, s, p, d, padded=True), counts[0, 0])


def test_coverage_errors_name_the_function():
    with pytest.raises(ValueError, match="window_coverage"):
        window_coverage(5, 3, stride=0)
    with pytest.raises(ValueError):
        window_coverage(2, 5)                                   # the window does not fit


def test_toy_image_gives_the_classic_feature_map_and_is_read_only():
    fmap = cb.F.conv2d(examples.TOY_IMAGE_5x5[None, None], examples.X_KERNEL_3x3[None, None])
    assert fmap[0, 0].tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    for name in examples.__all__:
        value = getattr(examples, name)
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable, name
            with pytest.raises(ValueError):
                value[(0,) * value.ndim] = 9


def test_the_chapter_names_still_point_at_the_shared_arrays():
    from cnnbook.exercises import ch10_backprop
    assert ch10_backprop.X_POOL is examples.BACKPROP_X_POOL
    assert ch10_backprop.DY_POOL is examples.BACKPROP_DY_POOL


def test_every_exercise_answer_has_a_descriptive_name():
    cb.exercises.list_exercises()                              # loads every module
    names = [e.answer.__name__ for e in cb.exercises._REGISTRY.values()]
    assert names and all(n != "_" and not n.startswith("ex") for n in names)


@pytest.mark.parametrize("obj", [examples, window_coverage])
def test_docstring_examples_run(obj):
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    globs = {"window_coverage": window_coverage, **vars(examples)}
    tests = finder.find(obj, getattr(obj, "__name__", "obj"), globs=globs)
    for t in tests:
        runner.run(t)
    assert runner.tries >= 1 and runner.failures == 0
    assert inspect.getdoc(obj)
