"""cnnbook.quant against torch's quantize functions, observers and fake quantization: the
integers bit for bit (exact .5 ties included), the observers' scale and zero point exactly."""
import warnings

import numpy as np
import pytest

import cnnbook as cb
from cnnbook import quant

torch = pytest.importorskip("torch")
warnings.filterwarnings("ignore", message=".*deprecated.*", category=UserWarning)

TQ = {np.int8: torch.qint8, np.uint8: torch.quint8}
TQ_OBS = {np.int8: torch.qint8, np.uint8: torch.quint8}


def _values(rng, n, scale, zp, dtype):
    """Random values around the grid plus exact and near ties (k + 1/2) * scale, in dtype."""
    k = rng.integers(-140, 400, n)
    x = (k - zp + 0.5) * scale
    x[: n // 3] = rng.standard_normal(n // 3) * 60 * scale
    x[n // 3: n // 2] = np.nextafter(x[n // 3: n // 2], 0)
    return x.astype(dtype)


@pytest.mark.parametrize("in_dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("qdtype", [np.int8, np.uint8], ids=["int8", "uint8"])
def test_quantize_per_tensor_is_torchs_bit_for_bit(qdtype, in_dtype):
    rng = np.random.default_rng(1)
    lo, hi = quant.qrange(qdtype)
    total = 0
    for trial in range(150):
        scale = float(rng.choice([rng.uniform(1e-4, 1.0), 2.0 ** -int(rng.integers(1, 10))]))
        zp = int(rng.integers(lo, hi + 1))
        n = int(rng.integers(1, 70))     # lengths that leave a vector tail
        x = _values(rng, n, scale, zp, in_dtype)
        ours = quant.quantize_per_tensor(x, scale, zp, qdtype)
        ref = torch.quantize_per_tensor(torch.from_numpy(x).float(), scale, zp, TQ[qdtype])
        assert ours.dtype == qdtype
        np.testing.assert_array_equal(ours, ref.int_repr().numpy())
        deq = quant.dequantize(ours, scale, zp)
        np.testing.assert_array_equal(deq, ref.dequantize().numpy())
        total += n
    assert total > 3000


def test_exact_ties_round_half_to_even():
    # 0.5, 1.5, 2.5, -0.5, -1.5 steps with a power-of-two scale: exact ties.
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5], np.float32) * 0.25
    ours = quant.quantize_per_tensor(x, 0.25, 0, np.int8)
    np.testing.assert_array_equal(ours, [0, 2, 2, 0, -2, -2, 4])
    ref = torch.quantize_per_tensor(torch.from_numpy(x), 0.25, 0, torch.qint8).int_repr()
    np.testing.assert_array_equal(ours, ref.numpy())


@pytest.mark.parametrize("in_dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("qdtype", [np.int8, np.uint8], ids=["int8", "uint8"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_quantize_per_channel_is_torchs_bit_for_bit(qdtype, in_dtype, axis):
    rng = np.random.default_rng(2)
    lo, hi = quant.qrange(qdtype)
    for trial in range(40):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 9)))
        C = shape[axis]
        scales = rng.uniform(1e-3, 0.5, C)
        zps = rng.integers(lo, hi + 1, C)
        sh = [1, 1, 1]
        sh[axis] = C
        k = rng.integers(-140, 400, shape)
        x = (k - zps.reshape(sh) + 0.5) * scales.reshape(sh)
        noise = rng.random(shape) < 0.3
        x[noise] = rng.standard_normal(noise.sum()) * 10
        x = x.astype(in_dtype)
        ours = quant.quantize_per_channel(x, scales, zps, axis, qdtype)
        ref = torch.quantize_per_channel(torch.from_numpy(x).float(), torch.from_numpy(scales),
                                         torch.from_numpy(zps), axis % 3, TQ[qdtype])
        np.testing.assert_array_equal(ours, ref.int_repr().numpy())
        np.testing.assert_array_equal(quant.dequantize_per_channel(ours, scales, zps, axis),
                                      ref.dequantize().numpy())


def _torch_observer(cls, qdtype, qscheme, **kw):
    from torch.ao.quantization import observer
    return getattr(observer, cls)(dtype=TQ_OBS[qdtype], qscheme=getattr(torch, qscheme), **kw)


OBS_OPTIONS = [
    dict(), dict(reduce_range=True), dict(quant_min=0, quant_max=15),
    dict(quant_min=-8, quant_max=7), dict(quant_min=-8, quant_max=7, reduce_range=True),
]


@pytest.mark.parametrize("opts", OBS_OPTIONS, ids=lambda o: "-".join(f"{k}{v}" for k, v in
                                                                      o.items()) or "default")
