"""Classic CNN architectures built from ``cnnbook.nn`` layers, named as in torchvision.

Every function here is ``name(num_classes=1000, rng=None, dtype=np.float32, **options)`` and
returns a ``cnnbook.nn.Module`` (a named ``Sequential``) that runs forward and backward in NumPy.
Where torchvision has the model, ``state_dict()`` has exactly the keys, shapes and order of
``torchvision.models.<name>()`` (GoogLeNet with ``aux_logits=False``), so torchvision's weights
load unchanged with ``model.load_state_dict(torch.load(...))`` and the parameter counts are
torchvision's. ZF Net follows its paper; NiN follows d2l's ImageNet version of the paper's
blocks. The weights are initialised as torchvision does (same distributions, our generator).

Options (keyword arguments; an unknown one raises a TypeError that lists the valid ones):

- ``in_channels`` (default 3): 1 for grayscale images such as Fashion-MNIST.
- ``width`` (default 1.0): multiplies every channel count (and VGG/AlexNet's hidden units), for
  small networks that train in NumPy; the structure and key names stay the same.
- ``small_input`` (ResNet, DenseNet): a 3x3 stride-1 stem without the max pool, as for
  CIFAR-sized images (He et al. 2016, section 4.2), so 28x28 inputs keep their resolution.
- ``dropout`` (AlexNet, VGG, NiN, GoogLeNet): the dropout probability (torchvision's names).
- ``init`` (default "torchvision"): "zeros" leaves every weight at 0 without drawing a random
  number; the arrays are then only reserved, not touched, so VGG-16's 138 million parameters
  cost no time. For shapes, parameter counts, FLOPs and memory.
- model-specific ones, listed in each docstring.

References:
- torchvision ``torchvision/models/{alexnet,vgg,googlenet,resnet,densenet}.py`` (structure,
  names, initialisation).
- LeCun et al. 1998 (LeNet-5); Krizhevsky, Sutskever & Hinton 2012 (AlexNet); Krizhevsky 2014,
  "One weird trick for parallelizing convolutional neural networks" (the single-stream AlexNet
  torchvision implements); Zeiler & Fergus 2014 (ZF Net); Simonyan & Zisserman 2015 (VGG);
  Lin, Chen & Yan 2014 (Network in Network); Szegedy et al. 2015 (GoogLeNet); He et al. 2016
  (ResNet); Huang et al. 2017 (DenseNet); Zhang et al., Dive into Deep Learning, chapter 8.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from . import functional as F
from . import nn
from ._checks import check_positive_int, check_real, check_unit_interval, make_rng
from .nn import _check_dtype
from .unet import UNet, encoder_classifier, fcn, unet  # noqa: F401  (segmentation: cnnbook/unet.py)

__all__ = ["lenet5", "alexnet", "zfnet", "vgg11", "vgg16", "nin", "googlenet", "resnet18",
           "resnet34", "resnet50", "densenet121", "BasicBlock", "Bottleneck", "Inception",
           "DenseLayer", "MODELS", "unet", "UNet", "fcn", "encoder_classifier", "vit_b_16",
           "mobilenet_v2", "efficientnet_b0", "convnext_tiny",  # noqa: F822
           "InvertedResidual", "MBConv", "CNBlock"]  # noqa: F822


# --------------------------------------------------------------------------- shared helpers
def _options(fn: str, options: dict, defaults: dict) -> dict:
    defaults = dict(defaults, init="torchvision")
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"{fn}: unknown option(s) {unknown}; the options are "
                        f"{sorted(defaults)}.")
    out = dict(defaults)
    out.update(options)
    out["in_channels"] = check_positive_int(fn, "in_channels", out.get("in_channels", 3))
    w = out.get("width", 1.0)
    fix = "e.g. width=0.25 for a quarter of the channels"
    if not 0 < check_real(fn, "width", w, fix) <= 64:
        raise ValueError(f"{fn}: width multiplies every channel count and must be a number in "
                         f"(0, 64], got width={w!r}; {fix}.")
    if "dropout" in out:
        check_unit_interval(fn, "dropout", out["dropout"], "use e.g. dropout=0.5, or 0.0 for none",
                            upper_open=True)
    return out


def _ch(c: int, width: float) -> int:
    """A channel count scaled by the width multiplier (at least 1)."""
    return max(1, int(round(c * width)))


def _setup(fn, num_classes, rng, dtype, opt=None):
    """Checked num_classes, the generator (None with init="zeros") and the dtype."""
    num_classes = check_positive_int(fn, "num_classes", num_classes)
    init = (opt or {}).get("init", "torchvision")
    if init not in ("torchvision", "zeros"):
        raise ValueError(f"{fn}: init must be 'torchvision' (random weights drawn as torchvision "
                         f"does) or 'zeros' (every weight 0: shapes, counts and FLOPs only), got "
                         f"init={init!r}.")
    g = None if init == "zeros" else make_rng(fn, rng)
    return num_classes, g, _check_dtype(fn, dtype)


def _conv(cin, cout, k, g, dt, stride=1, padding=0, bias=True, groups=1, init="kaiming_out"):
    """A Conv2d filled as torchvision does: ``kaiming_out`` (normal, std sqrt(2/fan_out)),
    ``kaiming_in`` (std sqrt(2/fan_in)), ``trunc_normal`` (std 0.01, cut at +-2, GoogLeNet) or
    ``default`` (PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)), AlexNet)."""
    if g is None:                      # init="zeros": shapes only, memory the OS never touches
        return nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=bias, dtype=dt,
                         init="zeros")
    if init == "default":
        return nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=bias, rng=g, dtype=dt)
    c = nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=bias, dtype=dt, init="zeros")
    kh, kw = c.kernel_size
    if init == "trunc_normal":
        std = 0.01
    else:
        fan = (cout if init == "kaiming_out" else cin // groups) * kh * kw
        std = math.sqrt(2.0 / fan)
    w = g.standard_normal(c.weight.shape, dtype=dt.type)
    w *= dt.type(std)
    c.weight.data = w
    if init == "trunc_normal":
        np.clip(c.weight.data, -2.0, 2.0, out=c.weight.data)
    return c


def _linear(cin, cout, g, dt, init="default", std=0.01):
    """A Linear filled as torchvision does: ``default`` (PyTorch's uniform), ``normal`` (N(0, std)
    weight, zero bias: VGG), ``normal_weight`` (N(0, std) weight, PyTorch's bias: GoogLeNet,
    whose cut at +-2 never bites at std 0.01) or ``zero_bias`` (uniform weight, zero bias:
    DenseNet)."""
    if g is None:
        return nn.Linear(cin, cout, dtype=dt, init="zeros")
    if init in ("default", "zero_bias", "normal_weight"):
        lin = nn.Linear(cin, cout, rng=g, dtype=dt)
        if init == "zero_bias":
            lin.bias.data[:] = 0
    else:
        lin = nn.Linear(cin, cout, dtype=dt, init="zeros")
    if init in ("normal", "normal_weight"):
        w = g.standard_normal(lin.weight.shape, dtype=dt.type)
        w *= dt.type(std)
        lin.weight.data = w
    return lin


def _bn(c, dt, eps=1e-5):
    return nn.BatchNorm2d(c, eps=eps, dtype=dt)


def _dropout(p, g):
    return nn.Dropout(p, rng=0 if g is None else int(g.integers(2**31)))


# --------------------------------------------------------------------------- LeNet-5
def lenet5(num_classes=10, rng=None, dtype=np.float32, **options):
    """LeNet-5 for ``(N, 1, 28, 28)`` images: ``cnnbook.nn.LeNet5`` (61,706 parameters with 10
    classes). Options ``activation`` ("relu", "tanh", "sigmoid") and ``pool`` ("max", "avg").
    Its default is 10 classes (digits and Fashion-MNIST), not 1000."""
    fn = "lenet5"
    opt = _options(fn, options, {"activation": "relu", "pool": "max", "in_channels": 1,
                                 "width": 1.0})
    if opt["in_channels"] != 1 or opt["width"] != 1.0:
        raise ValueError(f"{fn}: LeNet-5 takes 1-channel 28x28 images at width 1; got "
                         f"in_channels={opt['in_channels']}, width={opt['width']}.")
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    model = nn.LeNet5(opt["activation"], opt["pool"], num_classes=num_classes,
                      seed=0 if g is None else g, dtype=dt)
    if g is None:
        for p in model.parameters():
            p.data[...] = 0
    return model


# --------------------------------------------------------------------------- AlexNet and ZF Net
def alexnet(num_classes=1000, rng=None, dtype=np.float32, **options):
    """AlexNet as torchvision builds it (61,100,840 parameters): the single-stream variant of
    Krizhevsky 2014 with 64, 192, 384, 256, 256 kernels and no LRN.

    ``variant="paper"`` gives the 2012 paper's network instead: 96, 256, 384, 384, 256 kernels,
    LRN (size 5, alpha 1e-4 per the paper's sum, k=2, beta=0.75) after the first two
    convolutions, and ``groups=2`` in conv2, conv4 and conv5, the layers whose kernels see only
    their own GPU's half of the channels (60,965,224 parameters). Both take 224x224 inputs
    (the first convolution pads by 2; the paper's figure says 224 but its arithmetic needs 227).
    Options: in_channels, width, dropout (0.5), variant.
    """
    fn = "alexnet"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "dropout": 0.5,
                                 "variant": "torchvision"})
    if opt["variant"] not in ("torchvision", "paper"):
        raise ValueError(f"{fn}: variant must be 'torchvision' or 'paper', got {opt['variant']!r}.")
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    w, p, cin = opt["width"], opt["dropout"], opt["in_channels"]
    c = lambda n: _ch(n, w)
    conv = lambda *a, **k: _conv(*a, g=g, dt=dt, init="default", **k)
    if opt["variant"] == "torchvision":
        feats = [conv(cin, c(64), 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                 conv(c(64), c(192), 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                 conv(c(192), c(384), 3, padding=1), nn.ReLU(),
                 conv(c(384), c(256), 3, padding=1), nn.ReLU(),
                 conv(c(256), c(256), 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2)]
        last = c(256)
    else:
        lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
        c2 = lambda n: 2 * _ch(n // 2, w)          # even, so the two GPUs get equal halves
        feats = [conv(cin, c2(96), 11, stride=4, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
                 conv(c2(96), c2(256), 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
                 conv(c2(256), c2(384), 3, padding=1), nn.ReLU(),
                 conv(c2(384), c2(384), 3, padding=1, groups=2), nn.ReLU(),
                 conv(c2(384), c2(256), 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2)]
        last = c2(256)
    hidden = c(4096)
    classifier = nn.Sequential(
        _dropout(p, g), _linear(last * 6 * 6, hidden, g, dt), nn.ReLU(),
        _dropout(p, g), _linear(hidden, hidden, g, dt), nn.ReLU(),
        _linear(hidden, num_classes, g, dt))
    return nn.Sequential(OrderedDict(features=nn.Sequential(*feats),
                                     avgpool=nn.AdaptiveAvgPool2d((6, 6)),
                                     flatten=nn.Flatten(), classifier=classifier))


def zfnet(num_classes=1000, rng=None, dtype=np.float32, **options):
    """ZF Net (Zeiler & Fergus 2014, figure 3): AlexNet with a 7x7 stride-2 first layer
    (instead of 11x11 stride 4) and a stride-2 second layer, so that the first layers keep more
    resolution; 96, 256, 384, 384, 256 kernels on one GPU; contrast normalisation across
    feature maps (here LRN with AlexNet's constants) after the first two pooling layers.

    The paper's sizes 224 -> 110 -> 55 -> 26 -> 13 -> 6 need padding 1 in conv1 and in the first
    two max pools; the keys follow AlexNet's (``features.0.weight``, ``classifier.1.weight``).
    Options: in_channels, width, dropout (0.5).
    """
    fn = "zfnet"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "dropout": 0.5})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    c = lambda n: _ch(n, opt["width"])
    conv = lambda *a, **k: _conv(*a, g=g, dt=dt, init="default", **k)
    lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    feats = [conv(opt["in_channels"], c(96), 7, stride=2, padding=1), nn.ReLU(),
             nn.MaxPool2d(3, 2, padding=1), lrn(),                                 # 110 -> 55
             conv(c(96), c(256), 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1), lrn(),
             conv(c(256), c(384), 3, padding=1), nn.ReLU(),
             conv(c(384), c(384), 3, padding=1), nn.ReLU(),
             conv(c(384), c(256), 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2)]   # 13 -> 6
    p, hidden = opt["dropout"], c(4096)
    classifier = nn.Sequential(
        _dropout(p, g), _linear(c(256) * 6 * 6, hidden, g, dt), nn.ReLU(),
        _dropout(p, g), _linear(hidden, hidden, g, dt), nn.ReLU(),
        _linear(hidden, num_classes, g, dt))
    return nn.Sequential(OrderedDict(features=nn.Sequential(*feats),
                                     avgpool=nn.AdaptiveAvgPool2d((6, 6)),
                                     flatten=nn.Flatten(), classifier=classifier))


# --------------------------------------------------------------------------- VGG
_VGG_CFG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
}


def _vgg(fn, num_classes, rng, dtype, options):
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "dropout": 0.5,
                                 "batch_norm": False})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    c = lambda n: _ch(n, opt["width"])
    layers, cin = [], opt["in_channels"]
    for v in _VGG_CFG[fn]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        conv = _conv(cin, c(v), 3, g, dt, padding=1)
        conv.bias.data[:] = 0
        layers += [conv] + ([_bn(c(v), dt)] if opt["batch_norm"] else []) + [nn.ReLU()]
        cin = c(v)
    p, hidden = opt["dropout"], c(4096)
    classifier = nn.Sequential(
        _linear(cin * 7 * 7, hidden, g, dt, "normal"), nn.ReLU(), _dropout(p, g),
        _linear(hidden, hidden, g, dt, "normal"), nn.ReLU(), _dropout(p, g),
        _linear(hidden, num_classes, g, dt, "normal"))
    return nn.Sequential(OrderedDict(features=nn.Sequential(*layers),
                                     avgpool=nn.AdaptiveAvgPool2d((7, 7)),
                                     flatten=nn.Flatten(), classifier=classifier))


def vgg11(num_classes=1000, rng=None, dtype=np.float32, **options):
    """VGG-11, configuration A of Simonyan & Zisserman (132,863,336 parameters): eight 3x3
    convolutions in five stages separated by 2x2 max pools, then 4096-4096-classes.
    Options: in_channels, width, dropout (0.5), batch_norm (False; True is ``vgg11_bn``)."""
    return _vgg("vgg11", num_classes, rng, dtype, options)


def vgg16(num_classes=1000, rng=None, dtype=np.float32, **options):
    """VGG-16, configuration D (138,357,544 parameters): thirteen 3x3 convolutions.
    Options: in_channels, width, dropout (0.5), batch_norm (False)."""
    return _vgg("vgg16", num_classes, rng, dtype, options)


# --------------------------------------------------------------------------- NiN
def nin(num_classes=1000, rng=None, dtype=np.float32, **options):
    """Network in Network for 224x224 images, as d2l builds it from Lin et al.'s blocks: each
    "mlpconv" block is a convolution followed by two 1x1 convolutions (a small MLP slid over
    the image), and global average pooling over a last block with one channel per class
    replaces the fully connected layers. Keys ``features.<i>.<j>.weight``.
    Options: in_channels, width, dropout (0.5)."""
    fn = "nin"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "dropout": 0.5})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    c = lambda n: _ch(n, opt["width"])

    def block(cin, cout, k, stride, padding):
        conv = lambda a, b, kk, s=1, pd=0: _conv(a, b, kk, g, dt, stride=s, padding=pd,
                                                 init="default")
        return nn.Sequential(conv(cin, cout, k, stride, padding), nn.ReLU(),
                             conv(cout, cout, 1), nn.ReLU(), conv(cout, cout, 1), nn.ReLU())

    feats = [block(opt["in_channels"], c(96), 11, 4, 0), nn.MaxPool2d(3, 2),
             block(c(96), c(256), 5, 1, 2), nn.MaxPool2d(3, 2),
             block(c(256), c(384), 3, 1, 1), nn.MaxPool2d(3, 2),
             _dropout(opt["dropout"], g),
             block(c(384), num_classes, 3, 1, 1)]
    return nn.Sequential(OrderedDict(features=nn.Sequential(*feats),
                                     avgpool=nn.AdaptiveAvgPool2d((1, 1)),
                                     flatten=nn.Flatten()))


# --------------------------------------------------------------------------- GoogLeNet
def _basic_conv(cin, cout, k, g, dt, stride=1, padding=0):
    """torchvision's BasicConv2d: conv (no bias) -> BN (eps 0.001) -> ReLU."""
    return nn.Sequential(OrderedDict(
        conv=_conv(cin, cout, k, g, dt, stride=stride, padding=padding, bias=False,
                   init="trunc_normal"),
        bn=_bn(cout, dt, eps=1e-3), relu=nn.ReLU()))


class Inception(nn.Concat):
    """The Inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 | 3x3 max pool -> 1x1, concatenated
    on channels. The third branch is 3x3 where the paper has 5x5, as in torchvision (its weights
    were trained so); ``five_by_five=True`` gives the paper's 5x5."""

    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, g, dt,
                 five_by_five=False):
        k5 = 5 if five_by_five else 3
        super().__init__(OrderedDict(
            branch1=_basic_conv(cin, ch1x1, 1, g, dt),
            branch2=nn.Sequential(_basic_conv(cin, ch3x3red, 1, g, dt),
                                  _basic_conv(ch3x3red, ch3x3, 3, g, dt, padding=1)),
            branch3=nn.Sequential(_basic_conv(cin, ch5x5red, 1, g, dt),
                                  _basic_conv(ch5x5red, ch5x5, k5, g, dt, padding=k5 // 2)),
            branch4=nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                  _basic_conv(cin, pool_proj, 1, g, dt))))


_INCEPTION = OrderedDict([
    ("inception3a", (192, 64, 96, 128, 16, 32, 32)),
    ("inception3b", (256, 128, 128, 192, 32, 96, 64)),
    ("maxpool3", None),
    ("inception4a", (480, 192, 96, 208, 16, 48, 64)),
    ("inception4b", (512, 160, 112, 224, 24, 64, 64)),
    ("inception4c", (512, 128, 128, 256, 24, 64, 64)),
    ("inception4d", (512, 112, 144, 288, 32, 64, 64)),
    ("inception4e", (528, 256, 160, 320, 32, 128, 128)),
    ("maxpool4", None),
    ("inception5a", (832, 256, 160, 320, 32, 128, 128)),
    ("inception5b", (832, 384, 192, 384, 48, 128, 128)),
])


def googlenet(num_classes=1000, rng=None, dtype=np.float32, **options):
    """GoogLeNet (Inception v1) as torchvision builds it with ``aux_logits=False``
    (6,624,904 parameters): BN after every convolution, nine Inception modules, global average
    pooling, dropout 0.2 and one fully connected layer. Options: in_channels, width,
    dropout (0.2), five_by_five (False: torchvision's 3x3 in the "5x5" branch).
    Takes inputs of 32x32 and up (every max pool rounds up)."""
    fn = "googlenet"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "dropout": 0.2,
                                 "five_by_five": False})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    c = lambda n: _ch(n, opt["width"])
    layers = OrderedDict(
        conv1=_basic_conv(opt["in_channels"], c(64), 7, g, dt, stride=2, padding=3),
        maxpool1=nn.MaxPool2d(3, 2, ceil_mode=True),
        conv2=_basic_conv(c(64), c(64), 1, g, dt),
        conv3=_basic_conv(c(64), c(192), 3, g, dt, padding=1),
        maxpool2=nn.MaxPool2d(3, 2, ceil_mode=True))
    for name, cfg in _INCEPTION.items():
        if cfg is None:
            layers[name] = nn.MaxPool2d(3 if name == "maxpool3" else 2, 2, ceil_mode=True)
        else:
            layers[name] = Inception(*(c(v) for v in cfg), g=g, dt=dt,
                                     five_by_five=opt["five_by_five"])
    last = sum(c(v) for v in (_INCEPTION["inception5b"][1], _INCEPTION["inception5b"][3],
                              _INCEPTION["inception5b"][5], _INCEPTION["inception5b"][6]))
    fc = _linear(last, num_classes, g, dt, "normal_weight")
    layers.update(avgpool=nn.AdaptiveAvgPool2d((1, 1)), flatten=nn.Flatten(),
                  dropout=_dropout(opt["dropout"], g), fc=fc)
    return nn.Sequential(layers)


# --------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    """ResNet-18/34 block, as torchvision writes it: ``relu(bn2(conv2(relu(bn1(conv1(x))))) +
    downsample(x))`` (the identity where ``downsample`` is None). Keys ``conv1, bn1, conv2, bn2,
    downsample.0, downsample.1``. The input feeds both paths, so backward adds their gradients."""
    expansion = 1

    def __init__(self, inplanes, planes, stride, downsample, g, dt):
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 3, g, dt, stride=stride, padding=1, bias=False)
        self.bn1, self.relu = _bn(planes, dt), nn.ReLU()
        self.conv2 = _conv(planes, planes, 3, g, dt, padding=1, bias=False)
        self.bn2 = _bn(planes, dt)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        out, self._cache = F.relu_forward(out + identity)    # the block's last ReLU
        return out

    def backward(self, dout, input_grad=True):
        d = F.relu_backward(dout, self._saved())
        dx = self.conv1.backward(self.bn1.backward(self.relu.backward(
            self.conv2.backward(self.bn2.backward(d)))))
        return dx + (d if self.downsample is None else self.downsample.backward(d))


class Bottleneck(nn.Module):
    """ResNet-50 block (torchvision's "v1.5": the stride sits in the 3x3 convolution;
    ``stride_in_1x1=True`` puts it in the first 1x1 as the 2016 paper did): 1x1 reduce -> BN ->
    ReLU -> 3x3 -> BN -> ReLU -> 1x1 expand (x4) -> BN, plus ``downsample(x)``, ReLU. Keys
    ``conv1, bn1, conv2, bn2, conv3, bn3, downsample`` as in torchvision."""
    expansion = 4

    def __init__(self, inplanes, planes, stride, downsample, g, dt, stride_in_1x1=False):
        super().__init__()
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = _conv(inplanes, planes, 1, g, dt, stride=s1, bias=False)
        self.bn1 = _bn(planes, dt)
        self.conv2 = _conv(planes, planes, 3, g, dt, stride=s3, padding=1, bias=False)
        self.bn2 = _bn(planes, dt)
        self.conv3 = _conv(planes, planes * 4, 1, g, dt, bias=False)
        self.bn3, self.relu = _bn(planes * 4, dt), nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out, c2 = F.relu_forward(out)                          # torchvision reuses self.relu
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        out, c3 = F.relu_forward(out + identity)
        self._cache = (c2, c3)
        return out

    def backward(self, dout, input_grad=True):
        c2, c3 = self._saved()
        d = F.relu_backward(dout, c3)
        h = F.relu_backward(self.conv3.backward(self.bn3.backward(d)), c2)
        dx = self.conv1.backward(self.bn1.backward(self.relu.backward(
            self.conv2.backward(self.bn2.backward(h)))))
        return dx + (d if self.downsample is None else self.downsample.backward(d))


def _resnet(fn, block, counts, num_classes, rng, dtype, options):
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "small_input": False,
                                 "zero_init_residual": False, "stride_in_1x1": False})
    if opt["stride_in_1x1"] and block is not Bottleneck:
        raise ValueError(f"{fn}: stride_in_1x1 applies to bottleneck blocks (resnet50) only.")
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    c = lambda n: _ch(n, opt["width"])
    inplanes = c(64)
    if opt["small_input"]:
        stem = [("conv1", _conv(opt["in_channels"], inplanes, 3, g, dt, padding=1, bias=False)),
                ("bn1", _bn(inplanes, dt)), ("relu", nn.ReLU()), ("maxpool", nn.Identity())]
    else:
        stem = [("conv1", _conv(opt["in_channels"], inplanes, 7, g, dt, stride=2, padding=3,
                                bias=False)),
                ("bn1", _bn(inplanes, dt)), ("relu", nn.ReLU()),
                ("maxpool", nn.MaxPool2d(3, 2, padding=1))]
    layers = OrderedDict(stem)
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts)):
        planes, stride, blocks = c(planes), 1 if i == 0 else 2, []
        for j in range(n):
            s = stride if j == 0 else 1
            down = None
            if s != 1 or inplanes != planes * block.expansion:
                down = nn.Sequential(
                    _conv(inplanes, planes * block.expansion, 1, g, dt, stride=s, bias=False),
                    _bn(planes * block.expansion, dt))
            extra = {"stride_in_1x1": True} if opt["stride_in_1x1"] else {}
            blocks.append(block(inplanes, planes, s, down, g, dt, **extra))
            inplanes = planes * block.expansion
        layers[f"layer{i + 1}"] = nn.Sequential(*blocks)
    layers.update(avgpool=nn.AdaptiveAvgPool2d((1, 1)), flatten=nn.Flatten(),
                  fc=_linear(inplanes, num_classes, g, dt))
    model = nn.Sequential(layers)
    if opt["zero_init_residual"]:          # each block starts as the identity (Goyal et al. 2017)
        for _, m in model.named_modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                (m.bn3 if isinstance(m, Bottleneck) else m.bn2).weight.data[:] = 0
    return model


def resnet18(num_classes=1000, rng=None, dtype=np.float32, **options):
    """ResNet-18 (11,689,512 parameters): a 7x7 stem, four stages of two BasicBlocks (64, 128,
    256, 512 channels), global average pooling, one fully connected layer.
    Options: in_channels, width, small_input, zero_init_residual."""
    return _resnet("resnet18", BasicBlock, (2, 2, 2, 2), num_classes, rng, dtype, options)


def resnet34(num_classes=1000, rng=None, dtype=np.float32, **options):
    """ResNet-34 (21,797,672 parameters): BasicBlocks 3, 4, 6, 3. Options as resnet18."""
    return _resnet("resnet34", BasicBlock, (3, 4, 6, 3), num_classes, rng, dtype, options)


def resnet50(num_classes=1000, rng=None, dtype=np.float32, **options):
    """ResNet-50 (25,557,032 parameters): Bottlenecks 3, 4, 6, 3 (256 to 2048 channels).
    Options as resnet18, and stride_in_1x1 (False: torchvision's v1.5, 4.1 G multiply-adds at
    224x224; True: the paper's v1, 3.9 G, same parameters)."""
    return _resnet("resnet50", Bottleneck, (3, 4, 6, 3), num_classes, rng, dtype, options)


# --------------------------------------------------------------------------- DenseNet
class DenseLayer(nn.Module):
    """One DenseNet layer: ``cat([x, conv2(relu2(norm2(conv1(relu1(norm1(x))))))])``, adding
    ``growth_rate`` channels. Keys ``norm1, conv1, norm2, conv2`` as in torchvision."""

    def __init__(self, cin, growth_rate, bn_size, g, dt):
        super().__init__()
        self.norm1, self.relu1 = _bn(cin, dt), nn.ReLU()
        self.conv1 = _conv(cin, bn_size * growth_rate, 1, g, dt, bias=False, init="kaiming_in")
        self.norm2, self.relu2 = _bn(bn_size * growth_rate, dt), nn.ReLU()
        self.conv2 = _conv(bn_size * growth_rate, growth_rate, 3, g, dt, padding=1, bias=False,
                           init="kaiming_in")

    def forward(self, x):
        h = self.conv1(self.relu1(self.norm1(x)))
        new = self.conv2(self.relu2(self.norm2(h)))
        self._cache = np.shape(x)[1]
        return np.concatenate([x, new], axis=1)

    def backward(self, dout, input_grad=True):
        c = self._saved()
        d = self.conv2.backward(np.ascontiguousarray(dout[:, c:]))
        d = self.conv1.backward(self.norm2.backward(self.relu2.backward(d)))
        return dout[:, :c] + self.norm1.backward(self.relu1.backward(d))   # x fed both


def densenet121(num_classes=1000, rng=None, dtype=np.float32, **options):
    """DenseNet-121 (7,978,856 parameters): growth rate 32, dense blocks of 6, 12, 24, 16
    layers, transitions that halve the channels and the resolution, BN-ReLU before the head.
    Options: in_channels, width (scales growth rate and stem), small_input, growth_rate (32),
    block_config ((6, 12, 24, 16)), num_init_features (64), bn_size (4)."""
    fn = "densenet121"
    opt = _options(fn, options, {"in_channels": 3, "width": 1.0, "small_input": False,
                                 "growth_rate": 32, "block_config": (6, 12, 24, 16),
                                 "num_init_features": 64, "bn_size": 4})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    k = _ch(check_positive_int(fn, "growth_rate", opt["growth_rate"]), opt["width"])
    nf = _ch(check_positive_int(fn, "num_init_features", opt["num_init_features"]), opt["width"])
    bn_size = check_positive_int(fn, "bn_size", opt["bn_size"])
    if opt["small_input"]:
        stem = [("conv0", _conv(opt["in_channels"], nf, 3, g, dt, padding=1, bias=False,
                                init="kaiming_in")),
                ("norm0", _bn(nf, dt)), ("relu0", nn.ReLU()), ("pool0", nn.Identity())]
    else:
        stem = [("conv0", _conv(opt["in_channels"], nf, 7, g, dt, stride=2, padding=3,
                                bias=False, init="kaiming_in")),
                ("norm0", _bn(nf, dt)), ("relu0", nn.ReLU()),
                ("pool0", nn.MaxPool2d(3, 2, padding=1))]
    feats = OrderedDict(stem)
    blocks = tuple(opt["block_config"])
    for i, n in enumerate(blocks):
        feats[f"denseblock{i + 1}"] = nn.Sequential(OrderedDict(
            (f"denselayer{j + 1}", DenseLayer(nf + j * k, k, bn_size, g, dt)) for j in range(n)))
        nf += n * k
        if i != len(blocks) - 1:
            feats[f"transition{i + 1}"] = nn.Sequential(OrderedDict(
                norm=_bn(nf, dt), relu=nn.ReLU(),
                conv=_conv(nf, nf // 2, 1, g, dt, bias=False, init="kaiming_in"),
                pool=nn.AvgPool2d(2, 2)))
            nf //= 2
    feats["norm5"] = _bn(nf, dt)
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(feats), relu=nn.ReLU(), avgpool=nn.AdaptiveAvgPool2d((1, 1)),
        flatten=nn.Flatten(), classifier=_linear(nf, num_classes, g, dt, "zero_bias")))


MODELS = OrderedDict((f.__name__, f) for f in (lenet5, alexnet, zfnet, vgg11, vgg16, nin,
                                                googlenet, resnet18, resnet34, resnet50,
                                                densenet121))


def __getattr__(name):        # the modern CNNs live in cnnbook.modern (no import cycle)
    if name in ("mobilenet_v2", "efficientnet_b0", "convnext_tiny", "InvertedResidual", "MBConv",
                "CNBlock"):
        from . import modern
        return getattr(modern, name)
    raise AttributeError(f"module 'cnnbook.models' has no attribute {name!r}")


from .vit import vit_b_16  # noqa: E402,F401  (built from this module's helpers)
