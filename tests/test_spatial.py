"""interpolate and pad: PyTorch (float64, random upstream gradient), finite differences, known
answers and errors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402

from cnnbook import spatial as S  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402

# (input H, W, size, scale_factor): non-square, up and down, integer and non-integer factors
RESIZES = [
    ((5, 7), (10, 14), None), ((5, 7), (3, 4), None), ((6, 4), (9, 11), None),
    ((5, 7), (5, 7), None), ((4, 6), (1, 1), None), ((1, 5), (3, 8), None),
    ((5, 7), None, 2), ((6, 8), None, 0.5), ((5, 7), None, 1.7), ((9, 6), None, (0.6, 2.5)),
    ((5, 7), None, 1.1), ((5, 4), None, 2.2), ((7, 7), None, 0.3), ((4, 3), None, 3),
]
RESIZE_IDS = [f"{h}x{w}-" + (f"size{s[0]}x{s[1]}" if s else f"sf{f}") for (h, w), s, f in RESIZES]


def _modes():
    return [("nearest", None), ("bilinear", False), ("bilinear", True), ("bilinear", None)]


@pytest.mark.parametrize("hw, size, sf", RESIZES, ids=RESIZE_IDS)
@pytest.mark.parametrize("mode, ac", _modes(), ids=["nearest", "bilinear-ac0", "bilinear-ac1",
                                                    "bilinear-default"])
def test_interpolate_matches_torch(hw, size, sf, mode, ac, device, rng):
    x = rng.standard_normal((2, 3) + hw)
    kw = dict(size=size, scale_factor=sf, mode=mode, align_corners=ac)
    c = assert_matches_torch(lambda a: S.interpolate_forward(a, **kw), S.interpolate_backward,
                             lambda t: TF.interpolate(t, **kw), [x], names=["dx"], device=device)
    assert c.out_err < 1e-12 and c.grad_errs[0] < 1e-12


@pytest.mark.parametrize("sf", [1.7, 0.6, (2.5, 0.45)])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_recompute_scale_factor_matches_torch(sf, mode, rng):
    x = rng.standard_normal((1, 2, 7, 9))
    kw = dict(scale_factor=sf, mode=mode, recompute_scale_factor=True)
    assert_matches_torch(lambda a: S.interpolate_forward(a, **kw), S.interpolate_backward,
                         lambda t: TF.interpolate(t, **kw), [x], names=["dx"])


def test_interpolate_nearest_index_rule_over_many_sizes(rng):
    # every output size from 1 to 3 * input size, and many scale factors: the same pixels
    x = rng.standard_normal((1, 1, 7, 5))
    for h in range(1, 22):
        want = TF.interpolate(torch.from_numpy(x), size=(h, 3), mode="nearest").numpy()
        np.testing.assert_array_equal(S.interpolate(x, size=(h, 3)), want)
    for sf in np.round(np.arange(0.2, 3.2, 0.05), 2):
        want = TF.interpolate(torch.from_numpy(x), scale_factor=float(sf), mode="nearest").numpy()
        np.testing.assert_array_equal(S.interpolate(x, scale_factor=float(sf)), want)


@pytest.mark.parametrize("mode, ac", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_float32_matches_torch(mode, ac, rng):
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    kw = dict(scale_factor=1.7, mode=mode, align_corners=ac)
    out, cache = S.interpolate_forward(x, **kw)
    assert out.dtype == np.float32 and S.interpolate_backward(np.ones_like(out), cache).dtype == np.float32
    assert_matches_torch(lambda a: S.interpolate_forward(a, **kw), S.interpolate_backward,
                         lambda t: TF.interpolate(t, **kw), [x], names=["dx"], dtype=np.float32)


@pytest.mark.parametrize("kw", [dict(size=(4, 9), mode="nearest"),
                                dict(scale_factor=1.7, mode="bilinear"),
                                dict(size=(2, 3), mode="bilinear", align_corners=True)],
                         ids=["nearest", "bilinear", "bilinear-ac-down"])
def test_interpolate_finite_differences(kw, rng):
    errs = check_gradients(lambda a: S.interpolate_forward(a, **kw), S.interpolate_backward,
                           [rng.standard_normal((1, 2, 3, 5))], names=["dx"])
    # relative error; a few bilinear weights make gradients of ~1e-4, where the finite
    # difference's absolute error of ~1e-10 is a relative 1e-6
    assert errs["dx"] < 2e-6, errs


def test_interpolate_known_answers():
    x = np.array([[[[0.0, 3.0]]]])                            # (1, 1, 1, 2)
    # align_corners=False: pixel areas meet; sources -0.25 (clamped to 0), 0.25, 0.75, 1.25
    np.testing.assert_allclose(S.interpolate(x, size=(1, 4), mode="bilinear")[0, 0, 0],
                               [0.0, 0.75, 2.25, 3.0])
    # align_corners=True: corner centres meet; sources 0, 1/3, 2/3, 1
    np.testing.assert_allclose(S.interpolate(x, size=(1, 4), mode="bilinear",
                                             align_corners=True)[0, 0, 0], [0, 1, 2, 3])
    # nearest with scale_factor 1.5 on 2 -> 3 reads floor(dst / 1.5) = 0, 0, 1
    np.testing.assert_array_equal(S.interpolate(x, scale_factor=(1, 1.5))[0, 0, 0], [0, 0, 3])
    # halving by bilinear averages pairs
    y = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(S.interpolate(y, scale_factor=0.5, mode="bilinear")[0, 0],
                               [[2.5, 4.5], [10.5, 12.5]])
    # the gradient of nearest 2x upsampling sums each 2x2 block
    _, cache = S.interpolate_forward(np.zeros((1, 1, 2, 2)), scale_factor=2)
    np.testing.assert_array_equal(S.interpolate_backward(np.ones((1, 1, 4, 4)), cache),
                                  np.full((1, 1, 2, 2), 4.0))


@pytest.mark.parametrize("kw", [dict(scale_factor=1.7), dict(size=(3, 11), mode="bilinear"),
                                dict(size=(8, 2), mode="bilinear", align_corners=True)])
def test_interpolate_is_two_matrices(kw, rng):
    # out = A_h @ x @ A_w.T and dx = A_h.T @ dout @ A_w; every row of A sums to 1
    x = rng.standard_normal((2, 3, 5, 6))
    out, cache = S.interpolate_forward(x, **kw)
    A_h, A_w = cache.matrices()
    np.testing.assert_allclose(A_h @ x @ A_w.T, out, atol=1e-14)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(A_h.T @ dout @ A_w, S.interpolate_backward(dout, cache), atol=1e-14)
    np.testing.assert_allclose(A_h.sum(axis=1), 1, atol=1e-15)
    np.testing.assert_allclose(A_w.sum(axis=1), 1, atol=1e-15)


def test_interpolate_adjoint_and_input_unchanged(rng):
    x = rng.standard_normal((2, 3, 5, 6))
    x0 = x.copy()
    out, cache = S.interpolate_forward(x, scale_factor=(1.7, 0.6), mode="bilinear")
    y = rng.standard_normal(out.shape)
    np.testing.assert_allclose(np.sum(out * y), np.sum(x * S.interpolate_backward(y, cache)))
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4))), ValueError, ["interpolate", "size", "scale_factor"]),
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4)), size=2, scale_factor=2), ValueError,
     ["interpolate", "exactly one"]),
    (lambda: S.interpolate(np.zeros((1, 4, 4)), size=2), ValueError, ["interpolate", "4-D", "3-D"]),
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4)), size=2, mode="bicubic"), ValueError,
     ["interpolate", "'bicubic'", "bilinear"]),
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4)), size=2, align_corners=True), ValueError,
     ["interpolate", "align_corners=True", "nearest"]),
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4)), scale_factor=0.2), ValueError,
     ["interpolate", "(0, 0)", "(4, 4)"]),
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4)), scale_factor=-2), ValueError,
     ["interpolate", "scale_factor=-2", "> 0"]),
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4)), size=2.5), TypeError, ["interpolate", "2.5"]),
    (lambda: S.interpolate(np.zeros((1, 1, 4, 4)), size=(2, 3, 4)), ValueError,
     ["interpolate", "(2, 3, 4)"]),
    (lambda: S.interpolate_backward(np.zeros((1, 1, 3, 3)),
                                    S.interpolate_forward(np.zeros((1, 1, 2, 2)), size=4)[1]),
     ValueError, ["interpolate_backward", "(1, 1, 4, 4)", "(1, 1, 3, 3)"]),
])
def test_interpolate_errors(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# pad

PADS = [
    ("constant", (2, 1), (2, 3, 5)), ("constant", (1, 2, 0, 3), (2, 3, 4, 5)),
    ("constant", (1, 1, 2, 2, 1, 0), (2, 3, 4, 5)), ("constant", (-1, 2, 1, -2), (2, 3, 4, 5)),
    ("constant", (0, 0, -1, -1), (1, 2, 3, 4)), ("constant", (1, 1, 1, 1, 1, 1, 1, 1), (2, 3, 4, 5)),
    ("reflect", (2, 1), (2, 3, 5)), ("reflect", (1, 2, 3, 0), (2, 3, 4, 5)),
    ("reflect", (3, 3, 2, 2), (3, 4, 5)), ("replicate", (3, 1), (2, 3, 4)),
    ("replicate", (2, 0, 1, 4), (2, 3, 4, 5)), ("replicate", (4, 4, 4, 4), (3, 2, 2)),
    ("circular", (2, 3), (2, 3, 5)), ("circular", (1, 2, 3, 0), (2, 3, 4, 5)),
    ("circular", (5, 5, 4, 4), (1, 4, 5)), ("circular", (1, 1, 1, 1, 1, 1), (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("mode, p, shape", PADS, ids=[f"{m}-{'_'.join(map(str, p))}-{len(s)}d"
                                                      for m, p, s in PADS])
def test_pad_matches_torch(mode, p, shape, device, rng):
    x = rng.standard_normal(shape)
    value = 0.5 if mode == "constant" else 0
    tkw = dict(mode=mode, value=value) if mode == "constant" else dict(mode=mode)
    c = assert_matches_torch(lambda a: S.pad_forward(a, p, mode, value), S.pad_backward,
                             lambda t: TF.pad(t, p, **tkw), [x], names=["dx"], device=device)
    assert c.out_err == 0 and c.grad_errs[0] < 1e-14


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_finite_differences(mode, rng):
    p = (-1, 2, 1, 0) if mode == "constant" else (2, 1, 1, 2)
    errs = check_gradients(lambda a: S.pad_forward(a, p, mode), S.pad_backward,
                           [rng.standard_normal((1, 2, 3, 4))], names=["dx"])
    assert errs["dx"] < 1e-8, errs


def test_pad_known_answers():
    x = np.array([[[1.0, 2.0, 3.0]]])
    assert S.pad(x, (2, 2), "reflect").ravel().tolist() == [3, 2, 1, 2, 3, 2, 1]
    assert S.pad(x, (2, 2), "replicate").ravel().tolist() == [1, 1, 1, 2, 3, 3, 3]
    assert S.pad(x, (2, 2), "circular").ravel().tolist() == [2, 3, 1, 2, 3, 1, 2]
    assert S.pad(x, (1, -2), value=7).ravel().tolist() == [7, 1]
    # the gradient of replicate padding piles onto the edges: 1 + 2 pads on the left
    _, cache = S.pad_forward(x, (2, 1), "replicate")
    assert S.pad_backward(np.ones((1, 1, 6)), cache).ravel().tolist() == [3, 1, 2]
    # pad (left, right, top, bottom): the last axis first
    assert S.pad(np.ones((1, 2, 2)), (1, 0, 0, 2)).shape == (1, 4, 3)
    assert S.pad(np.ones((2, 3)), ()).shape == (2, 3)


def test_pad_dtype_and_input_unchanged(rng):
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    x0 = x.copy()
    for mode in ("constant", "reflect", "replicate", "circular"):
        out, cache = S.pad_forward(x, (1, 2, 2, 1), mode)
        assert out.dtype == np.float32 and S.pad_backward(np.ones_like(out), cache).dtype == np.float32
    np.testing.assert_array_equal(x, x0)
    assert S.pad(np.array([[1, 2]]), (1, 1)).dtype == np.float64


@pytest.mark.parametrize("call, exc, words", [
    (lambda: S.pad(np.zeros((1, 1, 3)), (4, 0), "reflect"), ValueError, ["pad", "(4, 0)", "size 3"]),
    (lambda: S.pad(np.zeros((1, 1, 3)), (0, 4), "circular"), ValueError, ["pad", "(0, 4)", "<= 3"]),
    (lambda: S.pad(np.zeros((1, 1, 3)), (1, 2, 3)), ValueError, ["pad", "(1, 2, 3)"]),
    (lambda: S.pad(np.zeros((3,)), (1, 1), "reflect"), ValueError, ["pad", "2 or 3", "(3,)"]),
    (lambda: S.pad(np.zeros((1, 1, 3)), (-1, 0), "replicate"), ValueError, ["pad", "(-1, 0)", "constant"]),
    (lambda: S.pad(np.zeros((1, 1, 3)), (-2, -2)), ValueError, ["pad", "(-2, -2)", "-1"]),
    (lambda: S.pad(np.zeros((1, 1, 3)), (1, 1), "zeros"), ValueError, ["pad", "'zeros'", "reflect"]),
    (lambda: S.pad(np.zeros((1, 1, 3)), (1.5, 1)), TypeError, ["pad", "1.5"]),
    (lambda: S.pad(np.zeros((1, 1, 3)), (1, 1), "reflect", value=2), ValueError,
     ["pad", "value=2", "constant"]),
    (lambda: S.pad_backward(np.zeros((1, 1, 3)), S.pad_forward(np.zeros((1, 1, 3)), (1, 1))[1]),
     ValueError, ["pad_backward", "(1, 1, 5)", "(1, 1, 3)"]),
])
def test_pad_errors(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)
