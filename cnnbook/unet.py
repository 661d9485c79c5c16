"""U-Net for semantic segmentation, built from ``cnnbook.nn`` layers.

``fcn(...)`` is the simpler design it improves on (Long et al. 2015): the same encoder and
bottleneck, a 1x1 convolution that scores the classes at ``1/2**depth`` of the resolution, and
one bilinear upsampling by ``2**depth`` back to the input's size.

``unet(in_channels=1, num_classes=11, base=16, depth=3, skip=True)`` returns a :class:`UNet`:
an encoder of ``depth`` levels (two 3x3 convolutions with BatchNorm and ReLU, then a 2x2 max
pool that halves H and W), a bottleneck, and a decoder that mirrors the encoder. Each decoder
level doubles H and W with a 2x2 stride-2 transposed convolution (a kernel size divisible by
the stride, so every output pixel receives exactly one tap: no checkerboard, Odena et al.
2016), concatenates the encoder's feature map of the same size on the channel axis (the *skip
connection*: ``cat([skip, up])``, skip first) and applies two 3x3 convolutions. A 1x1
convolution gives ``num_classes`` scores per pixel. Level ``i`` has ``base * 2**i`` channels.
With ``skip=False`` the decoder sees only the upsampled maps (its first convolution takes half
the channels), which is the ablation of the skip connections.

The state_dict keys are ``downs.{i}.{0..5}`` (conv, bn, relu, conv, bn, relu), ``bottleneck``,
``ups.{i}``, ``decs.{i}`` (as ``downs``) and ``head``, ``i = 0`` at the coarsest decoder level.
H and W must be multiples of ``2**depth``.

``encoder_classifier(model, num_classes=10)`` turns the encoder of a U-Net or an FCN into an
image classifier that *shares* its layers (global average pooling and a linear layer on the
bottleneck): training the classifier trains the segmentation network's encoder, the way
segmentation networks start from a backbone pretrained on classification.

References:
- O. Ronneberger, P. Fischer and T. Brox, "U-Net: Convolutional Networks for Biomedical Image
  Segmentation", MICCAI 2015 (here with padded convolutions, so the output has the input's size,
  and BatchNorm, as most modern implementations).
- J. Long, E. Shelhamer and T. Darrell, "Fully Convolutional Networks for Semantic
  Segmentation", CVPR 2015.
- A. Odena, V. Dumoulin and C. Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from . import functional as F
from . import nn
from ._checks import check_bool, check_positive_int, make_rng

__all__ = ["unet", "UNet", "fcn", "encoder_classifier"]


def _double_conv(cin: int, cout: int, g, dt) -> nn.Sequential:
    """conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN -> ReLU, padding 1: H and W unchanged."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False, rng=g, dtype=dt), nn.BatchNorm2d(cout, dtype=dt),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False, rng=g, dtype=dt), nn.BatchNorm2d(cout, dtype=dt),
        nn.ReLU())


class UNet(nn.Module):
    """The U-Net of :func:`unet` (see the module docstring for the structure and the keys)."""

    def __init__(self, in_channels=1, num_classes=11, base=16, depth=3, skip=True, rng=None,
                 dtype=np.float32):
        super().__init__()
        fn = "unet"
        in_channels = check_positive_int(fn, "in_channels", in_channels)
        num_classes = check_positive_int(fn, "num_classes", num_classes)
        base = check_positive_int(fn, "base", base, "use e.g. base=16")
        depth = check_positive_int(fn, "depth", depth, "use e.g. depth=3")
        self.skip = check_bool(fn, "skip", skip)
        self.in_channels, self.num_classes, self.base, self.depth = (in_channels, num_classes,
                                                                     base, depth)
        g, dt = make_rng(fn, rng), nn._check_dtype(fn, dtype)
        widths = [base * 2 ** i for i in range(depth + 1)]     # channels at each level
        self.downs = nn.ModuleList([_double_conv(in_channels if i == 0 else widths[i - 1],
                                                 widths[i], g, dt) for i in range(depth)])
        self.bottleneck = _double_conv(widths[depth - 1], widths[depth], g, dt)
        levels = range(depth - 1, -1, -1)                       # coarse to fine
        self.ups = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2, rng=g,
                                                     dtype=dt) for i in levels])
        self.decs = nn.ModuleList([_double_conv(widths[i] * (2 if self.skip else 1), widths[i],
                                                g, dt) for i in levels])
        self.head = nn.Conv2d(base, num_classes, 1, rng=g, dtype=dt)

    def forward(self, x):
        N, C, H, W = np.shape(x)
        k = 2 ** self.depth
        if H % k or W % k:
            raise ValueError(
                f"unet: H and W must be multiples of 2**depth = {k} "
                f"(depth={self.depth} halvings), got H={H}, W={W}; pad "
                f"or crop the images to e.g. {H + (-H) % k}x"
                f"{W + (-W) % k}, or use a smaller depth.")
        skips, pools = [], []
        h = x
        for enc in self.downs:
            h = enc(h)
            skips.append(h)             # (N, base*2**i, H/2**i, W/2**i)
            h, c = F.max_pool2d_forward(h, 2)
            pools.append(c)
        h = self.bottleneck(h)          # (N, base*2**depth, H/k, W/k)
        for up, dec, s in zip(self.ups, self.decs, reversed(skips)):
            h = up(h)                   # doubles H and W, halves C
            if self.skip:
                h = np.concatenate([s, h], axis=1)  # (N, 2C, ...)
            h = dec(h)
        self._cache = (pools, [s.shape[1] for s in skips])
        return self.head(h)             # (N, num_classes, H, W)

    def backward(self, dout, input_grad=True):
        pools, widths = self._saved()
        d = self.head.backward(dout)
        dskips = []                                           # fine to coarse, as the encoder
        for up, dec, c in zip(reversed(self.ups), reversed(self.decs), widths):
            d = dec.backward(d)
            if self.skip:                                     # split the concatenation
                dskips.append(d[:, :c])
                d = np.ascontiguousarray(d[:, c:])
            d = up.backward(d)
        d = self.bottleneck.backward(d)
        for i in range(self.depth - 1, -1, -1):
            d = F.max_pool2d_backward(d, pools[i])
            if self.skip:                                     # the encoder map fed two paths
                d = d + dskips[i]
            d = self.downs[i].backward(d, input_grad=input_grad or i > 0)
        return d

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
                f"base={self.base}, depth={self.depth}, skip={self.skip}")


