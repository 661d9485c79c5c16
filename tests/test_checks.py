"""The shared argument checks and the library's random generator (``cb.manual_seed``)."""
import re

import numpy as np
import pytest

import cnnbook as cb
from cnnbook import _checks
from cnnbook.nn import Conv2d, Linear


def test_layers_without_rng_draw_different_weights():
    cb.manual_seed(0)
    a, b = Linear(8, 4), Linear(8, 4)
    assert not np.array_equal(a.weight.data, b.weight.data)


def test_manual_seed_repeats_the_weights():
    cb.manual_seed(5)
    first = [Conv2d(3, 4, 3).weight.data for _ in range(2)]
    cb.manual_seed(5)
    again = [Conv2d(3, 4, 3).weight.data for _ in range(2)]
    for u, v in zip(first, again):
        np.testing.assert_array_equal(u, v)


def test_an_int_seed_is_independent_of_the_library_generator():
    cb.manual_seed(1)
    a = Linear(6, 3, rng=7).weight.data
    cb.manual_seed(2)
    Linear(6, 3)                                   # advances the library generator
    b = Linear(6, 3, rng=7).weight.data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, Linear(6, 3, rng=np.random.default_rng(7)).weight.data)


def test_make_rng_and_manual_seed_reject_bad_input():
    with pytest.raises(TypeError, match="f: rng must be a numpy.random.Generator or an int seed"):
        _checks.make_rng("f", "0")
    with pytest.raises(TypeError, match="f: seed must be"):
        _checks.make_rng("f", 1.5, "seed")
    with pytest.raises(ValueError, match="manual_seed: seed=-1 must be at least 0"):
        cb.manual_seed(-1)
    with pytest.raises(TypeError, match="manual_seed: seed must be an integer"):
        cb.manual_seed(True)


def test_check_dout_casts_without_touching_the_input():
    d = np.ones((2, 3))
    out = _checks.check_dout("g", d, (2, 3), np.float32)
    assert out.dtype == np.float32 and d.dtype == np.float64
    assert _checks.check_dout("g", d, (2, 3)) is d
    with pytest.raises(ValueError, match=r"g: dout must have the shape of the forward output \(3, 2\)"):
        _checks.check_dout("g", d, (3, 2))


@pytest.mark.parametrize("check, args, err, msg", [
    (_checks.check_bool, ("f", "flag", 1), TypeError, "f: flag must be True or False, got flag=1"),
    (_checks.check_real, ("f", "lr", "x", "use lr=0.1"), TypeError, "f: lr must be a real number"),
    (_checks.check_real, ("f", "lr", np.inf, "use lr=0.1"), ValueError, "f: lr must be a finite"),
    (_checks.check_positive_float, ("f", "lr", 0.0, "use lr=0.1"), ValueError, "> 0, got lr=0.0"),
    (_checks.check_int, ("f", "n", 2.0, 1, "use n=2"), TypeError, "f: n must be an integer"),
    (_checks.check_int, ("f", "n", 0, 1, "use n=2"), ValueError, "f: n=0 must be at least 1; use n=2"),
    (_checks.check_positive_int, ("f", "k", True), TypeError, "f: k must be a positive integer"),
    (_checks.check_positive_int, ("f", "k", 0), ValueError, "f: k must be a positive integer, got k=0"),
])
def test_scalar_checks_name_the_function_and_the_value(check, args, err, msg):
    with pytest.raises(err, match=msg.replace("(", r"\(").replace(")", r"\)")):
        check(*args)


def test_scalar_checks_pass_good_values_through():
    assert _checks.check_bool("f", "b", np.bool_(True)) is True
    assert _checks.check_real("f", "x", np.float32(0.5), "") == 0.5
    assert _checks.check_int("f", "n", np.int64(3), 0, "") == 3
    assert _checks.check_positive_int("f", "n", 4) == 4


def test_one_version_source():
    """pyproject.toml reads the version from cnnbook.__version__ and writes none of its own."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text
    assert 'version = {attr = "cnnbook.__version__"}' in text
    assert not re.search(r'^version\s*=\s*"', text, re.M)
    assert re.fullmatch(r"\d+\.\d+\.\d+", cb.__version__)


@pytest.mark.parametrize("value, fix", [
    ("3", "pass the number, not a string: kernel_size=3"),
    (3.0, "use kernel_size=3"),
    (2.5, "use an integer, e.g. kernel_size=2 or kernel_size=3"),
    (0.5, "use an integer, e.g. kernel_size=1"),
    (None, "use an integer, e.g. kernel_size=1"),
])
def test_pair_suggests_the_integer_that_was_meant(value, fix):
    """'3' was answered with "use e.g. kernel_size=1"; the fix now names the int meant."""
    with pytest.raises(TypeError, match=rf"f: kernel_size must be an integer .*; {re.escape(fix)}\.$"):
        _checks.pair("f", "kernel_size", value)


def test_numpy_integers_pass_and_wrong_types_raise_type_error():
    assert _checks.pair("f", "stride", np.int64(2)) == (2, 2)
    assert _checks.check_positive_int("f", "n", np.int32(3)) == 3
    with pytest.raises(TypeError, match=r"f: n must be a positive integer, got n=2.0 of type float; use n=2"):
        _checks.check_positive_int("f", "n", 2.0)
    with pytest.raises(TypeError, match="conv2d: groups must be a positive integer, got groups='2'"):
        _checks.check_channels("conv2d", 4, 2, "2", 4)
    with pytest.raises(ValueError, match="conv2d: groups must be a positive integer, got groups=0"):
        _checks.check_channels("conv2d", 4, 2, 0, 4)
    with pytest.raises(TypeError, match=r"Conv2d: in_channels must be an integer, got in_channels=3.0"):
        Conv2d(3.0, 4, 3)
    assert Conv2d(np.int64(3), np.int64(4), np.int64(3)).weight.data.shape == (4, 3, 3, 3)
