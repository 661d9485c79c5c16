"""The PyTorch twin of a ``cnnbook.nn`` model: the same layers as ``torch.nn`` modules, with the
same names, weights, dtype, train/eval modes and ``requires_grad`` flags.

``to_torch(model)`` (also ``model.to_torch()``) builds the twin from the module record, layer
by layer: each cnnbook class has a builder here (found along the class's MRO, so ``LeNet5``
builds as the ``Sequential`` it is). Blocks with their own forward (``Residual``, ``Concat``,
the ResNet and DenseNet blocks of ``cnnbook.models``) become small torch modules whose children
carry the same attribute names, so the ``state_dict`` keys agree by construction and the
weights copy across by name.

References: PyTorch ``torch.nn`` (module constructors and ``load_state_dict``); torchvision
``models/resnet.py`` and ``models/densenet.py`` (the blocks' forward passes).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache

import numpy as np

__all__ = ["to_torch"]


def _residual_forward(self, x):
    out = self.body(x) + (x if self.shortcut is None else self.shortcut(x))
    return out if self.activation is None else self.activation(out)


def _concat_forward(self, x):
    import torch
    return torch.cat([b(x) for b in self._modules.values()], dim=1)


def _basic_block_forward(self, x):                 # torchvision's BasicBlock and Bottleneck
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    if "conv3" in self._modules:
        out = self.bn3(self.conv3(self.relu(out)))
    down = getattr(self, "downsample", None)
    return self.relu(out + (x if down is None else down(x)))


def _dense_layer_forward(self, x):                 # torchvision's _DenseLayer
    import torch
    h = self.conv1(self.relu1(self.norm1(x)))
    return torch.cat([x, self.conv2(self.relu2(self.norm2(h)))], dim=1)


def _unet_forward(self, x):                        # cnnbook.unet.UNet, the same steps in torch
    import torch
    skips = []
    for enc in self.downs:
        x = enc(x)
        skips.append(x)
        x = torch.nn.functional.max_pool2d(x, 2)
    x = self.bottleneck(x)
    for up, dec, s in zip(self.ups, self.decs, reversed(skips)):
        x = up(x)
        x = dec(torch.cat([s, x], dim=1) if self.skip else x)
    return self.head(x)


def _unet_twin(m):
    twin = _block_class("UNet", _unet_forward)(_parts(m))
    twin.skip = m.skip
    return twin
def _vit_block_forward(self, input):              # torchvision's EncoderBlock
    x = self.ln_1(input)
    x, _ = self.self_attention(x, x, x, need_weights=False)
    x = self.dropout(x) + input
    return x + self.mlp(self.ln_2(x))


def _vit_encoder_forward(self, input):            # torchvision's Encoder
    return self.ln(self.layers(self.dropout(input + self.pos_embedding)))


def _vit_forward(self, x):                        # torchvision's VisionTransformer
    import torch
    x = self.conv_proj(x).flatten(2).transpose(1, 2)            # (N, patches, D)
    x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
    return self.heads(self.encoder(x)[:, 0])


def _with_parameters(block, m):
    """`block` with torch Parameters shaped like `m`'s own (the values are loaded by name)."""
    import torch
    for n, p in m._parameters.items():
        setattr(block, n, None if p is None else torch.nn.Parameter(torch.zeros(p.shape)))
    return block


@lru_cache(maxsize=None)
def _block_class(name: str, forward):
    """A torch.nn.Module class whose children are set by name and whose forward is `forward`."""
    import torch

    def __init__(self, parts):
        torch.nn.Module.__init__(self)
        for n, t in parts.items():
            setattr(self, n, t)
    return type(name, (torch.nn.Module,), {"__init__": __init__, "forward": forward})