@pytest.mark.parametrize("qscheme", ["per_tensor_affine", "per_tensor_symmetric"])
@pytest.mark.parametrize("qdtype", [np.int8, np.uint8], ids=["int8", "uint8"])
def test_min_max_observer_is_torchs(qdtype, qscheme, opts):
    lo, hi = quant.qrange(qdtype)
    if "quant_min" in opts and not lo <= opts["quant_min"] < opts["quant_max"] <= hi:
        pytest.skip("range not representable in this dtype")
    if opts.get("reduce_range") and qdtype == np.uint8 and qscheme.endswith("symmetric"):
        with pytest.raises(NotImplementedError):
            _torch_observer("MinMaxObserver", qdtype, qscheme, **opts)
        with pytest.raises(ValueError, match="reduce_range"):
            quant.MinMaxObserver(qdtype, qscheme, **opts)
        return
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.7, -0.7, 3.0, -3.0):
        ours = quant.MinMaxObserver(qdtype, qscheme, **opts)
        theirs = _torch_observer("MinMaxObserver", qdtype, qscheme, **opts)
        for _ in range(3):  # running minimum and maximum over batches
            x = (rng.standard_normal((4, 7)) * rng.uniform(0.01, 5) + shift).astype(np.float32)
            ours(x)
            theirs(torch.from_numpy(x))
        s, z = ours.calculate_qparams()
        ts, tz = theirs.calculate_qparams()
        assert (ours.quant_min, ours.quant_max) == (theirs.quant_min, theirs.quant_max)
        assert s == ts.item() and z == tz.item(), (s, ts.item(), z, tz.item())


@pytest.mark.parametrize("qscheme", ["per_channel_affine", "per_channel_symmetric"])
@pytest.mark.parametrize("qdtype", [np.int8, np.uint8], ids=["int8", "uint8"])
@pytest.mark.parametrize("opts", [dict(), dict(reduce_range=True), dict(ch_axis=1)],
                         ids=["default", "reduce", "axis1"])
def test_per_channel_observer_is_torchs(qdtype, qscheme, opts):
    if opts.get("reduce_range") and qdtype == np.uint8 and qscheme.endswith("symmetric"):
        with pytest.raises(ValueError, match="reduce_range"):
            quant.PerChannelMinMaxObserver(dtype=qdtype, qscheme=qscheme, **opts)
        return
    rng = np.random.default_rng(4)
    ours = quant.PerChannelMinMaxObserver(dtype=qdtype, qscheme=qscheme, **opts)
    theirs = _torch_observer("PerChannelMinMaxObserver", qdtype, qscheme, **opts)
    for _ in range(2):
        x = (rng.standard_normal((6, 5, 3, 3)) * rng.uniform(0.1, 3, (6, 1, 1, 1))
             + rng.uniform(-1, 1, (6, 1, 1, 1))).astype(np.float32)
        ours(x)
        theirs(torch.from_numpy(x))
    s, z = ours.calculate_qparams()
    ts, tz = theirs.calculate_qparams()
    np.testing.assert_array_equal(s, ts.numpy())
    np.testing.assert_array_equal(z, tz.numpy())


@pytest.mark.parametrize("qmin,qmax", [(0, 255), (-128, 127), (-8, 7)])
def test_fake_quantize_forward_and_gradient_are_torchs(qmin, qmax):
    rng = np.random.default_rng(5)
    for trial in range(30):
        scale = float(rng.uniform(1e-3, 0.3))
        zp = int(rng.integers(qmin, qmax + 1))
        x = _values(rng, int(rng.integers(1, 60)), scale, zp, np.float32)
        out, cache = quant.fake_quantize_forward(x, scale, zp, qmin, qmax)
        dout = rng.standard_normal(x.shape).astype(np.float32)
        dx = quant.fake_quantize_backward(dout, cache)
        xt = torch.from_numpy(x).requires_grad_()
        tout = torch.fake_quantize_per_tensor_affine(xt, scale, zp, qmin, qmax)
        tdx, = torch.autograd.grad(tout, xt, torch.from_numpy(dout))
        np.testing.assert_array_equal(out, tout.detach().numpy())
        np.testing.assert_array_equal(dx, tdx.numpy())
        assert (dx == 0).any() or cache.inside.all()


def test_fake_quantize_per_channel_is_torchs():
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((4, 3, 5)) * 3).astype(np.float32)
    scales = rng.uniform(0.005, 0.03, 4).astype(np.float32)
    zps = rng.integers(-10, 10, 4)
    out, cache = quant.fake_quantize_per_channel_forward(x, scales, zps, 0, -128, 127)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    dx = quant.fake_quantize_per_channel_backward(dout, cache)
    xt = torch.from_numpy(x).requires_grad_()
    tout = torch.fake_quantize_per_channel_affine(
        xt, torch.from_numpy(scales), torch.from_numpy(zps).int(), 0, -128, 127)
    tdx, = torch.autograd.grad(tout, xt, torch.from_numpy(dout))
    np.testing.assert_array_equal(out, tout.detach().numpy())
    np.testing.assert_array_equal(dx, tdx.numpy())
    assert not cache.inside.all()


