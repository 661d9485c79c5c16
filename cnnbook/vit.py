"""The vision transformer (ViT-B/16 and small copies of it), named as torchvision names it.

``vit_b_16()`` has exactly the ``state_dict`` keys, shapes and order of
``torchvision.models.vit_b_16()`` (86,567,656 parameters): ``class_token``,
``conv_proj`` (the patch embedding: a ``patch_size`` x ``patch_size`` convolution with stride
``patch_size``), ``encoder.pos_embedding``, ``encoder.layers.encoder_layer_<i>`` (``ln_1``,
``self_attention``, ``ln_2``, ``mlp.0``, ``mlp.3``), ``encoder.ln`` and ``heads.head``. The
options make a small ViT for 28x28 images with the same code, e.g.
``vit_b_16(10, image_size=28, patch_size=7, num_layers=2, num_heads=2, hidden_dim=32,
mlp_dim=64, in_channels=1)``.

One encoder block (pre-norm, as torchvision): ``x = x + dropout(attention(ln_1(x)))``, then
``x = x + mlp(ln_2(x))``. The image becomes a sequence: ``conv_proj`` gives ``(N, D, H/p,
W/p)``, flattened to ``(N, H*W/p^2, D)`` patch tokens (row by row), a learned class token is
put in front, the learned position embedding added; the head reads the class token's output.

References:
- A. Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
  Scale", ICLR 2021.
- torchvision ``torchvision/models/vision_transformer.py`` (structure, names, initialisation).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from . import nn
from ._checks import check_positive_int, check_unit_interval
from .attention import MultiheadAttention

__all__ = ["vit_b_16", "VisionTransformer", "Encoder", "EncoderBlock", "MLPBlock"]

_LN_EPS = 1e-6          # torchvision: partial(nn.LayerNorm, eps=1e-6)


def _xavier_linear(cin, cout, g, dt):
    """torchvision's MLPBlock init: Xavier-uniform weight, bias N(0, 1e-6)."""
    from . import init
    lin = nn.Linear(cin, cout, dtype=dt, init="zeros")
    if g is not None:
        init.xavier_uniform_(lin.weight.data, rng=g)
        lin.bias.data[:] = g.standard_normal(cout) * 1e-6
    return lin


