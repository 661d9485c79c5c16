"""cnnbook.modern (MobileNetV2, EfficientNet-B0, ConvNeXt-Tiny) against hand-written PyTorch
twins that use torchvision's module names.

torchvision cannot be imported beside this CPU torch, so the twins below are written after
torchvision/models/{mobilenetv2,efficientnet,convnext}.py and torchvision/ops/misc.py. The
full-size models are compared by state_dict keys, shapes and order (twins on the meta device)
and parameter counts; small configurations of the same code by logits, input gradient and
every parameter gradient in float64, in training and eval mode.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

from conftest import randomize_batch_norms, twin_step_errors  # noqa: E402

import cnnbook as cb  # noqa: E402
from cnnbook import models as M  # noqa: E402
from cnnbook import nn  # noqa: E402
from cnnbook.arithmetic import count_flops, count_parameters, summary  # noqa: E402


# ------------------------------------------------------------------------- the twins
def _make_divisible(v, divisor=8, min_value=None):
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _cna(cin, cout, k, stride=1, groups=1, norm=tnn.BatchNorm2d, act=None, bias=None,
         padding=None):
    """torchvision.ops.misc.Conv2dNormActivation."""
    padding = (k - 1) // 2 if padding is None else padding
    layers = [tnn.Conv2d(cin, cout, k, stride, padding, groups=groups,
                         bias=norm is None if bias is None else bias)]
    if norm is not None:
        layers.append(norm(cout))
    if act is not None:
        layers.append(act())
    return tnn.Sequential(*layers)


class TInvertedResidual(tnn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(_cna(inp, hidden, 1, act=tnn.ReLU6))
        layers += [_cna(hidden, hidden, 3, stride, hidden, act=tnn.ReLU6),
                   tnn.Conv2d(hidden, oup, 1, 1, 0, bias=False), tnn.BatchNorm2d(oup)]
        self.conv = tnn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class TMobileNetV2(tnn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0, setting=None, last_channel=1280,
                 dropout=0.2):
        super().__init__()
        setting = setting or [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                              [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
        cin = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult))
        features = [_cna(3, cin, 3, 2, act=tnn.ReLU6)]
        for t, c, n, s in setting:
            cout = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(TInvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(_cna(cin, self.last_channel, 1, act=tnn.ReLU6))
        self.features = tnn.Sequential(*features)
        self.classifier = tnn.Sequential(tnn.Dropout(dropout),
                                         tnn.Linear(self.last_channel, num_classes))

    def forward(self, x):
        x = TF.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class TSqueezeExcitation(tnn.Module):
    def __init__(self, input_channels, squeeze_channels, activation=tnn.ReLU):
        super().__init__()
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.fc1 = tnn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = tnn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = tnn.Sigmoid()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


class TStochasticDepth(tnn.Module):
    """torchvision.ops.StochasticDepth; ``drops`` (set by a test) replaces the random draw by
    the decisions our layer made, so that train mode with p > 0 compares exactly."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode, self.drops = p, mode, None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.drops is not None:
            return x * self.drops
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        return x * x.new_empty(size).bernoulli_(1 - self.p) / (1 - self.p)


