"""Tests for cnnbook.conv: PyTorch on every device, finite differences, properties, bad input."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnnbook import _checks  # noqa: E402
from cnnbook import conv as C  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402

PROPS = settings(max_examples=25, deadline=None)


def _rand(rng, *shape):
    return rng.standard_normal(shape)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _id(k, s, p, d):
    f = lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v)  # noqa: E731
    return f"k{f(k)}-s{f(s)}-p{f(p)}-d{f(d)}"


# ------------------------------------------------------------------------------------------
# against PyTorch
# ------------------------------------------------------------------------------------------

CONV2D_GRID = [
    (3, 1, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (3, 2, 1, 2), (3, 3, 0, 1),   # s3 does not tile
    ((3, 5), 1, 0, 1), ((3, 5), (2, 1), (1, 2), 1), ((3, 5), 2, 2, (1, 2)),
    (1, 2, 0, 1), (2, 3, 0, 1), (2, 3, 1, 1),                             # kernel < stride
    (5, 2, 2, 1), ((2, 4), (3, 2), (0, 1), (2, 1)), (4, 1, 3, 2),
]


@pytest.mark.parametrize("k,s,p,d", CONV2D_GRID, ids=[_id(*g) for g in CONV2D_GRID])
def test_conv2d_matches_torch(k, s, p, d, device, rng):
    KH, KW = _pair(k)
    x, w, b = _rand(rng, 2, 3, 9, 11), _rand(rng, 4, 3, KH, KW), _rand(rng, 4)
    assert_matches_torch(
        lambda x, w, b: C.conv2d_forward(x, w, b, stride=s, padding=p, dilation=d),
        C.conv2d_backward,
        lambda x, w, b: TF.conv2d(x, w, b, stride=s, padding=p, dilation=d),
        [x, w, b], device=device)


def test_conv2d_without_bias_matches_torch(device, rng):
    x, w = _rand(rng, 2, 3, 8, 7), _rand(rng, 5, 3, 3, 2)
    c = assert_matches_torch(
        lambda x, w: C.conv2d_forward(x, w, None, stride=2, padding=1),
        lambda dout, cache: C.conv2d_backward(dout, cache)[:2],
        lambda x, w: TF.conv2d(x, w, None, stride=2, padding=1), [x, w], device=device)
    assert len(c.grad_errs) == 2
    out, cache = C.conv2d_forward(x, w)
    assert C.conv2d_backward(rng.standard_normal(out.shape), cache)[2] is None


GROUP_GRID = [  # (C_in, C_out, groups, k, s, p, d)
    (4, 6, 2, 3, 1, 1, 1), (4, 6, 2, (2, 3), 2, 0, 1), (6, 9, 3, 3, 2, 1, 2),
    (4, 4, 4, 3, 1, 1, 1), (4, 8, 4, 3, 2, 1, 1), (3, 3, 3, (3, 1), (1, 2), (1, 0), (2, 1)),
]


@pytest.mark.parametrize("c_in,c_out,g,k,s,p,d", GROUP_GRID,
                         ids=[f"cin{c[0]}-cout{c[1]}-g{c[2]}-" + _id(*c[3:]) for c in GROUP_GRID])
def test_conv2d_groups_match_torch(c_in, c_out, g, k, s, p, d, device, rng):
    KH, KW = _pair(k)
    x, w, b = _rand(rng, 2, c_in, 7, 8), _rand(rng, c_out, c_in // g, KH, KW), _rand(rng, c_out)
    assert_matches_torch(
        lambda x, w, b: C.conv2d_forward(x, w, b, s, p, d, g),
        C.conv2d_backward,
        lambda x, w, b: TF.conv2d(x, w, b, s, p, d, g), [x, w, b], device=device)


PAD_MODES = [("same", 3, 1), ("same", 4, 1), ("same", (2, 5), 1), ("same", 3, 2), ("same", 2, (3, 2)),
             ("valid", 3, 1), ("valid", (2, 4), 2)]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("mode,k,d", PAD_MODES, ids=[f"{m}-{_id(k, 1, m, d)}" for m, k, d in PAD_MODES])
def test_conv2d_padding_modes_match_torch(mode, k, d, device, rng):
    KH, KW = _pair(k)
    x, w, b = _rand(rng, 2, 3, 8, 9), _rand(rng, 4, 3, KH, KW), _rand(rng, 4)
    c = assert_matches_torch(
        lambda x, w, b: C.conv2d_forward(x, w, b, padding=mode, dilation=d),
        C.conv2d_backward,
        lambda x, w, b: TF.conv2d(x, w, b, padding=mode, dilation=d), [x, w, b], device=device)
    if mode == "same":
        assert C.conv2d(x, w, b, padding=mode, dilation=d).shape[2:] == (8, 9)
    assert c.passed


def test_conv2d_flip_matches_torch_with_flipped_kernel(device, rng):
    x, w, b = _rand(rng, 2, 4, 7, 6), _rand(rng, 6, 2, 3, 2), _rand(rng, 6)
    assert_matches_torch(
        lambda x, w, b: C.conv2d_forward(x, w, b, 2, 1, 1, 2, flip=True),
        C.conv2d_backward,
        lambda x, w, b: TF.conv2d(x, w.flip((2, 3)), b, 2, 1, 1, 2), [x, w, b], device=device)


CONV1D_GRID = [(3, 1, 0, 1), (3, 2, 1, 1), (4, 3, 2, 2), (1, 2, 0, 1), (2, 3, 0, 1),
               (3, 1, "same", 2), (4, 1, "same", 1), (5, 2, "valid", 1)]


@pytest.mark.parametrize("k,s,p,d", CONV1D_GRID, ids=[_id(*g) for g in CONV1D_GRID])
def test_conv1d_matches_torch(k, s, p, d, device, rng):
    x, w, b = _rand(rng, 2, 3, 13), _rand(rng, 5, 3, k), _rand(rng, 5)
    assert_matches_torch(
        lambda x, w, b: C.conv1d_forward(x, w, b, stride=s, padding=p, dilation=d),
        C.conv1d_backward,
        lambda x, w, b: TF.conv1d(x, w, b, stride=s, padding=p, dilation=d), [x, w, b],
        device=device)


TRANSPOSE_GRID = [  # (k, stride, padding, output_padding, dilation)
    (3, 1, 0, 0, 1), (3, 2, 0, 0, 1), (3, 2, 1, 1, 1), (4, 2, 1, 0, 1), (2, 3, 0, 2, 1),
    ((3, 2), (2, 3), (1, 0), (1, 2), 1), (3, 1, 1, 1, 2), (3, 2, 2, 1, (2, 3)), (1, 3, 0, 1, 1),
]


@pytest.mark.parametrize("k,s,p,op,d", TRANSPOSE_GRID,
                         ids=[_id(g[0], g[1], g[2], g[4]) + f"-op{_pair(g[3])[0]}{_pair(g[3])[1]}"
                              for g in TRANSPOSE_GRID])
def test_conv_transpose2d_matches_torch(k, s, p, op, d, device, rng):
    KH, KW = _pair(k)
    x, w, b = _rand(rng, 2, 3, 5, 4), _rand(rng, 3, 4, KH, KW), _rand(rng, 4)
    assert_matches_torch(
        lambda x, w, b: C.conv_transpose2d_forward(x, w, b, s, p, op, d),
        C.conv_transpose2d_backward,
        lambda x, w, b: TF.conv_transpose2d(x, w, b, s, p, op, 1, d), [x, w, b], device=device)


def test_float32_against_torch(device, rng):
    x, w, b = _rand(rng, 2, 3, 9, 8), _rand(rng, 4, 3, 3, 3), _rand(rng, 4)
    assert_matches_torch(
        lambda x, w, b: C.conv2d_forward(x, w, b, stride=2, padding=1),
        C.conv2d_backward, lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1),
        [x, w, b], device=device, dtype=np.float32)


# ------------------------------------------------------------------------------------------
# finite differences
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(stride=1, padding=1), dict(stride=2, padding=1, dilation=2), dict(stride=(2, 1), flip=True),
    dict(groups=2, padding="same", flip=True), dict(stride=3, padding=(0, 2)),
], ids=["s1-p1", "s2-p1-d2", "s2x1-flip", "g2-same-flip", "s3-p0x2"])
def test_conv2d_finite_differences(kwargs, rng):
    x, w, b = _rand(rng, 2, 4, 6, 5), _rand(rng, 4, 2 if "groups" in kwargs else 4, 3, 2), _rand(rng, 4)
    errs = check_gradients(lambda x, w, b: C.conv2d_forward(x, w, b, **kwargs), C.conv2d_backward,
                           [x, w, b], names=["dx", "dw", "db"])
    assert set(errs) == {"dx", "dw", "db"}
    assert max(errs.values()) < 1e-6, errs


@pytest.mark.parametrize("kwargs", [dict(stride=2, padding=1, dilation=2), dict(padding="same", flip=True)],
                         ids=["s2-p1-d2", "same-flip"])
def test_conv1d_finite_differences(kwargs, rng):
    x, w, b = _rand(rng, 2, 3, 9), _rand(rng, 2, 3, 4), _rand(rng, 2)
    errs = check_gradients(lambda x, w, b: C.conv1d_forward(x, w, b, **kwargs), C.conv1d_backward,
                           [x, w, b], names=["dx", "dw", "db"])
    assert max(errs.values()) < 1e-6, errs


@pytest.mark.parametrize("args", [(2, 1, 1, 1), (3, 0, 2, 2)], ids=["s2-p1-op1-d1", "s3-p0-op2-d2"])
def test_conv_transpose2d_finite_differences(args, rng):
    x, w, b = _rand(rng, 2, 3, 3, 4), _rand(rng, 3, 2, 3, 2), _rand(rng, 2)
    errs = check_gradients(lambda x, w, b: C.conv_transpose2d_forward(x, w, b, *args),
                           C.conv_transpose2d_backward, [x, w, b], names=["dx", "dw", "db"])
    assert max(errs.values()) < 1e-6, errs


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------

@st.composite
def conv_cases(draw):
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    g = draw(st.sampled_from([1, 2]))
    H = draw(st.integers(max(1, dh * (KH - 1) + 1 - 2 * ph), 8))
    W = draw(st.integers(max(1, dw * (KW - 1) + 1 - 2 * pw), 8))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((draw(st.integers(1, 2)), 2 * g, H, W))
    w = rng.standard_normal((2 * g, 2, KH, KW))
    return x, w, dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g), rng


def _arithmetic_conv_output_size():
    try:
        from cnnbook.arithmetic import conv_output_size
    except ImportError:
        return None
    return conv_output_size


@PROPS
@given(conv_cases())
def test_output_shape_follows_formula(case):
    x, w, kw, _ = case
    out = C.conv2d(x, w, **kw)
    want = tuple(_checks.out_size("t", a, n, k, s, p, d) for a, n, k, s, p, d in zip(
        "HW", x.shape[2:], w.shape[2:], kw["stride"], kw["padding"], kw["dilation"]))
    assert out.shape == (x.shape[0], w.shape[0]) + want
    conv_output_size = _arithmetic_conv_output_size()
    if conv_output_size is not None:
        for n, k, s, p, d, o in zip(x.shape[2:], w.shape[2:], kw["stride"], kw["padding"],
                                    kw["dilation"], want):
            assert conv_output_size(n, k, s, p, d) == o


@PROPS
@given(conv_cases(), st.booleans())
def test_adjoint_identity(case, flip):
    x, w, kw, rng = case
    out, cache = C.conv2d_forward(x, w, flip=flip, **kw)
    y = rng.standard_normal(out.shape)
    dx = C.conv2d_backward(y, cache)[0]
    assert np.isclose(np.sum(out * y), np.sum(x * dx), rtol=1e-10, atol=1e-10)


@PROPS
@given(conv_cases())
def test_linearity_in_x(case):
    x, w, kw, rng = case
    x2 = rng.standard_normal(x.shape)
    a, c = rng.standard_normal(2)
    np.testing.assert_allclose(C.conv2d(a * x + c * x2, w, **kw),
                               a * C.conv2d(x, w, **kw) + c * C.conv2d(x2, w, **kw),
                               rtol=1e-10, atol=1e-10)


@PROPS
@given(st.integers(0, 2), st.integers(0, 2), st.integers(1, 7), st.integers(1, 7), st.integers(0, 999))
def test_identity_kernel_returns_input(rh, rw, H, W, seed):
    KH, KW = 2 * rh + 1, 2 * rw + 1
    x = np.random.default_rng(seed).standard_normal((2, 3, H, W))
    w = np.zeros((3, 3, KH, KW))
    for c in range(3):
        w[c, c, rh, rw] = 1.0
    for flip in (False, True):
        np.testing.assert_array_equal(C.conv2d(x, w, padding=(rh, rw), flip=flip), x)
        np.testing.assert_array_equal(C.conv2d(x, w, padding="same", flip=flip), x)


@PROPS
@given(conv_cases())
def test_flip_equals_correlation_with_flipped_kernel(case):
    x, w, kw, _ = case
    np.testing.assert_allclose(C.conv2d(x, w, flip=True, **kw),
                               C.conv2d(x, w[:, :, ::-1, ::-1], **kw), rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(conv_cases(), st.booleans(), st.booleans())
def test_naive_equals_conv2d(case, flip, bias):
    x, w, kw, rng = case
    b = rng.standard_normal(w.shape[0]) if bias else None
    np.testing.assert_allclose(C.conv2d_naive(x, w, b, flip=flip, **kw),
                               C.conv2d(x, w, b, flip=flip, **kw), rtol=1e-12, atol=1e-12)


def test_naive_equals_conv2d_same_padding(rng):
    x, w, b = _rand(rng, 1, 4, 5, 6), _rand(rng, 4, 2, 2, 4), _rand(rng, 4)
    np.testing.assert_allclose(C.conv2d_naive(x, w, b, padding="same", dilation=(2, 1), groups=2),
                               C.conv2d(x, w, b, padding="same", dilation=(2, 1), groups=2),
                               rtol=1e-12, atol=1e-12)


NAIVE_BACKWARD_CASES = [   # (C_in, C_out, kernel, stride, padding, dilation, groups, flip, bias)
    (3, 4, 3, 1, 0, 1, 1, False, True),
    (3, 4, 3, 1, 1, 1, 1, False, False),
    (3, 4, (2, 3), 2, 1, 1, 1, True, True),
    (2, 3, 3, (2, 1), (0, 2), (1, 2), 1, False, True),
    (4, 6, 3, 1, "same", 2, 2, False, True),
    (4, 4, (3, 2), 3, 1, 1, 4, True, False),                 # depthwise, stride > kernel rows
    (6, 4, 2, 2, "valid", (2, 1), 2, False, True),
]


@pytest.mark.parametrize("c_in,c_out,k,s,p,d,g,flip,bias", NAIVE_BACKWARD_CASES)
def test_naive_backward_equals_conv2d_backward(c_in, c_out, k, s, p, d, g, flip, bias, rng):
    kh, kw = _pair(k)
    x, w = _rand(rng, 2, c_in, 7, 6), _rand(rng, c_out, c_in // g, kh, kw)
    b = _rand(rng, c_out) if bias else None
    out, cache = C.conv2d_forward(x, w, b, s, p, d, g, flip=flip)
    dout = _rand(rng, *out.shape)
    got = C.conv2d_backward_naive(dout, x, w, b, s, p, d, g, flip=flip)
    want = C.conv2d_backward(dout, cache)
    for name, a, e in zip(("dx", "dw", "db"), got, want):
        if e is None:
            assert a is None, name
        else:
            assert a.shape == e.shape, name
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12, err_msg=name)


def test_naive_backward_known_answer():
    # one 2x2 image, a 1x1 output: dw is the image times dout, dx the kernel times dout
    x, w = np.arange(4.0).reshape(1, 1, 2, 2), np.array([[[[1.0, -1.0], [2.0, 0.5]]]])
    dx, dw, db = C.conv2d_backward_naive(np.array([[[[3.0]]]]), x, w, np.zeros(1))
    np.testing.assert_array_equal(dw, 3 * x)
    np.testing.assert_array_equal(dx, 3 * w)
    np.testing.assert_array_equal(db, [3.0])


def test_naive_backward_rejects_wrong_dout_shape(rng):
    x, w = _rand(rng, 1, 2, 5, 5), _rand(rng, 3, 2, 3, 3)
    with pytest.raises(ValueError, match="conv2d_backward_naive"):
        C.conv2d_backward_naive(_rand(rng, 1, 3, 5, 5), x, w)


def test_conv1d_is_conv2d_of_height_one(rng):
    x, w = _rand(rng, 2, 3, 10), _rand(rng, 4, 3, 3)
    np.testing.assert_allclose(C.conv1d(x, w, stride=2, padding=1, flip=True),
                               C.conv2d(x[:, :, None], w[:, :, None], stride=2, padding=(0, 1),
                                        flip=True)[:, :, 0], rtol=1e-12, atol=1e-12)


def test_conv_transpose2d_is_adjoint_of_conv2d(rng):
    # conv_transpose2d(y, w) is the gradient of conv2d(x, w) with respect to x.
    x, w = _rand(rng, 2, 3, 9, 8), _rand(rng, 4, 3, 3, 3)
    out, cache = C.conv2d_forward(x, w, stride=2, padding=1)
    y = rng.standard_normal(out.shape)
    dx = C.conv2d_backward(y, cache)[0]
    np.testing.assert_allclose(C.conv_transpose2d(y, w, stride=2, padding=1, output_padding=(0, 1)),
                               dx, rtol=1e-12, atol=1e-12)


def test_im2col_matmul_is_conv2d_and_col2im_is_adjoint(rng):
    x, w = _rand(rng, 2, 3, 7, 6), _rand(rng, 5, 3, 2, 3)
    cols = C.im2col(x, (2, 3), stride=2, padding=1, dilation=(1, 2))
    assert cols.shape == (2, 3 * 2 * 3, 4 * 2)
    out = (w.reshape(5, -1) @ cols).reshape(2, 5, 4, 2)
    np.testing.assert_allclose(out, C.conv2d(x, w, stride=2, padding=1, dilation=(1, 2)),
                               rtol=1e-12, atol=1e-12)
    c = rng.standard_normal(cols.shape)
    back = C.col2im(c, x.shape, (2, 3), stride=2, padding=1, dilation=(1, 2))
    assert back.shape == x.shape
    assert np.isclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)
    counts = C.col2im(C.im2col(np.ones((1, 1, 4, 4)), 3, padding=1), (1, 1, 4, 4), 3, padding=1)
    np.testing.assert_array_equal(counts[0, 0], [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])


# ------------------------------------------------------------------------------------------
# known answer, dtypes, inputs untouched
# ------------------------------------------------------------------------------------------

IMAGE = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])


def test_known_answer_binary_image():
    out = C.conv2d(IMAGE[None, None], KERNEL[None, None])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    np.testing.assert_array_equal(C.conv2d_naive(IMAGE[None, None], KERNEL[None, None])[0, 0],
                                  [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    # this kernel is symmetric under the 180-degree turn, so convolution equals correlation
    np.testing.assert_array_equal(C.conv2d(IMAGE[None, None], KERNEL[None, None], flip=True), out)


def test_known_answer_flip_differs_for_asymmetric_kernel():
    x = np.arange(9).reshape(1, 1, 3, 3)
    k = np.array([[[[1, 0], [0, 0]]]])              # picks the top-left of each window
    np.testing.assert_array_equal(C.conv2d(x, k)[0, 0], [[0, 1], [3, 4]])
    np.testing.assert_array_equal(C.conv2d(x, k, flip=True)[0, 0], [[4, 5], [7, 8]])


def test_dtypes(rng):
    x32, w32 = _rand(rng, 1, 2, 5, 5).astype(np.float32), _rand(rng, 3, 2, 3, 3).astype(np.float32)
    out, cache = C.conv2d_forward(x32, w32, np.zeros(3, np.float32), padding=1)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in C.conv2d_backward(np.ones_like(out), cache))
    assert C.conv2d(x32, w32.astype(np.float64)).dtype == np.float64       # np.result_type
    assert C.conv2d(x32 > 0, w32.astype(np.int64)).dtype == np.float64     # bool and int
    assert C.conv1d(x32[:, :, 0], w32[:, :, 0]).dtype == np.float32
    assert C.conv_transpose2d(x32, np.ones((2, 3, 2, 2), np.float32)).dtype == np.float32


def test_inputs_not_modified(rng):
    x, w, b = _rand(rng, 2, 4, 6, 6), _rand(rng, 4, 2, 3, 3), _rand(rng, 4)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = C.conv2d_forward(x, w, b, stride=2, padding=1, groups=2, flip=True)
    dout = rng.standard_normal(out.shape)
    dcopy = dout.copy()
    C.conv2d_backward(dout, cache)
    C.conv2d_naive(x, w, b, groups=2, flip=True)
    C.im2col(x, 3, padding=1)
    wt = rng.standard_normal((4, 3, 2, 2))
    wt_copy = wt.copy()
    o2, c2 = C.conv_transpose2d_forward(x, wt, None, 2, 1, 1)
    C.conv_transpose2d_backward(o2.copy(), c2)
    for a, c in zip((x, w, b, dout, wt), copies + [dcopy, wt_copy]):
        np.testing.assert_array_equal(a, c)


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------

X = np.zeros((1, 4, 6, 6))
W = np.zeros((2, 4, 3, 3))

BAD = [
    (lambda: C.conv2d(X[0], W), ValueError, r"conv2d: x must be 4-D.*got 3-D.*x\[None\]"),
    (lambda: C.conv2d(X, W[0]), ValueError, r"conv2d: w must be 4-D.*got 3-D"),
    (lambda: C.conv2d(X, np.zeros((2, 3, 3, 3))), ValueError, r"conv2d: channel mismatch.*C_in=4.*C_in/groups=3"),
    (lambda: C.conv2d(X, np.zeros((2, 2, 3, 3)), groups=3), ValueError, r"conv2d: input channels C_in=4 .*groups=3"),
    (lambda: C.conv2d(X, np.zeros((3, 2, 3, 3)), groups=2), ValueError, r"conv2d: output channels C_out=3 .*groups=2"),
    (lambda: C.conv2d(X, W, groups=0), ValueError, r"conv2d: groups must be a positive integer, got groups=0"),
    (lambda: C.conv2d(X, np.zeros((2, 4, 9, 3))), ValueError, r"conv2d: the kernel \(effective size 9.*H \(6 \+ 2\*0 = 6\)"),
    (lambda: C.conv2d(X, W, dilation=4), ValueError, r"conv2d: the kernel \(effective size 9 = dilation 4"),
    (lambda: C.conv2d(X, np.zeros((2, 4, 0, 3))), ValueError, r"conv2d: every kernel size must be >= 1.*\(0, 3\)"),
    (lambda: C.conv2d(X, W, stride=0), ValueError, r"conv2d: stride must be a positive integer, got stride=0"),
    (lambda: C.conv2d(X, W, stride=(1, -2)), ValueError, r"conv2d: stride must be a positive integer, got stride=\(1, -2\)"),
    (lambda: C.conv2d(X, W, stride=1.5), TypeError, r"conv2d: stride must be an integer.*stride=1.5"),
    (lambda: C.conv2d(X, W, dilation=0), ValueError, r"conv2d: dilation must be a positive integer, got dilation=0"),
    (lambda: C.conv2d(X, W, padding=-1), ValueError, r"conv2d: padding must be >= 0, got padding=-1"),
    (lambda: C.conv2d(X, W, padding="full"), ValueError, r"conv2d: padding must be .*'same'.*'full'"),
    (lambda: C.conv2d(X, W, stride=2, padding="same"), ValueError, r"conv2d: padding='same' needs stride=1.*\(2, 2\)"),
    (lambda: C.conv2d(X, W, np.zeros(3)), ValueError, r"conv2d: bias b must have shape \(2,\).*\(3,\)"),
    (lambda: C.conv2d(X, W.astype(str)), TypeError, r"conv2d: w must hold numbers"),
    (lambda: C.conv2d(torch.zeros(1, 4, 6, 6), W), TypeError, r"conv2d: x is a torch.Tensor"),
    (lambda: C.conv2d_naive(X, W, stride=0), ValueError, r"conv2d_naive: stride must be a positive integer"),
    (lambda: C.conv1d(X, W), ValueError, r"conv1d: x must be 3-D"),
    (lambda: C.conv1d(X[:, :, 0], np.zeros((2, 3, 3))), ValueError, r"conv1d: channel mismatch.*C_in=4"),
    (lambda: C.conv1d(X[:, :, 0], np.zeros((2, 4, 9))), ValueError, r"conv1d: .*effective size 9.*along L \(6 \+ 2\*0"),
    (lambda: C.conv1d(X[:, :, 0], np.zeros((2, 4, 3)), stride=0), ValueError, r"conv1d: stride must be a positive integer, got stride=0"),
    (lambda: C.conv1d(X[:, :, 0], np.zeros((2, 4, 3)), np.zeros(5)), ValueError, r"conv1d: bias b must have shape \(2,\)"),
    (lambda: C.conv1d(X[:, :, 0], np.zeros((2, 4, 3)), stride=2, padding="same"), ValueError, r"conv1d: padding='same' needs stride=1 .*got stride=2;"),
    (lambda: C.conv_transpose2d(X, np.zeros((3, 2, 3, 3))), ValueError, r"conv_transpose2d: channel mismatch.*C_in=4.*\(3, 2, 3, 3\)"),
    (lambda: C.conv_transpose2d(X, W.transpose(1, 0, 2, 3), stride=2, output_padding=2), ValueError,
     r"conv_transpose2d: output_padding must be smaller than either stride or dilation.*output_padding=2 with stride=2, dilation=1"),
    (lambda: C.conv_transpose2d(X, W.transpose(1, 0, 2, 3), output_padding=1), ValueError,
     r"conv_transpose2d: output_padding .*stride=1, dilation=1"),
    (lambda: C.conv_transpose2d(X, W.transpose(1, 0, 2, 3), padding=5), ValueError, r"conv_transpose2d: padding=\(5, 5\) crops the whole output.*8 x 8"),
    (lambda: C.conv_transpose2d(X, W.transpose(1, 0, 2, 3), np.zeros(4)), ValueError, r"conv_transpose2d: bias b must have shape \(2,\)"),
    (lambda: C.im2col(X, 0), ValueError, r"im2col: kernel_size must be a positive integer, got kernel_size=0"),
    (lambda: C.col2im(np.zeros((1, 36, 15)), (1, 4, 6, 6), 3), ValueError, r"col2im: cols must have shape \(1, 36, 16\).*got \(1, 36, 15\)"),
]


@pytest.mark.parametrize("call,exc,match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_raises_clear_error(call, exc, match):
    x_copy, w_copy = X.copy(), W.copy()
    with pytest.raises(exc, match=match):
        call()
    np.testing.assert_array_equal(X, x_copy)
    np.testing.assert_array_equal(W, w_copy)


def test_backward_rejects_wrong_dout_shape(rng):
    out, cache = C.conv2d_forward(_rand(rng, 1, 2, 5, 5), _rand(rng, 3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_backward: dout must have the shape .*\(1, 3, 3, 3\), got \(1, 3, 3, 2\)"):
        C.conv2d_backward(np.zeros((1, 3, 3, 2)), cache)


# ------------------------------------------------------------------------------------------
# strict tiling
# ------------------------------------------------------------------------------------------

def test_strict_raises_on_non_tiling_stride(rng):
    x, w = _rand(rng, 1, 1, 28, 28), _rand(rng, 1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d: kernel_size=3, stride=2 leave 1 row of H=28 unused "
                                         r"\(\(28 \+ 2\*0 - 3\) % 2 = 1\)"):
        C.conv2d(x, w, stride=2, strict=True)
    with pytest.raises(ValueError, match=r"conv2d: kernel_size=3, stride=2 leave 1 column of W=8"):
        C.conv2d(_rand(rng, 1, 1, 7, 8), w, stride=2, strict=True)
    with pytest.raises(ValueError, match=r"conv1d: kernel_size=2, stride=3 leave 2 columns of L=10"):
        C.conv1d(_rand(rng, 1, 1, 10), _rand(rng, 1, 1, 2), stride=3, strict=True)
    # the default drops the unused row, as PyTorch does
    assert C.conv2d(x, w, stride=2).shape == (1, 1, 13, 13)


def test_strict_passes_on_tiling_stride(rng):
    x, w = _rand(rng, 1, 1, 29, 27), _rand(rng, 1, 1, 3, 3)
    # (29 + 2*1 - 3) % 2 = 0 and (27 + 2*0 - 3) % 2 = 0: every row and column is used
    np.testing.assert_array_equal(C.conv2d(x, w, stride=2, padding=(1, 0), strict=True),
                                  C.conv2d(x, w, stride=2, padding=(1, 0)))
    assert C.conv2d(x, w, stride=1, strict=True).shape == (1, 1, 27, 25)
    assert C.conv2d(x, w, padding="same", strict=True).shape == (1, 1, 29, 27)
    with pytest.raises(ValueError, match=r"leave 1 row of H=29"):    # (29 + 2 - 3) % 3 = 1
        C.conv2d(x, w, stride=3, padding=(1, 0), strict=True)
    assert C.conv1d(_rand(rng, 1, 1, 11), _rand(rng, 1, 1, 3), stride=2, strict=True).shape == (1, 1, 5)


def test_im2col_of_1x1_kernel_is_a_fresh_array(rng):
    x = _rand(rng, 2, 3, 4, 5)
    cols = C.im2col(x, 1)
    np.testing.assert_array_equal(cols, x.reshape(2, 3, 20))
    assert not np.shares_memory(cols, x)
    cols[:] = 0.0                                   # writable, and x is unaffected
    assert np.any(x != 0)


def test_conv1d_backward_rejects_wrong_dout_shape(rng):
    out, cache = C.conv1d_forward(_rand(rng, 2, 3, 9), _rand(rng, 4, 3, 3), stride=2)
    assert out.shape == (2, 4, 4)
    with pytest.raises(ValueError, match=r"conv1d_backward: dout must have the shape .*\(2, 4, 4\), got \(2, 4, 5\)"):
        C.conv1d_backward(np.zeros((2, 4, 5)), cache)


# ------------------------------------------------------------------------------------------
# need_dx=False, and the stride-1 input gradient against the transposed convolution
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(padding=2), dict(stride=2, padding=1),
                                dict(padding="same", dilation=2, groups=2),
                                dict(stride=(1, 2), dilation=(2, 1), groups=3)])
def test_conv2d_backward_need_dx_false_skips_only_dx(kw, rng):
    x, w, b = _rand(rng, 2, 6, 9, 8), _rand(rng, 6, 6 // kw.get("groups", 1), 3, 3), _rand(rng, 6)
    out, cache = C.conv2d_forward(x, w, b, **kw)
    dout = _rand(rng, *out.shape)
    dx, dw, db = C.conv2d_backward(dout, cache)
    none, dw2, db2 = C.conv2d_backward(dout, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


def test_conv1d_backward_need_dx_false(rng):
    x, w = _rand(rng, 2, 3, 11), _rand(rng, 4, 3, 3)
    out, cache = C.conv1d_forward(x, w, padding=1)
    dout = _rand(rng, *out.shape)
    dx, dw, _ = C.conv1d_backward(dout, cache)
    none, dw2, _ = C.conv1d_backward(dout, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw2, dw)


@pytest.mark.parametrize("k, s, p, d", [(5, 1, 2, 1), (5, 1, 0, 1), ((3, 5), 1, (1, 0), (2, 1)),
                                        (3, 2, 1, 1), (1, 1, 0, 1), (4, 1, 3, 2)])
def test_conv2d_dx_equals_conv_transpose2d(k, s, p, d, rng):
    """dx of conv2d is the transposed convolution of dout with the same weight: two separate
    code paths (the stride-1 one folds long runs, conv_transpose2d uses per-row col2im)."""
    kh, kw = _pair(k)
    x, w = _rand(rng, 3, 4, 11, 12), _rand(rng, 5, 4, kh, kw)
    out, cache = C.conv2d_forward(x, w, stride=s, padding=p, dilation=d)
    dout = _rand(rng, *out.shape)
    dx = C.conv2d_backward(dout, cache)[0]
    # output_padding recovers the rows/columns a stride > 1 leaves unused
    sh, sw = _pair(s)
    ph, pw = _pair(p)
    dh, dw_ = _pair(d)
    op = ((11 + 2 * ph - dh * (kh - 1) - 1) % sh, (12 + 2 * pw - dw_ * (kw - 1) - 1) % sw)
    expected = C.conv_transpose2d(dout, w, stride=s, padding=p, output_padding=op, dilation=d)
    assert expected.shape == x.shape
    np.testing.assert_allclose(dx, expected, rtol=1e-10, atol=1e-10)


def test_conv2d_cache_holds_im2col_and_each_group_is_one_product(rng):
    x, w = _rand(rng, 2, 4, 6, 6), _rand(rng, 6, 2, 3, 3)
    out, cache = C.conv2d_forward(x, w, groups=2, padding=1)
    np.testing.assert_array_equal(cache.cols, C.im2col(x, 3, padding=1))   # (N, C_in*9, 36)
    # group 0: its three filters times its channels' rows of the columns
    g0 = (w[:3].reshape(3, -1) @ cache.cols[:, :2 * 9]).reshape(2, 3, 6, 6)
    np.testing.assert_allclose(g0, out[:, :3], rtol=1e-12, atol=1e-12)


def test_conv2d_backward_in_several_blocks_matches_torch(rng):
    # 2.4 MB of column gradients per example: dx is computed one example per block
    x, w = _rand(rng, 3, 8, 64, 64), _rand(rng, 4, 8, 3, 3)
    out, cache = C.conv2d_forward(x, w, padding=1, dilation=(1, 2))
    assert cache.cols[0].size * cache.cols.itemsize > 2 * 2**20
    dout = _rand(rng, *out.shape)
    dx, dw, _ = C.conv2d_backward(dout, cache)
    tx, tw = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
    tdx, tdw = torch.autograd.grad(TF.conv2d(tx, tw, padding=1, dilation=(1, 2)), [tx, tw],
                                   torch.from_numpy(dout))
    np.testing.assert_allclose(dx, tdx.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, tdw.numpy(), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------
# the fast path (cnnbook/fast.py): conv2d's input gradient in blocks of examples, held equal to
# the reference (one matrix product and one col2im for the whole batch)
# ------------------------------------------------------------------------------------------

# (N, C_in, C_out, H, W, kwargs): column gradients of 1.2 MB per example in float64 (0.6 MB
# in float32 with 2 * C_in), so blocks of 3 examples (6 in float32), the last one partial
BLOCK_GRID = [
    (7, 4, 6, 64, 64, dict(padding=1)),
    (8, 4, 6, 66, 65, dict()),                                        # odd width, no padding
    (5, 4, 4, 64, 64, dict(padding="same", dilation=(1, 2), groups=2)),
    (7, 4, 6, 130, 130, dict(stride=2, padding=1)),                   # a row/column unused
    (4, 4, 2, 64, 64, dict(padding=1, flip=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N, c_in, c_out, H, W, kw", BLOCK_GRID,
                         ids=["p1", "odd", "same-d12-g2", "s2-p1", "flip"])
def test_conv2d_backward_blocks_equal_reference(N, c_in, c_out, H, W, kw, dtype, rng,
                                               monkeypatch):
    from cnnbook import fast
    # the blocked col2im path (stride 1 takes other fast paths: tests/test_fast_conv.py)
    monkeypatch.setattr(fast, "conv2d_input_grad_by_conv_applies", lambda *args: False)
    monkeypatch.setattr(fast, "conv2d_input_grad_wide_applies", lambda *args: False)
    c_in = c_in if dtype == np.float64 else 2 * c_in
    x = rng.standard_normal((N, c_in, H, W)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // kw.get("groups", 1), 3, 3)).astype(dtype)
    out, cache = C.conv2d_forward(x, w, **kw)
    block = fast._examples_per_block(cache.cols[0].nbytes)
    assert 1 < block < N and N % block, (block, N)    # several blocks, the last one partial
    assert fast.conv2d_input_grad_applies(cache.cols)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = C.conv2d_backward(dout, cache)
    with fast.disabled():
        assert not fast.conv2d_input_grad_applies(cache.cols)
        ref_dx, ref_dw, ref_db = C.conv2d_backward(dout, cache)
    assert dx.dtype == ref_dx.dtype == dtype
    # the same products and sums for each example, in the same order: equal bit for bit
    np.testing.assert_array_equal(dx, ref_dx)
    np.testing.assert_array_equal(dw, ref_dw)


def test_conv2d_backward_small_batch_takes_the_reference(rng):
    from cnnbook import fast
    x, w = _rand(rng, 4, 3, 8, 8), _rand(rng, 5, 3, 3, 3)
    assert not fast.conv2d_input_grad_applies(C.conv2d_forward(x, w)[1].cols)   # one block
    assert not fast.conv2d_input_grad_applies(np.zeros((0, 27, 36)))             # N = 0


# ------------------------------------------------------------------------------------------
# empty batches: an empty batch of the right shape, forward and backward, as in PyTorch
# ------------------------------------------------------------------------------------------

EMPTY = [
    ("conv2d", lambda x, w, b: C.conv2d_forward(x, w, b, stride=2, padding=1), C.conv2d_backward,
     lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1), (0, 4, 9, 8), (6, 4, 3, 3)),
    ("conv2d-groups-same", lambda x, w, b: C.conv2d_forward(x, w, b, padding="same", groups=2),
     C.conv2d_backward, lambda x, w, b: TF.conv2d(x, w, b, padding="same", groups=2),
     (0, 4, 7, 7), (6, 2, 3, 3)),
    ("conv1d", lambda x, w, b: C.conv1d_forward(x, w, b, stride=2, dilation=2), C.conv1d_backward,
     lambda x, w, b: TF.conv1d(x, w, b, stride=2, dilation=2), (0, 3, 11), (5, 3, 3)),
    ("conv_transpose2d", lambda x, w, b: C.conv_transpose2d_forward(x, w, b, 2, 1, 1),
     C.conv_transpose2d_backward, lambda x, w, b: TF.conv_transpose2d(x, w, b, 2, 1, 1),
     (0, 3, 5, 4), (3, 4, 3, 3)),
]


@pytest.mark.parametrize("name, fwd, bwd, torch_fn, x_shape, w_shape", EMPTY,
                         ids=[e[0] for e in EMPTY])
def test_empty_batch_like_torch(name, fwd, bwd, torch_fn, x_shape, w_shape, rng):
    x, w = np.zeros(x_shape), _rand(rng, *w_shape)
    b = _rand(rng, w_shape[1] if name == "conv_transpose2d" else w_shape[0])
    out, cache = fwd(x, w, b)
    t_out = torch_fn(*(torch.from_numpy(a) for a in (x, w, b)))
    assert out.shape == tuple(t_out.shape) and out.shape[0] == 0
    dx, dw, db = bwd(np.zeros(out.shape), cache)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dw, np.zeros(w.shape))     # no example: no gradient
    np.testing.assert_array_equal(db, np.zeros(b.shape))
    assert_matches_torch(fwd, bwd, torch_fn, [x, w, b])      # values and shapes, both passes
    # need_dx=False and the loop versions agree on an empty batch too
    if name.startswith("conv2d"):
        assert C.conv2d_backward(np.zeros(out.shape), cache, need_dx=False)[0] is None
    if name == "conv2d":
        assert C.conv2d_naive(x, w, b, 2, 1).shape == out.shape
        assert C.conv2d_backward_naive(np.zeros(out.shape), x, w, b, 2, 1)[0].shape == x.shape