def _builders():
    import torch
    from . import models, nn, vit
    t = torch.nn
    b = lambda m: m.bias is not None                                         # noqa: E731
    return [
        (nn.Conv2d, lambda m: t.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                       m.padding, m.dilation, m.groups, b(m), m.padding_mode)),
        (nn.Conv1d, lambda m: t.Conv1d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                       m.padding, m.dilation, bias=b(m))),
        (nn.ConvTranspose2d, lambda m: t.ConvTranspose2d(
            m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding,
            bias=b(m), dilation=m.dilation)),
        (nn.Linear, lambda m: t.Linear(m.in_features, m.out_features, b(m))),
        (nn.MaxPool2d, lambda m: t.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation,
                                             m.return_indices, m.ceil_mode)),
        (nn.AvgPool2d, lambda m: t.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                             m.count_include_pad)),
        (nn.ReLU, lambda m: t.ReLU()), (nn.Tanh, lambda m: t.Tanh()),
        (nn.Sigmoid, lambda m: t.Sigmoid()), (nn.Identity, lambda m: t.Identity()),
        (nn.LeakyReLU, lambda m: t.LeakyReLU(m.negative_slope)),
        (nn.Softmax, lambda m: t.Softmax(m.dim)),
        (nn.Flatten, lambda m: t.Flatten(m.start_dim, m.end_dim)),
        (nn.Dropout, lambda m: t.Dropout(m.p)),
        (nn.BatchNorm2d, lambda m: t.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine,
                                                 m.track_running_stats)),
        (nn.BatchNorm1d, lambda m: t.BatchNorm1d(m.num_features, m.eps, m.momentum, m.affine,
                                                 m.track_running_stats)),
        (nn.LayerNorm, lambda m: t.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine,
                                             m.bias is not None or not m.elementwise_affine)),
        (nn.GroupNorm, lambda m: t.GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine)),
        (nn.GELU, lambda m: t.GELU(m.approximate)), (nn.SiLU, lambda m: t.SiLU()),
        (nn.Upsample, lambda m: t.Upsample(m.size, m.scale_factor, m.mode, m.align_corners)),
        (nn.AdaptiveAvgPool2d, lambda m: t.AdaptiveAvgPool2d(m.output_size)),
        (nn.LocalResponseNorm, lambda m: t.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)),
        (nn.CrossEntropyLoss, lambda m: t.CrossEntropyLoss(
            None if m.weight is None else torch.from_numpy(m.weight), ignore_index=m.ignore_index,
            reduction=m.reduction, label_smoothing=m.label_smoothing)),
        (nn.MSELoss, lambda m: t.MSELoss(reduction=m.reduction)),
        (nn.BCEWithLogitsLoss, lambda m: t.BCEWithLogitsLoss(
            None if m.weight is None else torch.from_numpy(m.weight), reduction=m.reduction,
            pos_weight=None if m.pos_weight is None else torch.from_numpy(m.pos_weight))),
        (nn.Sequential, lambda m: t.Sequential(_parts(m))),
        (nn.ModuleList, lambda m: t.ModuleList(list(_parts(m).values()))),
        (nn.ModuleDict, lambda m: t.ModuleDict(_parts(m))),
        (nn.Residual, lambda m: _block_class("Residual", _residual_forward)(_parts(m))),
        (nn.Concat, lambda m: _block_class("Concat", _concat_forward)(_parts(m))),
        (models.BasicBlock, lambda m: _block_class("BasicBlock", _basic_block_forward)(
            _parts(m))),
        (models.Bottleneck, lambda m: _block_class("Bottleneck", _basic_block_forward)(
            _parts(m))),
        (nn.MultiheadAttention, lambda m: t.MultiheadAttention(
            m.embed_dim, m.num_heads, m.dropout, m.in_proj_bias is not None,
            batch_first=m.batch_first)),
        (vit.EncoderBlock, lambda m: _block_class("EncoderBlock", _vit_block_forward)(_parts(m))),
        (vit.Encoder, lambda m: _with_parameters(
            _block_class("Encoder", _vit_encoder_forward)(_parts(m)), m)),
        (vit.VisionTransformer, lambda m: _with_parameters(
            _block_class("VisionTransformer", _vit_forward)(_parts(m)), m)),
        (models.DenseLayer, lambda m: _block_class("_DenseLayer", _dense_layer_forward)(
            _parts(m))),
        (models.UNet, _unet_twin),
        *_modern_builders(),
    ]


def _squeeze_excitation_forward(self, x):          # torchvision.ops.SqueezeExcitation
    return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


def _stochastic_depth_forward(self, x):           # torchvision.ops.stochastic_depth
    if not self.training or self.p == 0.0:
        return x
    size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
    noise = x.new_empty(size).bernoulli_(1.0 - self.p)
    return x * (noise / (1.0 - self.p) if self.p < 1.0 else noise)