class TMBConv(tnn.Module):
    def __init__(self, e, k, s, cin, cout, sd_prob):
        super().__init__()
        self.use_res_connect = s == 1 and cin == cout
        hidden = _make_divisible(cin * e)
        layers = []
        if hidden != cin:
            layers.append(_cna(cin, hidden, 1, act=tnn.SiLU))
        layers += [_cna(hidden, hidden, k, s, hidden, act=tnn.SiLU),
                   TSqueezeExcitation(hidden, max(1, cin // 4), tnn.SiLU),
                   _cna(hidden, cout, 1)]
        self.block = tnn.Sequential(*layers)
        self.stochastic_depth = TStochasticDepth(sd_prob, "row")

    def forward(self, x):
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out


B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
      (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


class TEfficientNet(tnn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0, depth_mult=1.0, setting=B0,
                 sd_prob=0.2, last_channel=None, dropout=0.2):
        super().__init__()
        rows = [(e, k, s, _make_divisible(ci * width_mult), _make_divisible(co * width_mult),
                 int(math.ceil(n * depth_mult))) for e, k, s, ci, co, n in setting]
        total, bid = sum(r[5] for r in rows), 0
        layers = [_cna(3, rows[0][3], 3, 2, act=tnn.SiLU)]
        for e, k, s, ci, co, n in rows:
            stage = []
            for i in range(n):
                stage.append(TMBConv(e, k, s if i == 0 else 1, ci if i == 0 else co, co,
                                     sd_prob * bid / total))
                bid += 1
            layers.append(tnn.Sequential(*stage))
        last = last_channel or 4 * rows[-1][4]
        layers.append(_cna(rows[-1][4], last, 1, act=tnn.SiLU))
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.classifier = tnn.Sequential(tnn.Dropout(dropout), tnn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TLayerNorm2d(tnn.LayerNorm):
    def forward(self, x):
        x = TF.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                          self.eps)
        return x.permute(0, 3, 1, 2)


class TPermute(tnn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return torch.permute(x, self.dims)


class TCNBlock(tnn.Module):
    def __init__(self, dim, layer_scale, sd_prob):
        super().__init__()
        self.block = tnn.Sequential(
            tnn.Conv2d(dim, dim, 7, padding=3, groups=dim, bias=True), TPermute([0, 2, 3, 1]),
            tnn.LayerNorm(dim, eps=1e-6), tnn.Linear(dim, 4 * dim), tnn.GELU(),
            tnn.Linear(4 * dim, dim), TPermute([0, 3, 1, 2]))
        self.layer_scale = tnn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = TStochasticDepth(sd_prob, "row")

    def forward(self, x):
        return self.stochastic_depth(self.layer_scale * self.block(x)) + x


class TConvNeXt(tnn.Module):
    def __init__(self, num_classes=1000, dims=(96, 192, 384, 768), depths=(3, 3, 9, 3),
                 sd_prob=0.1, layer_scale=1e-6, patch=4):
        super().__init__()
        norm = lambda c: TLayerNorm2d(c, eps=1e-6)                    # noqa: E731
        layers = [_cna(3, dims[0], patch, patch, norm=norm, bias=True, padding=0)]
        total, bid = sum(depths), 0
        for i, (d, n) in enumerate(zip(dims, depths)):
            stage = []
            for _ in range(n):
                stage.append(TCNBlock(d, layer_scale, sd_prob * bid / max(total - 1.0, 1.0)))
                bid += 1
            layers.append(tnn.Sequential(*stage))
            if i + 1 < len(dims):
                layers.append(tnn.Sequential(norm(d), tnn.Conv2d(d, dims[i + 1], 2, 2)))
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.classifier = tnn.Sequential(norm(dims[-1]), tnn.Flatten(1),
                                         tnn.Linear(dims[-1], num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


# ------------------------------------------------------------------------- full size
FULL = {   # name -> (ours, twin on the meta device, torchvision's count, the paper's G MACs)
    "mobilenet_v2": (M.mobilenet_v2, TMobileNetV2, 3_504_872, 0.300),
    "efficientnet_b0": (M.efficientnet_b0, TEfficientNet, 5_288_548, 0.39),
    "convnext_tiny": (M.convnext_tiny, TConvNeXt, 28_589_128, 4.5),
}


@pytest.mark.parametrize("name", list(FULL))
def test_state_dict_keys_shapes_order_and_count_are_torchvisions(name):
    ours_fn, twin_fn, count, _ = FULL[name]
    ours = ours_fn(init="zeros")
    with torch.device("meta"):
        twin = twin_fn()
    mine = [(k, np.shape(getattr(m, a).data if is_param else getattr(m, a)))
            for k, m, a, is_param in ours._state_entries()]
    theirs = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    assert mine == theirs
    assert count_parameters(ours) == count == sum(p.numel() for p in twin.parameters())
    assert ours.parameters()[0].data.dtype == np.float32


@pytest.mark.parametrize("name", list(FULL))
def test_multiply_adds_at_224_are_the_papers(name):
    ours_fn, _, count, paper = FULL[name]
    model = ours_fn(init="zeros")
    macs = count_flops(model, (1, 3, 224, 224)).macs / 1e9
    assert abs(macs - paper) / paper < 0.02, macs            # 0.301, 0.386, 4.456
    assert summary(model, (1, 3, 224, 224)).total_params == count    # layer_scale included


def test_the_paper_blocks_and_the_schedules():
    mb = M.mobilenet_v2(init="zeros")
    assert sum(isinstance(m, M.InvertedResidual) for m in mb.modules()) == 17
    assert sum(m.use_res_connect for m in mb.modules() if isinstance(m, M.InvertedResidual)) == 10
    ef = M.efficientnet_b0(init="zeros")
    sd = [m.stochastic_depth.p for m in ef.modules() if isinstance(m, M.MBConv)]
    assert len(sd) == 16 and sd[0] == 0 and abs(sd[-1] - 0.2 * 15 / 16) < 1e-12
    cn = M.convnext_tiny(init="zeros")
    sd = [m.stochastic_depth.p for m in cn.modules() if isinstance(m, M.CNBlock)]
    assert len(sd) == 18 and sd[0] == 0 and abs(sd[-1] - 0.1) < 1e-12
    assert np.all(cn.features[1][0].layer_scale.data == np.float32(1e-6))
    deep = M.efficientnet_b0(init="zeros", depth=1.2, width=1.1)        # EfficientNet-B2's
    assert sum(isinstance(m, M.MBConv) for m in deep.modules()) == 23   # torchvision B2: 23
    assert count_parameters(deep) == 9_109_994                          # torchvision B2


# ------------------------------------------------------------------------- small, twin-checked
def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    randomize_batch_norms(model, rng)
    for _, m in model.named_modules():
        if isinstance(m, M.CNBlock):
            m.layer_scale.data = rng.uniform(0.3, 1.0, m.layer_scale.shape)
        elif isinstance(m, nn.LayerNorm) and m.weight is not None:
            m.weight.data = rng.uniform(0.5, 1.5, m.weight.shape)
            m.bias.data = rng.normal(0, 0.2, m.bias.shape)
    return model


def _rel(a, b):
    """max |a - b| / max |b|; a gradient that is zero up to rounding in both (~1e-16: the
    bias of a BatchNorm whose output feeds another BatchNorm in training mode, which removes
    any shift) is measured against 1e-4 instead of its own rounding noise."""
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-4))


def compare_whole(model, twin, x, train, drops=False, seed=1):
    """Logits, input gradient and every parameter gradient: the largest relative error of
    each. With `drops`, the twin's stochastic depth takes our layers' drop decisions."""
    model.astype(np.float64)
    _randomize(model)

    def hand_over_drops(model, twin):
        ours = [m for m in model.modules() if isinstance(m, nn.StochasticDepth)]
        theirs = [m for m in twin.modules() if isinstance(m, TStochasticDepth)]
        for a, b in zip(ours, theirs, strict=True):
            cache = a.__dict__["_cache"]                  # None: a block without a shortcut
            mask = None if cache is None else cache.mask
            b.drops = None if mask is None else torch.from_numpy(mask)

    return twin_step_errors(model, twin, x, train, _rel, seed,
                            hand_over_drops if drops else None)[0]


def _check(errs, n_params, tol=1e-10):
    worst = max(errs, key=errs.get)
    assert errs[worst] < tol, f"worst {worst} = {errs[worst]:.2e}"
    assert len(errs) == n_params + 2


SMALL_MB = [(1, 8, 1, 1), (6, 16, 2, 2), (6, 24, 2, 1)]
SMALL_EF = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 1, 24, 24, 2)]


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_mobilenet_v2_matches_twin(train):
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16))
    model = M.mobilenet_v2(10, rng=0, width=0.25, dropout=0.0, last_channel=32,
                           inverted_residual_setting=SMALL_MB)
    twin = TMobileNetV2(10, 0.25, [list(r) for r in SMALL_MB], 32, 0.0)
    _check(compare_whole(model, twin, x, train), len(model.parameters()))