def _qparams(x, dtype):
    obs = quant.MinMaxObserver(dtype, "per_tensor_symmetric" if dtype == np.int8 else None)
    obs(x)
    return obs.calculate_qparams()


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
def test_int8_linear_and_conv_equal_the_fake_quantized_float_within_one_step(per_channel):
    rng = np.random.default_rng(7)
    x = rng.random((3, 4, 9, 8)).astype(np.float32)
    w = (rng.standard_normal((5, 4, 3, 3)) * rng.uniform(0.05, 0.5, (5, 1, 1, 1))).astype(
        np.float32)
    b = rng.standard_normal(5).astype(np.float32) * 0.1
    sx, zx = _qparams(x, np.uint8)
    if per_channel:
        obs = quant.PerChannelMinMaxObserver(0, np.int8, "per_channel_symmetric")
        obs(w)
        sw, zw = obs.calculate_qparams()
        qw = quant.quantize_per_channel(w, sw, zw, 0, np.int8)
        wf = quant.dequantize_per_channel(qw, sw, zw, 0)
    else:
        sw, zw = _qparams(w, np.int8)
        qw = quant.quantize_per_tensor(w, sw, zw, np.int8)
        wf = quant.dequantize(qw, sw, zw)
    qx = quant.quantize_per_tensor(x, sx, zx, np.uint8)
    xf = quant.dequantize(qx, sx, zx)
    ref = cb.F.conv2d(xf.astype(np.float64), wf.astype(np.float64), b, stride=2, padding=1)
    so, zo = _qparams(ref, np.uint8)
    q_out = quant.quantized_conv2d(qx, sx, zx, qw, sw, zw, b, so, zo, stride=2, padding=1)
    fq = quant.quantize_per_tensor(ref, so, zo, np.uint8)
    assert q_out.shape == ref.shape and q_out.dtype == np.uint8
    assert np.abs(q_out.astype(int) - fq.astype(int)).max() <= 1
    # linear
    xl = rng.random((6, 20)).astype(np.float32)
    wl = rng.standard_normal((7, 20)).astype(np.float32) * 0.2
    sx, zx = _qparams(xl, np.uint8)
    swl, zwl = _qparams(wl, np.int8)
    qxl = quant.quantize_per_tensor(xl, sx, zx, np.uint8)
    qwl = quant.quantize_per_tensor(wl, swl, zwl, np.int8)
    refl = quant.dequantize(qxl, sx, zx).astype(np.float64) @ \
        quant.dequantize(qwl, swl, zwl).astype(np.float64).T
    so, zo = _qparams(refl, np.uint8)
    ql = quant.quantized_linear(qxl, sx, zx, qwl, swl, zwl, None, so, zo)
    assert np.abs(ql.astype(int) - quant.quantize_per_tensor(refl, so, zo).astype(int)).max() <= 1


def test_prepare_convert_quantizes_weights_and_inputs():
    rng = np.random.default_rng(8)
    model = cb.nn.LeNet5().eval()
    x = rng.random((8, 1, 28, 28)).astype(np.float32)
    qmodel = quant.prepare(model, weight_bits=8, per_channel=True)
    qmodel.eval()
    ref = model(x)
    observed = qmodel(x)        # observing: inputs pass unchanged, weights already quantized
    quant.convert(qmodel)
    out = qmodel(x)
    assert not np.array_equal(out, observed)
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()
    assert np.array_equal(model(x), ref)                 # the original is untouched
    w = qmodel[0].layer.weight.data
    assert len(np.unique(w[0])) <= 256


def test_bad_arguments_raise_with_the_numbers():
    x = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"scale must be finite and > 0.*\[0\.0\]"):
        quant.quantize_per_tensor(x, 0.0, 0, np.int8)
    with pytest.raises(ValueError, match=r"scale.*-0\.5"):
        quant.dequantize(np.zeros(2, np.int8), -0.5, 0)
    with pytest.raises(ValueError, match=r"zero_point=\[200\].*\[-128, 127\]"):
        quant.quantize_per_tensor(x, 0.1, 200, np.int8)
    with pytest.raises(ValueError, match=r"zero_point=\[-1\].*\[0, 255\]"):
        quant.quantize_per_tensor(x, 0.1, -1, np.uint8)
    with pytest.raises(ValueError, match="zero_points"):
        quant.quantize_per_channel(np.zeros((2, 3)), [0.1, 0.1], [0, 300], 0, np.int8)
    with pytest.raises(ValueError, match="2 channels.*3 scales"):
        quant.quantize_per_channel(np.zeros((2, 3)), [0.1] * 3, [0] * 3, 0, np.int8)
    with pytest.raises(TypeError, match="np.int8 or np.uint8"):
        quant.quantize_per_tensor(x, 0.1, 0, np.int16)
    with pytest.raises(ValueError, match="scale"):
        quant.fake_quantize(x, 0, 0, 0, 255)
    with pytest.raises(ValueError, match="zero_point"):
        quant.fake_quantize(x, 0.1, 300, 0, 255)
    with pytest.raises(ValueError, match="quant_min"):
        quant.MinMaxObserver(np.int8, quant_min=-200, quant_max=7)
    with pytest.raises(ValueError, match="no data observed"):
        quant.MinMaxObserver().calculate_qparams()


def test_inputs_are_not_modified():
    x = np.linspace(-1, 1, 11).astype(np.float32)
    keep = x.copy()
    quant.quantize_per_tensor(x, 0.1, 3, np.int8)
    quant.fake_quantize(x, 0.1, 3, -128, 127)
    np.testing.assert_array_equal(x, keep)
