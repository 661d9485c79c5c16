"""Pooling: PyTorch comparisons, loop versions, finite differences, known answers, bad input."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

from conftest import assert_matches_torch  # noqa: E402

import cnnbook.pool as P  # noqa: E402
from cnnbook import fast  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402


def _id(k, s, p, d=1, ceil=False):
    return f"k{k}-s{s}-p{p}-d{d}" + ("-ceil" if ceil else "")


# (kernel_size, stride, padding, dilation, ceil_mode)
MAX_GRID = [
    (2, None, 0, 1, False),        # the classic non-overlapping 2x2
    (3, 2, 1, 1, False),           # overlapping (AlexNet)
    (3, 1, 1, 1, False),           # heavily overlapping
    (3, 2, 0, 1, False),           # non-tiling stride on H=9, W=8
    (1, 2, 0, 1, False),           # kernel smaller than stride
    (2, 3, 0, 1, False),
    (2, 3, 1, 1, True),
    ((3, 2), (2, 1), (1, 0), 1, False),   # non-square kernel and stride
    ((2, 3), (1, 2), (0, 1), 1, True),
    (3, 1, 1, 2, False),           # dilation
    (2, 2, 1, (2, 1), False),
    (3, 2, 1, 1, True),            # ceil_mode with a partial last window
    (2, 2, 0, 1, True),            # ceil_mode on odd H
]
MAX_IDS = [_id(*c[:4], ceil=c[4]) for c in MAX_GRID]


def _image(kind, shape=(2, 3, 9, 8), seed=0):
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.standard_normal(shape)
    if kind == "integer":                       # many exact ties
        return rng.integers(0, 3, size=shape).astype(np.float64)
    return np.full(shape, 1.5)                  # constant: every window is one big tie


@pytest.mark.parametrize("kind", ["random", "integer", "constant"])
@pytest.mark.parametrize("k,s,p,d,ceil", MAX_GRID, ids=MAX_IDS)
def test_max_pool2d_matches_torch(device, kind, k, s, p, d, ceil):
    x = _image(kind)
    assert_matches_torch(lambda a: P.max_pool2d_forward(a, k, s, p, d, ceil), P.max_pool2d_backward,
                         lambda t: TF.max_pool2d(t, k, s, p, d, ceil), [x], device=device)


@pytest.mark.parametrize("k,s,p,d,ceil", MAX_GRID, ids=MAX_IDS)
def test_max_pool2d_indices_and_naive(k, s, p, d, ceil):
    x = _image("integer")
    out, idx = P.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    t_out, t_idx = TF.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil, return_indices=True)
    np.testing.assert_array_equal(idx, t_idx.numpy())
    np.testing.assert_array_equal(out, P.max_pool2d_naive(x, k, s, p, d, ceil))


def test_max_pool2d_fast_path_float32_and_nan(device):
    x = _image("integer", (2, 4, 8, 10)).astype(np.float32)
    c = assert_matches_torch(lambda a: P.max_pool2d_forward(a, 2), P.max_pool2d_backward,
                             lambda t: TF.max_pool2d(t, 2), [x], device=device, dtype=np.float32)
    assert c.out_err == 0 and c.grad_errs == (0.0,)     # routing is exact, not approximate
    assert P.max_pool2d(x, 2).dtype == np.float32
    y = _image("random", (1, 1, 4, 4))
    y[0, 0, 0, 1] = np.nan
    out, idx = P.max_pool2d(y, 2, return_indices=True)
    t_out, t_idx = TF.max_pool2d(torch.from_numpy(y), 2, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())   # NaN propagates (equal_nan by default)
    np.testing.assert_array_equal(idx, t_idx.numpy())


AVG_GRID = [
    (2, None, 0, False), (3, 2, 1, False), (3, 1, 1, False), (3, 2, 0, False), (1, 2, 0, False),
    (2, 3, 0, False), (2, 3, 1, True), ((3, 2), (2, 1), (1, 0), False), ((2, 3), (1, 2), (0, 1), True),
    (3, 2, 1, True), (2, 2, 0, True), (3, 3, 1, True),
]
AVG_IDS = [_id(k, s, p, ceil=c) for k, s, p, c in AVG_GRID]


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["incpad", "exclpad"])
@pytest.mark.parametrize("k,s,p,ceil", AVG_GRID, ids=AVG_IDS)
def test_avg_pool2d_matches_torch_and_naive(device, k, s, p, ceil, count_include_pad):
    x = _image("random")
    assert_matches_torch(lambda a: P.avg_pool2d_forward(a, k, s, p, ceil, count_include_pad),
                         P.avg_pool2d_backward,
                         lambda t: TF.avg_pool2d(t, k, s, p, ceil, count_include_pad), [x],
                         device=device)
    np.testing.assert_allclose(P.avg_pool2d_naive(x, k, s, p, ceil, count_include_pad),
                               P.avg_pool2d(x, k, s, p, ceil, count_include_pad), rtol=0, atol=1e-12)


@pytest.mark.parametrize("p", [1, 2, 3, 1.5, float("inf")])
@pytest.mark.parametrize("k,s,ceil", [(2, None, False), (3, 2, False), ((3, 2), (1, 2), False),
                                      (2, 3, True)], ids=["k2-s2", "k3-s2", "k32-s12", "k2-s3-ceil"])
def test_lp_pool2d_matches_torch(device, p, k, s, ceil):
    x = _image("random")
    if p not in (1, 2, float("inf")):
        x = np.abs(x) + 0.1            # fractional powers need non-negative inputs
    assert_matches_torch(lambda a: P.lp_pool2d_forward(a, p, k, s, ceil), P.lp_pool2d_backward,
                         lambda t: TF.lp_pool2d(t, p, k, s, ceil), [x], device=device)


def test_lp_pool2d_definition_and_zero_windows(device):
    x = np.array([[[[0., 0., 3., 1.], [0., 0., -4., 1.]]]])
    np.testing.assert_allclose(P.lp_pool2d(x, 2, 2)[0, 0, 0], [0.0, np.sqrt(27.0)])
    np.testing.assert_allclose(P.lp_pool2d(x, 1, 2)[0, 0, 0], [0.0, 1.0])   # a sum, not a mean
    for p in (1, 2, 3):
        # The all-zero window passes no gradient, as in PyTorch (a window of zeros, p=3 on
        # the other window gives NaN from the negative sum in both libraries).
        xa = np.abs(x) if p == 3 else x
        assert_matches_torch(lambda a: P.lp_pool2d_forward(a, p, 2), P.lp_pool2d_backward,
                             lambda t: TF.lp_pool2d(t, p, 2), [xa], device=device)
        out, cache = P.lp_pool2d_forward(xa, p, 2)
        assert np.all(P.lp_pool2d_backward(np.ones_like(out), cache)[..., :2] == 0)
    assert np.isnan(P.lp_pool2d(-np.ones((1, 1, 2, 2)), 3, 2)).all()


@pytest.mark.parametrize("size", [1, 3, (4, 5), (2, None), (9, 8), (11, 3), (5, 16)],
                         ids=lambda s: f"out{s}")
def test_adaptive_avg_pool2d_matches_torch(device, size):
    x = _image("random")
    assert_matches_torch(lambda a: P.adaptive_avg_pool2d_forward(a, size),
                         P.adaptive_avg_pool2d_backward,
                         lambda t: TF.adaptive_avg_pool2d(t, size), [x], device=device)


def test_adaptive_bins_known_answer():
    # H=5 into 3 bins: rows [0,2), [1,4), [3,5) -- neighbouring bins share a row.
    x = np.arange(5.0).reshape(1, 1, 5, 1)
    np.testing.assert_allclose(P.adaptive_avg_pool2d(x, (3, 1)).ravel(), [0.5, 2.0, 3.5])


def test_global_avg_pool2d(device):
    x = _image("random")
    assert_matches_torch(P.global_avg_pool2d_forward, P.global_avg_pool2d_backward,
                         lambda t: TF.adaptive_avg_pool2d(t, 1), [x], device=device)
    assert P.global_avg_pool2d(x).shape == (2, 3, 1, 1)
    np.testing.assert_allclose(P.global_avg_pool2d(x), P.adaptive_avg_pool2d(x, 1), atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Loop versions of the backward passes: the definition, held equal to the vectorised ones

def _dout(x, out_shape, seed=3):
    return np.random.default_rng(seed).standard_normal(out_shape).astype(x.dtype)


@pytest.mark.parametrize("kind", ["random", "integer", "constant"])
@pytest.mark.parametrize("k,s,p,d,ceil", MAX_GRID, ids=MAX_IDS)
def test_max_pool2d_backward_naive_matches_vectorised(kind, k, s, p, d, ceil):
    x = _image(kind)                                  # float64; "integer"/"constant" tie a lot
    out, cache = P.max_pool2d_forward(x, k, s, p, d, ceil)
    dout = _dout(x, out.shape)
    loops = P.max_pool2d_backward_naive(dout, x, k, s, p, d, ceil)
    # Each window routes to one pixel; overlapping windows may add in another order.
    np.testing.assert_allclose(loops, P.max_pool2d_backward(dout, cache), rtol=0, atol=1e-12)
    if kind != "random":                              # ties: the torch rule, from the loops too
        xt = torch.from_numpy(x).requires_grad_(True)
        (gt,) = torch.autograd.grad(TF.max_pool2d(xt, k, s, p, d, ceil), xt, torch.from_numpy(dout))
        np.testing.assert_allclose(loops, gt.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["incpad", "exclpad"])
@pytest.mark.parametrize("k,s,p,ceil", AVG_GRID, ids=AVG_IDS)
def test_avg_pool2d_backward_naive_matches_vectorised(k, s, p, ceil, count_include_pad):
    x = _image("random")
    out, cache = P.avg_pool2d_forward(x, k, s, p, ceil, count_include_pad)
    dout = _dout(x, out.shape)
    np.testing.assert_allclose(
        P.avg_pool2d_backward_naive(dout, x, k, s, p, ceil, count_include_pad),
        P.avg_pool2d_backward(dout, cache), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (2, 3, 9, 11), (1, 1, 2, 2), (3, 5, 7, 6)],
                         ids=["even", "odd", "one-window", "odd-H"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_2x2_path_equals_loops_and_torch_exactly(shape, dtype):
    x = _image("integer", shape).astype(dtype)        # values 0..3: three ties in most windows
    out, cache = P.max_pool2d_forward(x, 2)
    assert cache.wins is not None                      # the 2x2/stride-2 path was taken
    dout = _dout(x, out.shape)
    dx = P.max_pool2d_backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, P.max_pool2d_backward_naive(dout, x, 2))
    np.testing.assert_array_equal(out, P.max_pool2d_naive(x, 2))
    xt = torch.from_numpy(x).requires_grad_(True)
    (gt,) = torch.autograd.grad(TF.max_pool2d(xt, 2), xt, torch.from_numpy(dout))
    np.testing.assert_array_equal(dx, gt.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_2x2_several_blocks_like_torch(dtype):
    x = np.random.default_rng(4).integers(0, 4, (3, 50, 64, 63)).astype(dtype)   # odd W
    size, blocks = fast._blocks(150, 64 * 62 * x.itemsize)
    assert len(blocks) > 1 and blocks[-1].stop - blocks[-1].start < size   # a partial last block
    out, cache = P.max_pool2d_forward(x, 2)
    dout = _dout(x, out.shape)
    dx = P.max_pool2d_backward(dout, cache)
    xt = torch.from_numpy(x).requires_grad_(True)
    t_out, t_idx = TF.max_pool2d(xt, 2, return_indices=True)
    (gt,) = torch.autograd.grad(t_out, xt, torch.from_numpy(dout))
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    np.testing.assert_array_equal(dx, gt.numpy())
    np.testing.assert_array_equal(P.max_pool2d(x, 2, return_indices=True)[1], t_idx.numpy())


# The fast path (cnnbook/fast.py) against the reference code, bit for bit: outputs, winning
# taps, flat indices and gradients, NaN and infinities included (NaN compares equal here).

def _special(kind, shape, dtype, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=shape).astype(dtype)        # values 0..2: ties everywhere
    if kind == "nan":                                       # NaN wins, the last one in scan
        x[rng.random(shape) < 0.2] = np.nan
    elif kind == "inf":
        x[rng.random(shape) < 0.15] = np.inf
        x[rng.random(shape) < 0.15] = -np.inf
    elif kind == "constant":
        x[...] = -np.inf if dtype == np.float64 else 1.5     # all -inf: first tap inside
    return x


@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (2, 3, 9, 11), (1, 1, 2, 2), (3, 5, 7, 6),
                                   (0, 3, 8, 8), (2, 0, 8, 8), (3, 50, 64, 63)],
                         ids=["even", "odd", "one-window", "odd-H", "N=0", "C=0", "blocks"])
@pytest.mark.parametrize("kind", ["integer", "nan", "inf", "constant"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_fast_path_equals_reference_exactly(shape, kind, dtype):
    x = _special(kind, shape, dtype)
    out, cache = P.max_pool2d_forward(x, 2)
    with fast.disabled():
        ref_out, ref_cache = P.max_pool2d_forward(x, 2)
    assert cache.wins is not None and ref_cache.wins is None       # two different paths
    assert out.dtype == ref_out.dtype == dtype and out.shape == ref_out.shape
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(P._taps(cache), ref_cache.argmax)
    np.testing.assert_array_equal(P._flat_indices(cache), P._flat_indices(ref_cache))
    douts = [_dout(x, out.shape)]
    if out.size:                                    # inf and NaN upstream: inf * 0 is NaN
        d = _dout(x, out.shape, seed=4)
        d.flat[::7], d.flat[3::11] = np.inf, np.nan
        douts.append(d)
    for dout in douts:
        dx = P.max_pool2d_backward(dout, cache)
        assert dx.dtype == dtype and dx.shape == x.shape
        np.testing.assert_array_equal(dx, P.max_pool2d_backward(dout, ref_cache))


# Any other window (the scan on stride phases): the reference bit for bit, over geometries
SCAN = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=1, padding=1),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
        dict(kernel_size=3, stride=2, padding=1, dilation=2),
        dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, stride=3),
        dict(kernel_size=(1, 4), stride=(3, 2), padding=(0, 2), ceil_mode=True)]


@pytest.mark.parametrize("kw", SCAN, ids=["3s2p1", "3s1p1", "rect", "dil2", "ceil", "2s3",
                                          "1x4-ceil"])
@pytest.mark.parametrize("kind", ["integer", "nan", "inf", "constant"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_scan_path_equals_reference_exactly(kw, kind, dtype):
    for shape in [(2, 3, 9, 11), (3, 2, 8, 8), (0, 3, 8, 8), (1, 1, 5, 5)]:
        x = _special(kind, shape, dtype)
        out, cache = P.max_pool2d_forward(x, **kw)
        with fast.disabled():
            ref_out, ref_cache = P.max_pool2d_forward(x, **kw)
        if kind == "integer" and x.size:                  # NaN / -inf windows: the reference
            assert cache.argmax.dtype == np.uint8 and ref_cache.argmax.dtype == np.intp
        assert out.dtype == ref_out.dtype == dtype and out.shape == ref_out.shape
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(P._taps(cache), ref_cache.argmax)
        np.testing.assert_array_equal(P._flat_indices(cache), P._flat_indices(ref_cache))
        douts = [_dout(x, out.shape)]
        if out.size:                                      # inf and NaN upstream
            d = _dout(x, out.shape, seed=4)
            d.flat[::7], d.flat[3::11] = np.inf, np.nan
            douts.append(d)
        for dout in douts:
            dx = P.max_pool2d_backward(dout, cache)
            with fast.disabled():
                ref_dx = P.max_pool2d_backward(dout, ref_cache)
            assert dx.dtype == dtype and dx.shape == x.shape
            np.testing.assert_array_equal(dx, ref_dx)


def test_max_pool2d_scan_path_ties_go_to_the_first_maximum():
    # 3x3 windows holding their maximum 1 on every non-empty subset of the 9 pixels
    patterns = np.array([[(m >> t) & 1 for t in range(9)] for m in range(1, 512)], float)
    x = patterns.reshape(511, 1, 3, 3)
    out, cache = P.max_pool2d_forward(x, 3)
    assert cache.argmax.dtype == np.uint8                  # the scan took it
    np.testing.assert_array_equal(cache.argmax.reshape(-1), np.argmax(patterns, axis=1))
    dx = P.max_pool2d_backward(np.ones((511, 1, 1, 1)), cache)
    np.testing.assert_array_equal(P.max_pool2d_backward_naive(np.ones((511, 1, 1, 1)), x, 3), dx)


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_max_pool2d_fast_path_non_finite_like_torch(kind):
    x = _special(kind, (2, 3, 6, 9), np.float64)
    out, idx = P.max_pool2d(x, 2, return_indices=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    t_out, t_idx = TF.max_pool2d(xt, 2, return_indices=True)
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    np.testing.assert_array_equal(idx, t_idx.numpy())
    dout = _dout(x, out.shape)
    (gt,) = torch.autograd.grad(t_out, xt, torch.from_numpy(dout))
    np.testing.assert_array_equal(P.max_pool2d_backward(dout, P.max_pool2d_forward(x, 2)[1]),
                                  gt.numpy())


def test_fast_disabled_restores_the_setting():
    x = _image("integer", (1, 2, 4, 4))
    with pytest.raises(RuntimeError):
        with fast.disabled():
            assert P.max_pool2d_forward(x, 2)[1].wins is None
            raise RuntimeError("leaves the block")
    assert P.max_pool2d_forward(x, 2)[1].wins is not None


def test_max_pool2d_2x2_every_tie_pattern():
    # Every non-empty set of pixels of a window holding the maximum 1 (the rest 0): the gradient
    # goes to the first maximum in row-major order.
    patterns = np.array([[(m >> t) & 1 for t in range(4)] for m in range(1, 16)], float)
    x = patterns.reshape(15, 1, 2, 2)
    dx = P.max_pool2d_backward(np.ones((15, 1, 1, 1)), P.max_pool2d_forward(x, 2)[1])
    first = np.zeros((15, 4))
    first[np.arange(15), np.argmax(patterns, axis=1)] = 1.0      # argmax: first maximum
    np.testing.assert_array_equal(dx.reshape(15, 4), first)
    np.testing.assert_array_equal(P.max_pool2d_backward_naive(np.ones((15, 1, 1, 1)), x, 2), dx)


def test_max_pool2d_backward_non_finite_dout_like_torch():
    x = _image("integer", (1, 2, 4, 6))
    out, cache = P.max_pool2d_forward(x, 2)
    dout = _dout(x, out.shape)
    dout[0, 0, 0, 0], dout[0, 1, 1, 2] = np.inf, np.nan   # inf * 0 must not leak NaN around
    dx = P.max_pool2d_backward(dout, cache)
    xt = torch.from_numpy(x).requires_grad_(True)
    (gt,) = torch.autograd.grad(TF.max_pool2d(xt, 2), xt, torch.from_numpy(dout))
    np.testing.assert_array_equal(dx, gt.numpy())
    np.testing.assert_array_equal(P.max_pool2d_backward_naive(dout, x, 2), dx)
    assert np.isnan(dx).sum() == 1 and np.isinf(dx).sum() == 1


def test_max_pool2d_no_state_between_calls():
    # Calls of different shapes and dtypes, interleaved, each equal to the loops.
    rng = np.random.default_rng(5)
    xs = [rng.integers(0, 3, shape).astype(dt) for shape, dt in
          [((2, 2, 6, 6), np.float64), ((1, 3, 4, 8), np.float32), ((2, 2, 6, 6), np.float32)]]
    caches = [P.max_pool2d_forward(x, 2) for x in xs]
    for x, (out, cache) in zip(xs, caches):
        dout = _dout(x, out.shape)
        np.testing.assert_array_equal(P.max_pool2d_backward(dout, cache),
                                      P.max_pool2d_backward_naive(dout, x, 2))


@pytest.mark.parametrize("shape", [(0, 3, 8, 8), (2, 0, 8, 8)], ids=["N=0", "C=0"])
@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1)], ids=["2x2", "3x3-s2-p1"])
def test_max_pool2d_empty_batch_or_channels(shape, k, s, p):
    x = np.zeros(shape)
    out, cache = P.max_pool2d_forward(x, k, s, p)
    assert out.shape == shape[:2] + (4, 4)
    assert P.max_pool2d_backward(np.zeros(out.shape), cache).shape == shape
    assert P.max_pool2d_backward_naive(np.zeros(out.shape), x, k, s, p).shape == shape


EMPTY_POOLS = {
    "max-3-2-1": (lambda a: P.max_pool2d_forward(a, 3, 2, 1), P.max_pool2d_backward,
                  lambda t: TF.max_pool2d(t, 3, 2, 1)),
    "max-2x2": (lambda a: P.max_pool2d_forward(a, 2), P.max_pool2d_backward,
                lambda t: TF.max_pool2d(t, 2)),
    "avg-3-2-1-ceil": (lambda a: P.avg_pool2d_forward(a, 3, 2, 1, True, False),
                       P.avg_pool2d_backward, lambda t: TF.avg_pool2d(t, 3, 2, 1, True, False)),
    "lp2": (lambda a: P.lp_pool2d_forward(a, 2, 3, 2), P.lp_pool2d_backward,
            lambda t: TF.lp_pool2d(t, 2, 3, 2)),
    "adaptive": (lambda a: P.adaptive_avg_pool2d_forward(a, (3, 2)),
                 P.adaptive_avg_pool2d_backward, lambda t: TF.adaptive_avg_pool2d(t, (3, 2))),
    "global": (P.global_avg_pool2d_forward, P.global_avg_pool2d_backward,
               lambda t: TF.adaptive_avg_pool2d(t, 1)),
}


@pytest.mark.parametrize("op", list(EMPTY_POOLS))
def test_pooling_empty_batch_like_torch(op):
    fwd, bwd, torch_fn = EMPTY_POOLS[op]
    x = np.zeros((0, 3, 8, 7))
    out, cache = fwd(x)
    assert out.shape == tuple(torch_fn(torch.from_numpy(x)).shape)
    assert bwd(np.zeros(out.shape), cache).shape == x.shape
    assert_matches_torch(fwd, bwd, torch_fn, [x])
    # no channels: PyTorch's backward refuses them; ours gives the shapes of the N=0 case
    x = np.zeros((2, 0, 8, 7))
    out_c, cache = fwd(x)
    assert out_c.shape == (2, 0) + out.shape[2:]
    assert bwd(np.zeros(out_c.shape), cache).shape == x.shape


def test_backward_naive_bad_dout():
    x = _image("random")
    with pytest.raises(ValueError, match="max_pool2d_backward_naive: dout must have the shape"):
        P.max_pool2d_backward_naive(np.zeros((2, 3, 4, 5)), x, 2)     # out is (2, 3, 4, 4)
    with pytest.raises(ValueError, match="avg_pool2d_backward_naive: dout must have the shape"):
        P.avg_pool2d_backward_naive(np.zeros((2, 3, 5, 4)), x, 2)


# ---------------------------------------------------------------------------------------------
# Finite differences (inputs without ties for max pooling)

def _no_ties(shape, seed=1):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))       # distinct values in [0, 1), at least 1/n apart
    return rng.permutation(n).reshape(shape) / n + rng.uniform(0, 0.1 / n, shape)


@pytest.mark.parametrize("op", ["max", "avg", "lp2", "lp3", "adaptive", "global", "roi"])
def test_finite_differences(op):
    x = _no_ties((2, 2, 7, 6))
    fwd = {
        "max": lambda a: P.max_pool2d_forward(a, 3, 2, 1, 1, True),
        "avg": lambda a: P.avg_pool2d_forward(a, 3, 2, 1, True, False),
        "lp2": lambda a: P.lp_pool2d_forward(a + 0.5, 2, 2, 1),     # away from 0
        "lp3": lambda a: P.lp_pool2d_forward(a + 0.5, 3, (3, 2), 2),
        "adaptive": lambda a: P.adaptive_avg_pool2d_forward(a, (4, 5)),
        "global": P.global_avg_pool2d_forward,
        "roi": lambda a: P.roi_pool_forward(a, np.array([[0, 0, 0, 4, 5], [1, 1, 2, 5, 6.]]), 2),
    }[op]
    bwd = {"max": P.max_pool2d_backward, "avg": P.avg_pool2d_backward,
           "lp2": P.lp_pool2d_backward, "lp3": P.lp_pool2d_backward,
           "adaptive": P.adaptive_avg_pool2d_backward, "global": P.global_avg_pool2d_backward,
           "roi": P.roi_pool_backward}[op]
    errs = check_gradients(fwd, bwd, [x])
    assert errs["d0"] < 1e-6, errs     # central differences in float64: ~1e-10 absolute


# ---------------------------------------------------------------------------------------------
# Known answers

def test_known_answers_pool_sizes():
    x = np.arange(4 * 4 * 3, dtype=np.float64).reshape(1, 3, 4, 4)   # a 4x4xD input, D=3
    out = P.max_pool2d(x, 2)
    assert out.shape == (1, 3, 2, 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 7], [13, 15]])
    assert out.size / x.size == 0.25                                  # 2x2/stride 2 keeps 25 %
    assert P.max_pool2d(x, 2, stride=1).shape == (1, 3, 3, 3)          # stride 1 on 4x4 gives 3x3
    np.testing.assert_array_equal(P.avg_pool2d(x, 2)[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_max_pool2d_first_max_gets_the_gradient():
    x = np.array([[[[1., 3., 3., 0.], [3., 2., 0., 0.]]]])
    out, cache = P.max_pool2d_forward(x, 2)
    dx = P.max_pool2d_backward(np.array([[[[10., 20.]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 10, 20, 0], [0, 0, 0, 0]])
    out, cache = P.max_pool2d_forward(x, (2, 2), stride=1)   # overlapping windows accumulate
    dx = P.max_pool2d_backward(np.ones((1, 1, 1, 3)), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 2, 1, 0], [0, 0, 0, 0]])


def test_integer_input_computed_in_float64():
    x = np.arange(16).reshape(1, 1, 4, 4)
    assert P.max_pool2d(x, 2).dtype == np.float64
    np.testing.assert_array_equal(P.avg_pool2d(x, 2), [[[[2.5, 4.5], [10.5, 12.5]]]])


# ---------------------------------------------------------------------------------------------
# RoI pooling: an independent scalar loop of torchvision's kernel, and hand-computed answers

def _roi_pool_loops(x, boxes, ph, pw, scale):
    N, C, H, W = x.shape
    out = np.zeros((len(boxes), C, ph, pw))
    for k, (b, x1, y1, x2, y2) in enumerate(boxes):
        rnd = lambda v: int(np.floor(v * scale + 0.5))        # boxes here are non-negative
        sw, sh, ew, eh = rnd(x1), rnd(y1), rnd(x2), rnd(y2)
        rh, rw = max(eh - sh + 1, 1), max(ew - sw + 1, 1)
        for c in range(C):
            for i in range(ph):
                for j in range(pw):
                    h0 = min(max(int(np.floor(i * rh / ph)) + sh, 0), H)
                    h1 = min(max(int(np.ceil((i + 1) * rh / ph)) + sh, 0), H)
                    w0 = min(max(int(np.floor(j * rw / pw)) + sw, 0), W)
                    w1 = min(max(int(np.ceil((j + 1) * rw / pw)) + sw, 0), W)
                    best = 0.0 if (h1 <= h0 or w1 <= w0) else -np.inf
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            best = max(best, x[int(b), c, h, w])
                    out[k, c, i, j] = best
    return out


def test_roi_pool_hand_computed():
    # A 7-wide, 5-tall region (x 0..6, y 0..4) pooled to 2x2: rows split [0,3) and [2,5)
    # (height 5/2 = 2.5 per bin), columns [0,4) and [3,7) (7/2 = 3.5 per bin).
    x = np.arange(8 * 8, dtype=np.float64).reshape(1, 1, 8, 8)
    x[0, 0, 1, 2] = 100.0                      # top-left bin's max
    boxes = np.array([[0, 0, 0, 6, 4]])
    out = P.roi_pool(x, boxes, 2)
    np.testing.assert_array_equal(out[0, 0], [[100, 2 * 8 + 6], [4 * 8 + 3, 4 * 8 + 6]])
    # Scaling: image box (0, 0, 12.9, 8.6) at scale 0.5 rounds to the same 7x5 region.
    np.testing.assert_array_equal(P.roi_pool(x, np.array([[0, 0, 0, 12.9, 8.6]]), 2, 0.5), out)
    # A box entirely off the map has empty bins: 0.
    np.testing.assert_array_equal(P.roi_pool(x, np.array([[0, 20, 20, 30, 30.]]), 2), 0)


def test_roi_pool_matches_loops_and_gradient():
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, size=(2, 3, 10, 12)).astype(np.float64)   # ties included
    boxes = np.array([[0, 1, 1, 8, 6], [1, 0.4, 2.5, 11, 9.5], [0, 3, 3, 3, 3],
                      [1, 6, 6, 20, 20], [0, 2, 1, 9, 9.2]])
    for size, scale in [((2, 2), 1.0), ((3, 4), 1.0), ((2, 3), 0.5), ((7, 7), 1.0)]:
        out, cache = P.roi_pool_forward(x, boxes, size, scale)
        np.testing.assert_array_equal(out, _roi_pool_loops(x, boxes, *size, scale))
        dout = rng.standard_normal(out.shape)
        dx = P.roi_pool_backward(dout, cache)
        # Adjoint: sum(out * dout) equals sum(x * dx) because each output copies one pixel.
        np.testing.assert_allclose(np.sum(out * dout), np.sum(x * dx), rtol=1e-12)
        assert np.count_nonzero(dx) <= out.size


# ---------------------------------------------------------------------------------------------
# Bad input

@pytest.mark.parametrize("call,words", [
    (lambda x: P.max_pool2d(x, 0), ["max_pool2d", "kernel_size", "0"]),
    (lambda x: P.max_pool2d(x, 2.5), ["max_pool2d", "kernel_size", "2.5"]),
    (lambda x: P.max_pool2d(x, 2, stride=0), ["max_pool2d", "stride=0"]),
    (lambda x: P.max_pool2d(x, 2, dilation=0), ["max_pool2d", "dilation=0"]),
    (lambda x: P.max_pool2d(x, 3, padding=-1), ["max_pool2d", "padding", "-1"]),
    (lambda x: P.max_pool2d(x, 3, padding=2), ["max_pool2d", "padding=2", "kernel_size=3"]),
    (lambda x: P.avg_pool2d(x, 12), ["avg_pool2d", "12", "9"]),
    (lambda x: P.max_pool2d(x[0], 2), ["max_pool2d", "4-D", "3-D"]),
    (lambda x: P.max_pool2d(x, 3, stride=2, strict=True), ["max_pool2d", "unused", "W=8"]),
    (lambda x: P.avg_pool2d(x, 2, strict=True), ["avg_pool2d", "unused", "H=9"]),
    (lambda x: P.lp_pool2d(x, 0, 2), ["lp_pool2d", "norm_type"]),
    (lambda x: P.adaptive_avg_pool2d(x, 0), ["adaptive_avg_pool2d", "output_size", "0"]),
    (lambda x: P.roi_pool(x, np.array([[5, 0, 0, 3, 3]]), 2), ["roi_pool", "5", "N=2"]),
    (lambda x: P.roi_pool(x, np.array([0, 0, 0, 3, 3]), 2), ["roi_pool", "(K, 5)", "(5,)"]),
    (lambda x: P.roi_pool(x, np.array([[0, 0, 0, 3, 3]]), 2, 0), ["roi_pool", "spatial_scale"]),
    (lambda x: P.max_pool2d("x", 2), ["max_pool2d", "str"]),
])
def test_bad_input_messages(call, words):
    x = _image("random")
    before = x.copy()
    with pytest.raises((ValueError, TypeError)) as e:
        call(x)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("scale,err", [("1/16", TypeError), (None, TypeError),
                                       (True, TypeError), (0, ValueError), (-0.5, ValueError),
                                       (float("inf"), ValueError)])
def test_roi_pool_spatial_scale_type_and_value(scale, err):
    x = _image("random")
    with pytest.raises(err, match=f"roi_pool: spatial_scale .*got spatial_scale={scale!r}"):
        P.roi_pool(x, np.array([[0, 0, 0, 3, 3]]), 2, scale)


def test_strict_passes_on_tiling():
    x = _image("random", (1, 2, 8, 8))
    np.testing.assert_array_equal(P.max_pool2d(x, 2, strict=True), P.max_pool2d(x, 2))
    np.testing.assert_array_equal(P.avg_pool2d(x, 3, 1, 1, strict=True), P.avg_pool2d(x, 3, 1, 1))
    with pytest.raises(ValueError, match="max_pool2d: kernel_size=3, stride=2 leave 1 row"):
        P.max_pool2d(x, 3, 2, strict=True)


def test_inputs_unchanged_by_every_op():
    x = _image("integer", (1, 2, 6, 6))
    boxes = np.array([[0, 0, 0, 5, 5.]])
    copies = x.copy(), boxes.copy()
    for fwd, bwd in [(lambda: P.max_pool2d_forward(x, 2), P.max_pool2d_backward),
                     (lambda: P.max_pool2d_forward(x, 3, 1, 1), P.max_pool2d_backward),
                     (lambda: P.avg_pool2d_forward(x, 3, 2, 1), P.avg_pool2d_backward),
                     (lambda: P.lp_pool2d_forward(x, 2, 2), P.lp_pool2d_backward),
                     (lambda: P.adaptive_avg_pool2d_forward(x, 4), P.adaptive_avg_pool2d_backward),
                     (lambda: P.global_avg_pool2d_forward(x), P.global_avg_pool2d_backward),
                     (lambda: P.roi_pool_forward(x, boxes, 2), P.roi_pool_backward)]:
        out, cache = fwd()
        dout = np.random.default_rng(0).standard_normal(out.shape)
        d_copy = dout.copy()
        bwd(dout, cache)
        np.testing.assert_array_equal(dout, d_copy)
    np.testing.assert_array_equal(x, copies[0])
    np.testing.assert_array_equal(boxes, copies[1])


def test_functional_reexports():
    F = pytest.importorskip("cnnbook.functional")   # needs every layer module to be present
    for name in ("max_pool2d", "avg_pool2d_backward", "roi_pool", "max_pool2d_naive",
                 "max_pool2d_backward_naive", "avg_pool2d_backward_naive"):
        assert getattr(F, name) is getattr(P, name)