@pytest.mark.parametrize("train,sd", [(True, 0.0), (True, 0.6), (False, 0.6)],
                         ids=["train", "train-stochastic-depth", "eval"])
def test_efficientnet_matches_twin(train, sd):
    x = np.random.default_rng(0).standard_normal((6, 3, 16, 16))
    model = M.efficientnet_b0(10, rng=0, width=0.25, dropout=0.0, stochastic_depth_prob=sd,
                              last_channel=32, setting=SMALL_EF)
    twin = TEfficientNet(10, 0.25, 1.0, SMALL_EF, sd, 32, 0.0)
    _check(compare_whole(model, twin, x, train, drops=sd > 0), len(model.parameters()))


@pytest.mark.parametrize("train,sd", [(True, 0.0), (True, 0.8), (False, 0.8)],
                         ids=["train", "train-stochastic-depth", "eval"])
def test_convnext_matches_twin(train, sd):
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16))
    model = M.convnext_tiny(10, rng=0, dims=(8, 16), depths=(2, 2), stochastic_depth_prob=sd)
    twin = TConvNeXt(10, (8, 16), (2, 2), sd)
    errs = compare_whole(model, twin, x, train, drops=sd > 0)
    _check(errs, len(model.parameters()))
    assert "dfeatures.1.0.layer_scale" in errs