def _layer_norm2d_forward(self, x):               # torchvision.models.convnext.LayerNorm2d
    import torch
    x = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape,
                                       self.weight, self.bias, self.eps)
    return x.permute(0, 3, 1, 2)


def _permute_forward(self, x):                     # torchvision.ops.misc.Permute
    return x.permute(*self.dims)


def _inverted_residual_forward(self, x):          # MobileNetV2's InvertedResidual
    return x + self.conv(x) if self.use_res_connect else self.conv(x)


def _mbconv_forward(self, x):                      # EfficientNet's MBConv
    out = self.block(x)
    return self.stochastic_depth(out) + x if self.use_res_connect else out


def _cnblock_forward(self, x):                     # ConvNeXt's CNBlock
    return self.stochastic_depth(self.layer_scale * self.block(x)) + x


def _modern_builders():
    import torch
    from . import blocks, modern
    t = torch.nn

    def layer_norm2d(m):
        cls = type("LayerNorm2d", (t.LayerNorm,), {"forward": _layer_norm2d_forward})
        return cls(m.normalized_shape, m.eps, m.elementwise_affine)

    def stochastic_depth(m):
        out = _block_class("StochasticDepth", _stochastic_depth_forward)({})
        out.p, out.mode = m.p, m.mode
        return out

    def block(name, forward, m, **attrs):
        out = _block_class(name, forward)(_parts(m))
        for k, v in attrs.items():
            setattr(out, k, v)
        return out

    def cnblock(m):
        out = block("CNBlock", _cnblock_forward, m)
        out.layer_scale = t.Parameter(torch.from_numpy(m.layer_scale.data.copy()))
        return out

    return [
        (blocks.ReLU6, lambda m: t.ReLU6()),
        (blocks.Permute, lambda m: block("Permute", _permute_forward, m, dims=list(m.dims))),
        (blocks.StochasticDepth, stochastic_depth),
        (blocks.LayerNorm2d, layer_norm2d),
        (blocks.SqueezeExcitation, lambda m: block("SqueezeExcitation",
                                                   _squeeze_excitation_forward, m)),
        (modern.InvertedResidual, lambda m: block("InvertedResidual", _inverted_residual_forward,
                                                  m, use_res_connect=m.use_res_connect)),
        (modern.MBConv, lambda m: block("MBConv", _mbconv_forward, m,
                                        use_res_connect=m.use_res_connect)),
        (modern.CNBlock, cnblock),
    ]


def _parts(m) -> OrderedDict:
    """The twins of `m`'s registered sub-modules (None stays None), by name."""
    return OrderedDict((n, None if c is None else _twin(c)) for n, c in m._modules.items())


def _twin(m):
    table = dict(_builders())
    for cls in type(m).__mro__:
        if cls in table:
            return table[cls](m)
    raise TypeError(f"to_torch: no PyTorch twin for a {type(m).__name__}; add a builder for it "
                    f"to cnnbook/twin.py.")


def to_torch(model, device: str = "cpu"):
    """The ``torch.nn`` twin of `model`: same layers and names, the weights and buffers copied
    (no memory shared), the dtype of the parameters, every module's train/eval mode and every
    parameter's ``requires_grad`` (a frozen layer stays frozen); on `device`."""
    import torch
    from .nn import Module
    if not isinstance(model, Module):
        raise TypeError(f"to_torch: expected a cnnbook.nn Module, got {type(model).__name__}.")
    twin = _twin(model)
    floats = [p.data for p in model.parameters()] + [b for b in model.buffers()
                                                     if b.dtype.kind == "f"]
    if floats:
        twin = twin.to(torch.float64 if floats[0].dtype == np.float64 else torch.float32)
    ours = model.state_dict()
    if list(ours) != list(twin.state_dict()):
        raise ValueError(f"to_torch: the twin's state_dict keys {list(twin.state_dict())} differ "
                         f"from the model's {list(ours)}; its builder in cnnbook/twin.py must "
                         f"name the parts as the module does.")
    twin.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ours.items()})
    theirs = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        theirs[name].requires_grad_(p.requires_grad)
    modules = dict(twin.named_modules())
    for name, m in model.named_modules():
        if name in modules:
            modules[name].training = m.training
    return twin.to(device)