def unet(in_channels=1, num_classes=11, base=16, depth=3, skip=True, rng=None, dtype=np.float32):
    """A U-Net (Ronneberger et al. 2015) with ``depth`` halvings and ``base`` channels at the
    first level; ``skip=False`` drops the skip connections. Input ``(N, in_channels, H, W)``
    with H and W multiples of ``2**depth``; output ``(N, num_classes, H, W)`` logits.

    >>> m = unet(base=4, depth=2, rng=0)
    >>> m(np.zeros((1, 1, 16, 16), np.float32)).shape
    (1, 11, 16, 16)
    """
    return UNet(in_channels, num_classes, base, depth, skip, rng, dtype)


def fcn(in_channels=1, num_classes=11, base=16, depth=3, rng=None, dtype=np.float32):
    """A fully convolutional network (Long et al. 2015, the single-stream "32s" form): the
    encoder and bottleneck of :func:`unet`, a 1x1 convolution to ``num_classes`` scores at
    ``1/2**depth`` of the resolution, and a bilinear ``Upsample`` by ``2**depth``. A named
    ``Sequential``: keys ``down0, pool0, ..., bottleneck, classifier, upsample``.

    >>> fcn(base=4, depth=2, rng=0)(np.zeros((1, 1, 16, 16), np.float32)).shape
    (1, 11, 16, 16)
    """
    fn = "fcn"
    in_channels = check_positive_int(fn, "in_channels", in_channels)
    num_classes = check_positive_int(fn, "num_classes", num_classes)
    base = check_positive_int(fn, "base", base, "use e.g. base=16")
    depth = check_positive_int(fn, "depth", depth, "use e.g. depth=3")
    g, dt = make_rng(fn, rng), nn._check_dtype(fn, dtype)
    layers, cin = OrderedDict(), in_channels
    for i in range(depth):
        layers[f"down{i}"] = _double_conv(cin, base * 2 ** i, g, dt)
        layers[f"pool{i}"] = nn.MaxPool2d(2)
        cin = base * 2 ** i
    layers["bottleneck"] = _double_conv(cin, base * 2 ** depth, g, dt)
    layers["classifier"] = nn.Conv2d(base * 2 ** depth, num_classes, 1, rng=g, dtype=dt)
    layers["upsample"] = nn.Upsample(scale_factor=2 ** depth, mode="bilinear",
                                     align_corners=False)
    return nn.Sequential(layers)


def encoder_classifier(model, num_classes=10, rng=None):
    """An image classifier on the encoder of ``model`` (a :class:`UNet` or an :func:`fcn`),
    sharing its layers: ``down0, pool0, ..., bottleneck`` are the model's own modules (not
    copies), followed by ``gap`` (global average pooling), ``flatten`` and ``fc``, a new
    ``Linear(base * 2**depth, num_classes)``. Training it trains the model's encoder
    (pretraining on classification); ``encoder_classifier(other).load_state_dict(
    clf.state_dict())`` copies a pretrained encoder into another model of the same sizes
    (the ``fc`` goes with it, unused by segmentation).

    >>> m = unet(base=4, depth=2, rng=0)
    >>> clf = encoder_classifier(m, 10, rng=0)
    >>> clf(np.zeros((2, 1, 28, 28), np.float32)).shape
    (2, 10)
    >>> clf.bottleneck is m.bottleneck
    True
    """
    fn = "encoder_classifier"
    num_classes = check_positive_int(fn, "num_classes", num_classes, "e.g. num_classes=10")
    layers = OrderedDict()
    if isinstance(model, UNet):
        for i, down in enumerate(model.downs):
            layers[f"down{i}"] = down
            layers[f"pool{i}"] = nn.MaxPool2d(2)
        layers["bottleneck"] = model.bottleneck
    elif isinstance(model, nn.Sequential) and "bottleneck" in dict(model.named_children()):
        for name, m in model.named_children():
            if name == "classifier":
                break
            layers[name] = m
    else:
        raise TypeError(f"{fn}: model must be a UNet (cnnbook.models.unet) or an FCN "
                        f"(cnnbook.models.fcn), got {type(model).__name__}; build the "
                        f"segmentation network first, e.g. unet(base=8, depth=3).")
    last = layers["bottleneck"]
    width = [p for p in last.parameters()][-1].data.shape[0]   # the last BatchNorm's channels
    dt = last.parameters()[0].data.dtype
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(width, num_classes, rng=make_rng(fn, rng), dtype=dt)
    return nn.Sequential(layers)