def test_grayscale_28x28_versions_run_forward_and_backward():
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    models = [M.mobilenet_v2(10, rng=0, in_channels=1, width=0.25,
                             inverted_residual_setting=SMALL_MB, last_channel=64),
              M.efficientnet_b0(10, rng=0, in_channels=1, width=0.25, setting=SMALL_EF,
                                last_channel=64),
              M.convnext_tiny(10, rng=0, in_channels=1, dims=(16, 32, 64), depths=(1, 1, 1),
                              patch_size=2)]
    for m in models:
        out = m(x)
        assert out.shape == (2, 10) and out.dtype == np.float32
        assert m.backward(np.ones_like(out)).shape == x.shape


def test_initialisation_follows_torchvision():
    m = M.convnext_tiny(10, rng=0, dims=(32, 64), depths=(1, 1))
    w = m.features[1][0].block[3].weight.data
    assert abs(w.std() - 0.02) < 0.002 and not np.any(m.features[1][0].block[3].bias.data)
    e = M.efficientnet_b0(10, rng=0)
    lin = e.classifier[1].weight.data
    assert np.abs(lin).max() <= 1 / math.sqrt(10) and not np.any(e.classifier[1].bias.data)
    conv = e.features[0][0].weight.data                  # kaiming normal, fan_out = 32 * 9
    assert abs(conv.std() - math.sqrt(2 / (32 * 9))) < 0.02
    mb = M.mobilenet_v2(10, rng=0)
    assert abs(mb.classifier[1].weight.data.std() - 0.01) < 0.001


def test_options_and_errors():
    with pytest.raises(TypeError, match="unknown option"):
        M.mobilenet_v2(width_mult=0.5)
    with pytest.raises(ValueError, match="same length"):
        M.convnext_tiny(dims=(8, 16), depths=(1,), init="zeros")
    with pytest.raises(ValueError, match="depth"):
        M.efficientnet_b0(depth=0, init="zeros")
    with pytest.raises(ValueError, match="stochastic_depth_prob"):
        M.convnext_tiny(stochastic_depth_prob=1.5, init="zeros")
    with pytest.raises(ValueError, match="4-tuples"):
        M.mobilenet_v2(inverted_residual_setting=[(1, 16, 1)], init="zeros")
    assert cb.models.efficientnet_b0 is M.efficientnet_b0


def test_twins_from_the_module_record_agree():
    model = M.efficientnet_b0(10, rng=0, width=0.25, dropout=0.0, stochastic_depth_prob=0.0,
                              last_channel=32, setting=SMALL_EF).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16))
    c = cb.verify.compare_model(model.eval(), x)
    assert c.passed and max((c.out_err,) + c.grad_errs) < 1e-12
