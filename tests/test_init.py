"""cnnbook.init against torch.nn.init: gains, fans, and the statistics of large filled tensors."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnbook import init  # noqa: E402

SHAPES = [(256, 128, 3, 3), (512, 300), (64, 32, 5, 1)]


@pytest.mark.parametrize("nl, param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                       ("tanh", None), ("relu", None), ("leaky_relu", None),
                                       ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                                       ("selu", None)])
def test_gain_matches_torch(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param),
                                                           abs=1e-15)


@pytest.mark.parametrize("shape", SHAPES + [(7, 3)], ids=str)
def test_fans_match_torch(shape):
    from torch.nn.init import _calculate_fan_in_and_fan_out
    assert init.fan_in_and_fan_out(np.empty(shape)) == _calculate_fan_in_and_fan_out(
        torch.empty(shape))


def _stats(a):
    a = np.asarray(a, dtype=np.float64).ravel()
    return a.mean(), a.std(), np.abs(a).max()


CASES = [
    ("xavier_uniform_", dict(), dict()),
    ("xavier_uniform_", dict(gain=5 / 3), dict(gain=5 / 3)),
    ("xavier_normal_", dict(gain=math.sqrt(2)), dict(gain=math.sqrt(2))),
    ("kaiming_uniform_", dict(), dict()),
    ("kaiming_uniform_", dict(a=math.sqrt(5)), dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu"),
     dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(), dict()),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu"),
     dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(a=0.1, nonlinearity="leaky_relu"), dict(a=0.1)),
]


@pytest.mark.parametrize("name, ours_kw, torch_kw", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_statistics_match_torch(name, ours_kw, torch_kw, shape):
    w = np.empty(shape, dtype=np.float64)
    out = getattr(init, name)(w, rng=np.random.default_rng(1), **ours_kw)
    assert out is w                                     # filled in place and returned
    torch.manual_seed(1)
    t = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.float64), **torch_kw)
    m_o, s_o, max_o = _stats(w)
    m_t, s_t, max_t = _stats(t.numpy())
    n = w.size
    assert abs(m_o) < 6 * s_t / math.sqrt(n) and abs(m_t) < 6 * s_t / math.sqrt(n)
    assert s_o == pytest.approx(s_t, rel=0.02)          # n >= 2048: sampling error well under 2 %
    if name.endswith("uniform_"):
        # the bound: both maxima lie just under the same bound a = sqrt(3) * std
        bound = math.sqrt(3) * s_t
        assert max_o <= bound * 1.02 and max_o > bound * 0.97
        assert max_t <= bound * 1.02 and max_t > bound * 0.97


def test_std_formulas_exact():
    w = np.empty((200, 100, 3, 3))
    fan_in, fan_out = 900, 1800
    init.kaiming_normal_(w, nonlinearity="relu", rng=0)
    assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.01)
    init.xavier_uniform_(w, rng=0)
    assert np.abs(w).max() <= math.sqrt(6 / (fan_in + fan_out))
    assert w.std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.01)


def test_default_layer_init_is_kaiming_uniform_sqrt5():
    """PyTorch's nn.Linear/Conv2d default bound, and ours, equal default_bound = 1/sqrt(fan_in)."""
    import cnnbook as cb
    for ours, theirs in [(cb.nn.Conv2d(6, 16, 5), torch.nn.Conv2d(6, 16, 5)),
                         (cb.nn.Linear(400, 120), torch.nn.Linear(400, 120))]:
        w = ours.weight.data
        b = init.default_bound(w)
        assert b == pytest.approx(1 / math.sqrt(init.fan_in_and_fan_out(w)[0]), rel=1e-12)
        tw = theirs.weight.detach().numpy()
        assert np.abs(w).max() <= b and np.abs(tw).max() <= b
        assert np.abs(w).max() > 0.95 * b and np.abs(tw).max() > 0.95 * b


def test_seeded_and_dtype_kept():
    a = init.kaiming_uniform_(np.empty((8, 4), np.float32), rng=3)
    b = init.kaiming_uniform_(np.empty((8, 4), np.float32), rng=np.random.default_rng(3))
    assert a.dtype == np.float32 and np.array_equal(a, b)


def test_errors():
    with pytest.raises(ValueError, match="xavier_uniform_: fan in.*shape \\(5,\\)"):
        init.xavier_uniform_(np.empty(5))
    with pytest.raises(TypeError, match="kaiming_normal_: w must be a NumPy array"):
        init.kaiming_normal_([[1.0, 2.0]])
    with pytest.raises(TypeError, match="floating-point"):
        init.xavier_normal_(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(np.empty((2, 2)), mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.kaiming_uniform_(np.empty((2, 2)), nonlinearity="swish")
    with pytest.raises(TypeError, match="rng must be"):
        init.xavier_uniform_(np.empty((2, 2)), rng="seed")
    ro = np.empty((2, 2))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        init.xavier_uniform_(ro)