class MLPBlock(nn.Sequential):
    """``Linear(D, mlp_dim) -> GELU -> Dropout -> Linear(mlp_dim, D) -> Dropout`` (keys 0 to 4,
    the weights at 0 and 3), applied to the last axis of ``(N, L, D)``."""

    def __init__(self, in_dim, mlp_dim, dropout, g, dt):
        seed = lambda: 0 if g is None else int(g.integers(2**31))      # noqa: E731
        super().__init__(_xavier_linear(in_dim, mlp_dim, g, dt), nn.GELU(),
                         nn.Dropout(dropout, rng=seed()), _xavier_linear(mlp_dim, in_dim, g, dt),
                         nn.Dropout(dropout, rng=seed()))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: ``x = input + dropout(self_attention(ln_1(input)))``, then
    ``x + mlp(ln_2(x))``. The input feeds the attention three times (query, key and value) and
    the shortcut once, so its gradient is the sum of the four."""

    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, g, dt):
        super().__init__()
        seed = lambda: 0 if g is None else int(g.integers(2**31))      # noqa: E731
        self.num_heads = num_heads
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=_LN_EPS, dtype=dt)
        self.self_attention = MultiheadAttention(hidden_dim, num_heads, dropout=attention_dropout,
                                                 rng=seed(), dtype=dt)
        self.dropout = nn.Dropout(dropout, rng=seed())
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=_LN_EPS, dtype=dt)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout, g, dt)

    def forward(self, x, need_weights=False):
        if np.ndim(x) != 3:
            raise ValueError(f"EncoderBlock: expected (batch_size, seq_length, hidden_dim), got "
                             f"shape {np.shape(x)}.")
        a = self.ln_1(x)
        y, weights = self.self_attention(a, a, a, need_weights=need_weights,
                                         average_attn_weights=False)
        x = self.dropout(y) + x
        self._cache = True
        out = x + self.mlp(self.ln_2(x))
        return (out, weights) if need_weights else out

    def backward(self, dout, input_grad=True):
        self._saved()
        dx = dout + self.ln_2.backward(self.mlp.backward(dout))        # x fed mlp and shortcut
        dq, dk, dv = self.self_attention.backward(self.dropout.backward(dx))
        return dx + self.ln_1.backward(dq + dk + dv)

    def _arithmetic_parts(self):
        """The layers in the order they run, for ``cnnbook.arithmetic`` (summary, FLOPs)."""
        return [self.ln_1, self.self_attention, self.dropout, self.ln_2, self.mlp]


class Encoder(nn.Module):
    """``ln(layers(dropout(input + pos_embedding)))``; ``pos_embedding`` ``(1, seq_length,
    hidden_dim)`` drawn from N(0, 0.02^2) as in BERT and torchvision."""

    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                 attention_dropout, g, dt):
        super().__init__()
        pos = np.zeros((1, seq_length, hidden_dim), dt)
        if g is not None:
            pos[:] = g.standard_normal(pos.shape) * 0.02
        self.pos_embedding = nn.Parameter(pos, copy=False)
        self.dropout = nn.Dropout(dropout, rng=0 if g is None else int(g.integers(2**31)))
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout,
                                                attention_dropout, g, dt))
            for i in range(num_layers)))
        self.ln = nn.LayerNorm(hidden_dim, eps=_LN_EPS, dtype=dt)

    def forward(self, x):
        if np.shape(x)[1:] != self.pos_embedding.shape[1:]:
            raise ValueError(f"Encoder: expected (N, {self.pos_embedding.shape[1]}, "
                             f"{self.pos_embedding.shape[2]}) tokens, got shape {np.shape(x)}.")
        self._cache = True
        return self.ln(self.layers(self.dropout(x + self.pos_embedding.data)))

    def backward(self, dout, input_grad=True):
        self._saved()
        d = self.dropout.backward(self.layers.backward(self.ln.backward(dout)))
        nn._accumulate(self.pos_embedding, d.sum(axis=0, keepdims=True))
        return d


class VisionTransformer(nn.Module):
    """torchvision's ``VisionTransformer`` without the optional conv stem and representation
    layer: patch embedding, class token, encoder, linear head on the class token.

    ``forward(x)`` takes ``(N, C, image_size, image_size)`` and returns ``(N, num_classes)``.
    :meth:`attention_maps` returns every block's attention weights for drawing.
    """

    def __init__(self, image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim,
                 dropout=0.0, attention_dropout=0.0, num_classes=1000, in_channels=3, g=None,
                 dt=np.dtype(np.float32)):
        super().__init__()
        fn = "VisionTransformer"
        self.image_size, self.patch_size = image_size, patch_size
        self.hidden_dim, self.mlp_dim = hidden_dim, mlp_dim
        if image_size % patch_size:
            raise ValueError(f"{fn}: image_size={image_size} is not a multiple of patch_size="
                             f"{patch_size}; the patches must tile the image (e.g. image_size="
                             f"{image_size - image_size % patch_size} after a crop).")
        if hidden_dim % num_heads:
            raise ValueError(f"{fn}: hidden_dim={hidden_dim} must be divisible by num_heads="
                             f"{num_heads}; choose num_heads among its divisors.")
        self.conv_proj = nn.Conv2d(in_channels, hidden_dim, patch_size, stride=patch_size,
                                   dtype=dt, init="zeros")
        if g is not None:           # trunc_normal_(std=sqrt(1/fan_in)); the cut at +-2 never bites
            fan_in = in_channels * patch_size * patch_size
            w = g.standard_normal(self.conv_proj.weight.shape) * math.sqrt(1.0 / fan_in)
            self.conv_proj.weight.data[:] = np.clip(w, -2.0, 2.0)
        self.seq_length = (image_size // patch_size) ** 2 + 1
        self.class_token = nn.Parameter(np.zeros((1, 1, hidden_dim), dt), copy=False)
        self.encoder = Encoder(self.seq_length, num_layers, num_heads, hidden_dim, mlp_dim,
                               dropout, attention_dropout, g, dt)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes, dtype=dt,
                                                              init="zeros")))

    def _tokens(self, x):
        n, _, h, w = np.shape(x)
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(f"VisionTransformer: expected {self.image_size}x{self.image_size} "
                             f"images, got {h}x{w}; resize or crop them, or build the model with "
                             f"image_size={h}.")
        p = self.conv_proj(x)                                          # (N, D, H/p, W/p)
        p = p.reshape(n, self.hidden_dim, -1).transpose(0, 2, 1)       # (N, L-1, D), row by row
        cls = np.broadcast_to(self.class_token.data, (n, 1, self.hidden_dim))
        return np.concatenate([cls, p], axis=1), p.shape               # (N, L, D)

    def forward(self, x):
        tokens, shape = self._tokens(x)
        out = self.encoder(tokens)
        self._cache = (shape, np.shape(x)[2:])
        return self.heads(out[:, 0])                                   # the class token

    def backward(self, dout, input_grad=True):
        (n, m, d), (h, w) = self._saved()
        dcls = self.heads.backward(dout)                               # (N, D)
        dtok = np.zeros((n, m + 1, d), dcls.dtype)
        dtok[:, 0] = dcls
        dtok = self.encoder.backward(dtok)
        nn._accumulate(self.class_token, dtok[:, :1].sum(axis=0, keepdims=True))
        p = self.patch_size
        dp = np.ascontiguousarray(dtok[:, 1:].transpose(0, 2, 1)).reshape(n, d, h // p, w // p)
        return self.conv_proj.backward(dp, input_grad)

    def attention_maps(self, x):
        """The attention weights of every block for images `x`: a list of ``(N, heads, L, L)``
        arrays (token 0 the class token, then the patches row by row); nothing is cached for a
        backward."""
        x = np.asarray(x, self.class_token.data.dtype)
        tokens, _ = self._tokens(x)
        enc = self.encoder
        t = enc.dropout(tokens + enc.pos_embedding.data)
        maps = []
        for block in enc.layers:
            t, wts = block(t, need_weights=True)
            maps.append(wts)
        for m in self.modules():
            m._cache = None
        return maps

    def _arithmetic_parts(self):
        """The layers in the order they run, for ``cnnbook.arithmetic`` (summary, FLOPs)."""
        return [self.conv_proj, _Tokens(self), *self.encoder.layers, self.encoder.ln,
                _ClassToken(), self.heads]


class _Tokens:
    """Arithmetic stand-in for the step from patches to tokens: (N, D, h, w) -> (N, h*w + 1, D),
    no multiply-adds; its parameters are the class token and the position embedding."""

    def __init__(self, vit):
        self.d, self._params = vit.hidden_dim, [vit.class_token, vit.encoder.pos_embedding]

    def parameters(self):
        return self._params

    def _shape_macs(self, shape):
        return (shape[0], int(np.prod(shape[2:])) + 1, self.d), 0


class _ClassToken:
    """Arithmetic stand-in: (N, L, D) -> (N, D)."""

    def _shape_macs(self, shape):
        return (shape[0], shape[2]), 0


def vit_b_16(num_classes=1000, rng=None, dtype=np.float32, **options):
    """ViT-B/16 (86,567,656 parameters; about 17.6 G multiply-adds at 224x224): 16x16 patches,
    12 blocks of hidden size 768 with 12 heads and an MLP of 3072, as torchvision builds it.

    Options: image_size (224), patch_size (16), num_layers (12), num_heads (12), hidden_dim
    (768), mlp_dim (3072), dropout (0.0), attention_dropout (0.0), in_channels (3), init
    ("torchvision", or "zeros" for shapes and counts only).

    >>> m = vit_b_16(10, rng=0, image_size=28, patch_size=7, num_layers=1, num_heads=2,
    ...              hidden_dim=8, mlp_dim=16, in_channels=1)
    >>> m(np.zeros((2, 1, 28, 28), np.float32)).shape
    (2, 10)
    """
    from .models import _options, _setup
    fn = "vit_b_16"
    opt = _options(fn, options, {"image_size": 224, "patch_size": 16, "num_layers": 12,
                                 "num_heads": 12, "hidden_dim": 768, "mlp_dim": 3072,
                                 "dropout": 0.0, "attention_dropout": 0.0, "in_channels": 3})
    num_classes, g, dt = _setup(fn, num_classes, rng, dtype, opt)
    sizes = {k: check_positive_int(fn, k, opt[k]) for k in
             ("image_size", "patch_size", "num_layers", "num_heads", "hidden_dim", "mlp_dim")}
    check_unit_interval(fn, "attention_dropout", opt["attention_dropout"],
                        "use attention_dropout=0.0 for none", upper_open=True)
    return VisionTransformer(**sizes, dropout=opt["dropout"],
                             attention_dropout=opt["attention_dropout"], num_classes=num_classes,
                             in_channels=opt["in_channels"], g=g, dt=dt)
