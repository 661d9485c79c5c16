"""Modern CNNs built from ``cnnbook.nn`` layers, named as in torchvision: MobileNetV2,
EfficientNet-B0 and ConvNeXt-Tiny.

Each function is ``name(num_classes=1000, rng=None, dtype=np.float32, **options)`` and returns a
``cnnbook.nn.Module`` whose ``state_dict()`` has the keys, shapes and order of
``torchvision.models.<name>()``: 3,504,872, 5,288,548 and 28,589,128 parameters. The weights are
initialised as torchvision does (same distributions, our generator). The options make small
versions for 28x28 images with the same code (fewer blocks, narrower layers); ``init="zeros"``
reserves the arrays without drawing, for counts and FLOPs. An unknown option raises a TypeError
that lists the valid ones.

The blocks (``InvertedResidual``, ``MBConv``, ``CNBlock``) are written as
``cnnbook.models.BasicBlock``: their parts as attributes with torchvision's names, a forward
and a short backward in which the input's gradient is the sum over the paths it feeds.

References:
- torchvision ``torchvision/models/{mobilenetv2,efficientnet,convnext}.py``,
  ``torchvision/ops/misc.py`` (Conv2dNormActivation, SqueezeExcitation, Permute).
- Sandler, Howard, Zhu, Zhmoginov & Chen, "MobileNetV2: Inverted Residuals and Linear
  Bottlenecks", CVPR 2018.
- Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
  ICML 2019.
- Liu, Mao, Wu, Feichtenhofer, Darrell & Xie, "A ConvNet for the 2020s", CVPR 2022.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from . import nn
from ._checks import check_positive_int, check_unit_interval
from .blocks import LayerNorm2d, Permute, ReLU6, SqueezeExcitation, StochasticDepth
from .models import _bn, _conv, _dropout, _options, _setup
from .module import _accumulate

__all__ = ["mobilenet_v2", "efficientnet_b0", "convnext_tiny", "InvertedResidual", "MBConv",
           "CNBlock", "make_divisible"]


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's ``_make_divisible``: `v` rounded to the nearest multiple of `divisor` (at
    least `min_value`, default `divisor`), never more than 10 % below `v`."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_norm_act(cin, cout, k, g, dt, stride=1, groups=1, act=None, norm="bn", bias=None,
                   padding=None, init="kaiming_out"):
    """torchvision's Conv2dNormActivation: conv (padding (k-1)//2; a bias only without a norm
    layer, unless `bias` says otherwise) -> norm -> activation, keys ``0, 1, 2``."""
    padding = (k - 1) // 2 if padding is None else padding
    bias = norm is None if bias is None else bias
    conv = _conv(cin, cout, k, g, dt, stride=stride, padding=padding, bias=bias, groups=groups,
                 init=init)
    layers = [conv]
    if norm == "bn":
        layers.append(_bn(cout, dt))
    elif norm == "ln":
        layers.append(LayerNorm2d(cout, eps=1e-6, dtype=dt))
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def _seed(g):
    return 0 if g is None else int(g.integers(2**31))


# --------------------------------------------------------------------------- MobileNetV2
class InvertedResidual(nn.Module):
    """MobileNetV2's block (Sandler et al. 2018, figure 3): a 1x1 convolution expands the
    channels ``expand_ratio`` times (ReLU6), a 3x3 depthwise convolution filters each channel
    (ReLU6, the stride), and a *linear* 1x1 projects back to few channels: no activation after
    it, since a ReLU on a low-dimensional space destroys information. The input is added where
    the shapes agree (stride 1, same channels). Keys ``conv.0.0 ... conv.3`` as torchvision."""

    def __init__(self, inp, oup, stride, expand_ratio, g, dt):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.stride, self.out_channels = stride, oup
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(_conv_norm_act(inp, hidden, 1, g, dt, act=ReLU6))
        layers += [_conv_norm_act(hidden, hidden, 3, g, dt, stride=stride, groups=hidden,
                                  act=ReLU6),
                   _conv(hidden, oup, 1, g, dt, bias=False), _bn(oup, dt)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv(x)
        return x + out if self.use_res_connect else out

    def backward(self, dout, input_grad=True):
        dx = self.conv.backward(dout)
        return dx + dout if self.use_res_connect else dx     # x fed both paths

    def _arithmetic(self):
        return ("add", list(self.conv), None, None) if self.use_res_connect else \
            ("seq", list(self.conv))


_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1))     # t (expansion), c, n (blocks), s (stride)


def mobilenet_v2(num_classes=1000, rng=None, dtype=np.float32, **options):
    """MobileNetV2 as torchvision builds it (3,504,872 parameters, about 0.30 G multiply-adds
    at 224x224): a 3x3 stride-2 stem, 17 inverted residual blocks, a 1x1 convolution to 1280
    channels, global average pooling, dropout and one fully connected layer.

    Options: in_channels (3), width (1.0: torchvision's ``width_mult``; channels rounded to
    multiples of ``round_nearest``), round_nearest (8), dropout (0.2), last_channel (1280),
    inverted_residual_setting (the paper's table 2 as ``(t, c, n, s)`` rows), init.
    """
    fn = "mobilenet_v2"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "round_nearest": 8,
                                 "dropout": 0.2, "last_channel": 1280,
                                 "inverted_residual_setting": _MOBILENET_V2})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    w, r = opt["width"], check_positive_int(fn, "round_nearest", opt["round_nearest"])
    setting = _rows(fn, "inverted_residual_setting", opt["inverted_residual_setting"], 4)
    cin = make_divisible(32 * w, r)
    last = make_divisible(check_positive_int(fn, "last_channel", opt["last_channel"])
                          * max(1.0, w), r)
    feats = [_conv_norm_act(opt["in_channels"], cin, 3, g, dt, stride=2, act=ReLU6)]
    for t, c, n, s in setting:
        cout = make_divisible(c * w, r)
        for i in range(n):
            feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t, g, dt))
            cin = cout
    feats.append(_conv_norm_act(cin, last, 1, g, dt, act=ReLU6))
    fc = _linear_init(last, num_classes, g, dt, "normal")
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(*feats), avgpool=nn.AdaptiveAvgPool2d((1, 1)),
        flatten=nn.Flatten(), classifier=nn.Sequential(_dropout(opt["dropout"], g), fc)))


def _rows(fn, name, rows, n):
    rows = [tuple(r) for r in rows]
    if not rows or any(len(r) != n for r in rows):
        raise ValueError(f"{fn}: {name} must be a non-empty list of {n}-tuples, got {rows!r}.")
    return rows


def _linear_init(cin, cout, g, dt, how):
    """A Linear filled as torchvision's modern models do: ``normal`` (N(0, 0.01), MobileNetV2),
    ``uniform_out`` (U(+-1/sqrt(out_features)), EfficientNet) or ``trunc_normal`` (std 0.02,
    ConvNeXt), each with a zero bias."""
    lin = nn.Linear(cin, cout, dtype=dt, init="zeros")
    if g is None:
        return lin
    if how == "uniform_out":
        bound = 1.0 / math.sqrt(cout)
        lin.weight.data = g.uniform(-bound, bound, lin.weight.shape).astype(dt)
    else:
        std = 0.01 if how == "normal" else 0.02
        lin.weight.data = (g.standard_normal(lin.weight.shape) * std).astype(dt)
    return lin


# --------------------------------------------------------------------------- EfficientNet
class MBConv(nn.Module):
    """EfficientNet's block (Tan & Le 2019; MobileNetV2's inverted residual with SiLU and a
    squeeze-and-excitation after the depthwise convolution): expand 1x1 (skipped at expansion
    1) -> depthwise kxk -> SE (squeeze to a quarter of the *input* channels) -> linear 1x1
    projection; where the shapes agree, stochastic depth on the branch and the input added.
    Keys ``block.0 ... block.3, stochastic_depth`` as torchvision."""

    def __init__(self, expand_ratio, kernel, stride, cin, cout, sd_prob, g, dt):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        hidden = make_divisible(cin * expand_ratio, 8)
        layers = []
        if hidden != cin:
            layers.append(_conv_norm_act(cin, hidden, 1, g, dt, act=nn.SiLU))
        layers += [_conv_norm_act(hidden, hidden, kernel, g, dt, stride=stride, groups=hidden,
                                  act=nn.SiLU),
                   SqueezeExcitation(hidden, max(1, cin // 4), activation=nn.SiLU,
                                     rng=_seed(g), dtype=dt),
                   _conv_norm_act(hidden, cout, 1, g, dt)]
        se = layers[-2]
        for conv in (se.fc1, se.fc2):                   # torchvision re-initialises every conv
            _kaiming_out(conv, g)
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob, "row", rng=_seed(g))
        self.out_channels = cout

    def forward(self, x):
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out

    def backward(self, dout, input_grad=True):
        if not self.use_res_connect:
            return self.block.backward(dout, input_grad)
        return self.block.backward(self.stochastic_depth.backward(dout)) + dout

    def _arithmetic(self):
        return ("add", list(self.block), None, None) if self.use_res_connect else \
            ("seq", list(self.block))


def _kaiming_out(conv, g):
    if g is None:
        conv.weight.data[...] = 0
    else:
        kh, kw = conv.kernel_size
        std = math.sqrt(2.0 / (conv.out_channels * kh * kw))
        conv.weight.data = (g.standard_normal(conv.weight.shape) * std).astype(
            conv.weight.data.dtype)
    if conv.bias is not None:
        conv.bias.data[...] = 0


_EFFICIENTNET_B0 = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                    (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                    (6, 3, 1, 192, 320, 1))  # expand ratio, kernel, stride, C_in, C_out, layers


def efficientnet_b0(num_classes=1000, rng=None, dtype=np.float32, **options):
    """EfficientNet-B0 as torchvision builds it (5,288,548 parameters, about 0.39 G
    multiply-adds at 224x224): a 3x3 stride-2 stem, 16 MBConv blocks in seven stages, a 1x1
    convolution to 1280 channels, pooling, dropout and one fully connected layer; SiLU
    everywhere, stochastic depth rising linearly from 0 to ``stochastic_depth_prob`` over the
    blocks.

    Options: in_channels (3), width (1.0: torchvision's ``width_mult``, channels rounded to
    multiples of 8), depth (1.0: ``depth_mult``, each stage's block count rounded up) — the
    compound scaling of Tan & Le, B1 to B7 being (1.0, 1.1), (1.1, 1.2), ... —, dropout (0.2),
    stochastic_depth_prob (0.2), setting (the rows ``(expand, kernel, stride, C_in, C_out,
    layers)`` of the paper's table 1), last_channel (None: four times the last stage's), init.
    """
    fn = "efficientnet_b0"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "depth": 1.0, "dropout": 0.2,
                                 "stochastic_depth_prob": 0.2, "setting": _EFFICIENTNET_B0,
                                 "last_channel": None})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    sd = check_unit_interval(fn, "stochastic_depth_prob", opt["stochastic_depth_prob"],
                             "use e.g. 0.2, or 0.0 for none")
    depth = opt["depth"]
    if not isinstance(depth, (int, float)) or isinstance(depth, bool) or not 0 < depth <= 64:
        raise ValueError(f"{fn}: depth multiplies every stage's block count and must be a "
                         f"number in (0, 64], got depth={depth!r}; e.g. depth=1.2.")
    ch = lambda c: make_divisible(c * opt["width"], 8)           # noqa: E731
    rows = [(e, k, s, ch(ci), ch(co), int(math.ceil(n * depth)))
            for e, k, s, ci, co, n in _rows(fn, "setting", opt["setting"], 6)]
    total, block_id = sum(r[5] for r in rows), 0
    feats = [_conv_norm_act(opt["in_channels"], rows[0][3], 3, g, dt, stride=2, act=nn.SiLU)]
    for e, k, s, ci, co, n in rows:
        stage = []
        for i in range(n):
            stage.append(MBConv(e, k, s if i == 0 else 1, ci if i == 0 else co, co,
                                sd * block_id / total, g, dt))
            block_id += 1
        feats.append(nn.Sequential(*stage))
    last = opt["last_channel"] if opt["last_channel"] is not None else 4 * rows[-1][4]
    feats.append(_conv_norm_act(rows[-1][4], last, 1, g, dt, act=nn.SiLU))
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(*feats), avgpool=nn.AdaptiveAvgPool2d((1, 1)),
        flatten=nn.Flatten(), classifier=nn.Sequential(
            _dropout(opt["dropout"], g), _linear_init(last, num_classes, g, dt, "uniform_out"))))


# --------------------------------------------------------------------------- ConvNeXt
class CNBlock(nn.Module):
    """ConvNeXt's block (Liu et al. 2022, figure 4): a 7x7 depthwise convolution, LayerNorm
    over the channels, a 1x1 expansion to four times the channels (a ``Linear`` on
    channels-last pixels), GELU, a 1x1 projection back; the result scaled per channel by
    ``layer_scale`` (initialised at 1e-6, so the block starts near the identity), stochastic
    depth, and the input added. Keys ``layer_scale, block.0, block.2, block.3, block.5``."""

    def __init__(self, dim, layer_scale, sd_prob, g, dt):
        super().__init__()
        self.layer_scale = nn.Parameter(np.full((dim, 1, 1), layer_scale, dtype=dt), copy=False)
        dw = _conv(dim, dim, 7, g, dt, padding=3, groups=dim)
        _trunc_normal(dw, g)
        self.block = nn.Sequential(
            dw, Permute([0, 2, 3, 1]), nn.LayerNorm(dim, eps=1e-6, dtype=dt),
            _linear_init(dim, 4 * dim, g, dt, "trunc_normal"), nn.GELU(),
            _linear_init(4 * dim, dim, g, dt, "trunc_normal"), Permute([0, 3, 1, 2]))
        self.stochastic_depth = StochasticDepth(sd_prob, "row", rng=_seed(g))

    def forward(self, x):
        h = self.block(x)                                           # (N, C, H, W)
        self._cache = h
        return self.stochastic_depth(self.layer_scale.data * h) + x

    def backward(self, dout, input_grad=True):
        h = self._saved()
        d = self.stochastic_depth.backward(dout)
        dscale = np.sum(d * h, axis=(0, 2, 3))[:, None, None]    # (C, 1, 1)
        _accumulate(self.layer_scale, dscale)
        dh = self.block.backward(d * self.layer_scale.data)
        return dh + dout                                  # x fed both paths

    def _arithmetic(self):
        return ("add", list(self.block), None, None)


def _trunc_normal(layer, g, std=0.02):
    """N(0, std) cut at +-2 (torch's trunc_normal_ bounds, which never bite at std 0.02)."""
    if g is not None:
        w = g.standard_normal(layer.weight.shape) * std
        layer.weight.data = np.clip(w, -2.0, 2.0).astype(layer.weight.data.dtype)
    if layer.bias is not None:
        layer.bias.data[...] = 0


def convnext_tiny(num_classes=1000, rng=None, dtype=np.float32, **options):
    """ConvNeXt-Tiny as torchvision builds it (28,589,128 parameters, about 4.5 G
    multiply-adds at 224x224): a 4x4 stride-4 "patchify" stem with LayerNorm, four stages of
    3, 3, 9, 3 CNBlocks at 96, 192, 384, 768 channels, each stage after the first entered
    through LayerNorm and a 2x2 stride-2 convolution; pooling, LayerNorm and one fully
    connected layer.

    Options: in_channels (3), width (1.0, multiplies dims), dims ((96, 192, 384, 768)),
    depths ((3, 3, 9, 3)), patch_size (4: the stem's kernel and stride), stochastic_depth_prob
    (0.1, rising linearly to it over the blocks), layer_scale (1e-6), init.
    """
    fn = "convnext_tiny"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "dims": (96, 192, 384, 768),
                                 "depths": (3, 3, 9, 3), "patch_size": 4,
                                 "stochastic_depth_prob": 0.1, "layer_scale": 1e-6})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    dims = [max(1, int(round(check_positive_int(fn, "dims", d) * opt["width"])))
            for d in opt["dims"]]
    depths = [check_positive_int(fn, "depths", d) for d in opt["depths"]]
    if not dims or len(dims) != len(depths):
        raise ValueError(f"{fn}: dims and depths give one entry per stage and must have the same "
                         f"length, got dims={tuple(opt['dims'])}, depths={tuple(depths)}.")
    sd = check_unit_interval(fn, "stochastic_depth_prob", opt["stochastic_depth_prob"],
                             "use e.g. 0.1, or 0.0 for none")
    p = check_positive_int(fn, "patch_size", opt["patch_size"])
    stem = _conv_norm_act(opt["in_channels"], dims[0], p, g, dt, stride=p, norm="ln",
                          bias=True, padding=0, init="kaiming_out")
    _trunc_normal(stem[0], g)
    feats, total, block_id = [stem], sum(depths), 0
    for i, (dim, n) in enumerate(zip(dims, depths)):
        stage = []
        for _ in range(n):
            stage.append(CNBlock(dim, opt["layer_scale"],
                                 sd * block_id / max(total - 1.0, 1.0), g, dt))
            block_id += 1
        feats.append(nn.Sequential(*stage))
        if i + 1 < len(dims):
            down = _conv(dim, dims[i + 1], 2, g, dt, stride=2)
            _trunc_normal(down, g)
            feats.append(nn.Sequential(LayerNorm2d(dim, eps=1e-6, dtype=dt), down))
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(*feats), avgpool=nn.AdaptiveAvgPool2d((1, 1)),
        classifier=nn.Sequential(LayerNorm2d(dims[-1], eps=1e-6, dtype=dt), nn.Flatten(),
                                 _linear_init(dims[-1], num_classes, g, dt, "trunc_normal"))))
