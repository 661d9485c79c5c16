"""Compare every cnnbook layer with PyTorch on every available device: ``python -m cnnbook.verify``.

Each case runs our ``*_forward`` / ``*_backward`` pair and the PyTorch function under
``torch.autograd.grad`` with the same *random* upstream gradient (``cnnbook.torchcompare``), in
float64 and in float32 (TF32 disabled on CUDA), and reports the largest error of the output and of
every gradient, relative to the size of the values (floored at 1). The last case is a whole
LeNet-5: cross-entropy loss and the gradients of the input and all ten parameter arrays, against
its ``torch.nn.Sequential`` twin; after it, whole networks from ``cnnbook.models`` (ResNet-18,
VGG-11, the two-GPU AlexNet, GoogLeNet, DenseNet-121; narrow copies on small inputs, in
training mode, float64) against ``model.to_torch()``. The exit status is 1 if any case fails.

Options: ``--markdown FILE`` also writes the table to FILE; ``--dtype float64`` (or float32) runs
one precision only; ``--device cpu`` one device only.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, NamedTuple

import numpy as np

from .torchcompare import available_devices, compare_with_torch

__all__ = ["Case", "cases", "run", "markdown", "main"]


class Case(NamedTuple):
    layer: str
    case: str
    forward: Callable          # forward(*arrays) -> (out, cache)
    backward: Callable         # backward(dout, cache) -> gradients of arrays[grad_of]
    torch_fn: Callable         # torch_fn(*tensors) -> out
    arrays: tuple
    grad_of: tuple | None
    names: tuple | None
    reference: str = "torch.nn.functional"


def _torch_roi_pool(x, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling written with torch ops, following torchvision's CPU kernel (used when
    torchvision is not installed): corners rounded half away from zero and inclusive, bin i of
    a region of size r spans [floor(i*r/P), ceil((i+1)*r/P)), clipped; empty bins give 0."""
    import math

    import torch
    PH, PW = output_size
    N, C, H, W = x.shape
    outs = []
    for box in boxes.detach().cpu().tolist():
        n = int(box[0])
        x1, y1, x2, y2 = (int(math.copysign(math.floor(abs(v * spatial_scale) + 0.5), v))
                          for v in box[1:])
        rh, rw = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        rows = []
        for i in range(PH):
            h0 = min(max(math.floor(i * rh / PH) + y1, 0), H)
            h1 = min(max(math.ceil((i + 1) * rh / PH) + y1, 0), H)
            cols = []
            for j in range(PW):
                w0 = min(max(math.floor(j * rw / PW) + x1, 0), W)
                w1 = min(max(math.ceil((j + 1) * rw / PW) + x1, 0), W)
                if h1 <= h0 or w1 <= w0:
                    cols.append(x.new_zeros(C))
                else:
                    cols.append(x[n, :, h0:h1, w0:w1].reshape(C, -1).max(dim=1).values)
            rows.append(torch.stack(cols, dim=-1))
        outs.append(torch.stack(rows, dim=-2))
    return torch.stack(outs)


def _whole_model(model, device: str, target=None, train: bool = False):
    """``forward``, ``backward`` and ``torch_fn`` over ``(x, *parameters)`` for `model` and its
    twin ``model.to_torch(device)``, with the starting parameters and the gradient names: the
    logits, or with `target` the cross-entropy loss; ``train=True`` sets training mode before
    every forward pass."""
    import torch
    from torch.func import functional_call

    from . import functional as F
    twin = model.to_torch(device)
    ours = tuple(n for n, _ in model.named_parameters())
    theirs = tuple(n for n, _ in twin.named_parameters())

    def forward(x, *params):
        model.load_state_dict(dict(zip(ours, params)), strict=False)   # buffers stay
        if train:
            model.train()
        out = model(x)
        return (out, None) if target is None else F.cross_entropy_forward(out, target)

    def backward(dout, c):
        model.zero_grad()
        dx = model.backward(dout if target is None else F.cross_entropy_backward(dout, c))
        return (dx,) + tuple(p.grad for p in model.parameters())

    def torch_fn(x, *params):
        out = functional_call(twin, dict(zip(theirs, params)), (x,))
        if target is None:
            return out
        return torch.nn.functional.cross_entropy(out, torch.from_numpy(target).to(x.device))

    params = tuple(p.data.copy() for p in model.parameters())
    return forward, backward, torch_fn, params, ("dx",) + tuple("d" + n for n in ours)


def _lenet_case(device: str, dtype) -> Case:
    """The whole LeNet-5 under a cross-entropy loss: gradients of x and of every parameter."""
    from .nn import LeNet5
    model = LeNet5(seed=0).astype(dtype)
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 28, 28))
    target = rng.integers(0, 10, 4)
    forward, backward, torch_fn, params, names = _whole_model(model, device, target)
    return Case("LeNet5", "N=4, relu+max, cross-entropy", forward, backward, torch_fn,
                (x,) + params, None, names, "torch.nn.Sequential twin")


def _model_case(name: str, what: str, build, x_shape, device: str, dtype) -> Case:
    """A whole cnnbook.models network under a cross-entropy loss, in training mode (batch
    statistics), against ``model.to_torch()``: gradients of the input and of every parameter."""
    model = build().astype(dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    target = rng.integers(0, 10, x_shape[0])
    forward, backward, torch_fn, params, names = _whole_model(model, device, target, train=True)
    return Case(name, f"{what}, input {x_shape}, training mode, cross-entropy, {len(params)} "
                f"parameter arrays", forward, backward, torch_fn, (x,) + params, None,
                names, "model.to_torch() twin")


def compare_model(model, x, *, device: str = "cpu", seed: int = 0):
    """A whole ``cnnbook.nn`` model against its PyTorch twin ``model.to_torch(device)``, in the
    model's current mode: the outputs, and under a random upstream gradient (drawn by
    ``cnnbook.torchcompare.compare_with_torch`` from `seed`) the gradient of the input `x` and
    of every parameter. Returns the :class:`~cnnbook.torchcompare.Comparison` (errors relative
    to ``max(1, max |value|)``, ``grad_names`` ``("dx", "d<parameter name>", ...)``).

    The model's parameter gradients are overwritten; BatchNorm layers in training mode update
    their running statistics once, as one training step would."""
    forward, backward, torch_fn, params, names = _whole_model(model, device)
    x = np.asarray(x)
    return compare_with_torch(forward, backward, torch_fn, (x,) + params, names=names,
                              device=device, dtype=x.dtype, seed=seed)


def model_cases(device: str = "cpu", dtype=np.float64) -> list:
    """Whole networks from ``cnnbook.models`` (narrow copies, small inputs), in training mode."""
    from . import models as M
    # (name, what, builder, input): batch 4 keeps every BatchNorm off a single value per channel
    specs = [
        ("resnet18", "width 1/8, small-input stem",
         lambda: M.resnet18(10, width=0.125, small_input=True), (4, 3, 8, 8)),
        ("vgg11", "width 1/8", lambda: M.vgg11(10, width=0.125, dropout=0.0), (2, 3, 32, 32)),
        ("alexnet", "2012 two-GPU variant (groups=2, LRN), width 1/8",
         lambda: M.alexnet(10, width=0.125, dropout=0.0, variant="paper"), (2, 3, 67, 67)),
        ("googlenet", "width 1/8", lambda: M.googlenet(10, width=0.125, dropout=0.0),
         (4, 3, 32, 32)),
        ("densenet121", "width 1/8, small-input stem",
         lambda: M.densenet121(10, width=0.125, small_input=True), (4, 3, 8, 8)),
        ("vit_b_16", "12x12 images, 4x4 patches, 2 blocks of width 8, 2 heads", _small_vit,
         (4, 3, 12, 12)),
        *_modern_model_specs(),
    ]
    return [_model_case(n, w, b, s, device, dtype) for n, w, b, s in specs] + [
        _unet_case(device, dtype, skip) for skip in (True, False)]


def _unet_case(device: str, dtype, skip: bool) -> Case:
    """The U-Net (cnnbook.unet) in training mode: its per-pixel logits under a random upstream
    gradient, against ``model.to_torch()``."""
    from .unet import unet
    model = unet(in_channels=2, num_classes=5, base=4, depth=2, skip=skip, rng=0).astype(dtype)
    x = np.random.default_rng(0).standard_normal((2, 2, 8, 12))
    forward, backward, torch_fn, params, names = _whole_model(model, device, train=True)
    return Case("unet", f"base 4, depth 2, skip={skip}, input (2, 2, 8, 12), training mode, "
                f"logits, {len(params)} parameter arrays", forward, backward, torch_fn,
                (x,) + params, None, names, "model.to_torch() twin")


def _small_vit():
    """A two-block ViT whose head is not torchvision's zeros (which would stop every gradient
    below it)."""
    from . import models as M
    m = M.vit_b_16(10, rng=0, image_size=12, patch_size=4, num_layers=2, num_heads=2,
                   hidden_dim=8, mlp_dim=12)
    m.heads.head.weight.data[:] = np.random.default_rng(0).standard_normal((10, 8))
    return m


def _attention_cases(add, rng):
    """scaled_dot_product_attention (masks, causal) and MultiheadAttention as self-attention
    (the input's gradient the sum of its query, key and value gradients)."""
    import torch.nn.functional as TF

    from . import functional as F
    from .attention import MultiheadAttention
    r = lambda *s: rng.standard_normal(s)
    keep = rng.random((4, 5)) > 0.4
    keep[:, 0] = True
    for case, kw in [("(2, 3, L=4, S=5, E=6)", {}), ("boolean mask", {"attn_mask": keep}),
                     ("float mask", {"attn_mask": r(4, 5)}), ("is_causal", {"is_causal": True})]:
        tkw = {k: _torch_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        add("scaled_dot_product_attention", case,
            lambda q, k, v, kw=kw: F.scaled_dot_product_attention_forward(q, k, v, **kw),
            F.scaled_dot_product_attention_backward,
            lambda q, k, v, tkw=tkw: TF.scaled_dot_product_attention(
                q, k, v, **{n: t.to(q.device, q.dtype if t.is_floating_point() else t.dtype)
                            if hasattr(t, "to") else t for n, t in tkw.items()}),
            (r(2, 3, 4, 6), r(2, 3, 5, 6), r(2, 3, 5, 7)), names=("dq", "dk", "dv"))
    m = MultiheadAttention(6, 2, rng=0, dtype=np.float64)
    names = [n for n, _ in m.named_parameters()]

    def forward(x, *params):
        for p, v in zip(m.parameters(), params):
            p.data = v
        m.zero_grad()
        return m(x, x, x, need_weights=False)[0], None

    def backward(dout, _):
        dq, dk, dv = m.backward(dout)
        return (dq + dk + dv,) + tuple(p.grad for p in m.parameters())

    def torch_fn(x, wi, bi, wo, bo):
        t = x.transpose(0, 1)
        return TF.multi_head_attention_forward(t, t, t, 6, 2, wi, bi, None, None, False, 0.0, wo,
                                               bo, training=False, need_weights=False)[0] \
            .transpose(0, 1)
    add("MultiheadAttention", "self-attention, E=6, 2 heads, (N=2, L=5)", forward, backward,
        torch_fn, (r(2, 5, 6),) + tuple(p.data.copy() for p in m.parameters()),
        names=("dx",) + tuple("d" + n for n in names), ref="torch.nn.MultiheadAttention")


def _torch_tensor(v):
    import torch
    return torch.from_numpy(np.ascontiguousarray(v))


def module_cases(device: str = "cpu", dtype=np.float64) -> list:
    """Options that live in a ``cnnbook.nn`` layer rather than in a function: Conv2d's padding
    modes (the padded border's gradient folded back), BatchNorm2d without affine parameters
    or running statistics, and the layer classes over the newer function pairs (GELU, SiLU,
    LayerNorm, GroupNorm, BatchNorm1d, Upsample), against the ``torch.nn`` twin."""
    from . import nn
    conv = lambda mode, pad, k=3: nn.Conv2d(3, 4, k, padding=pad, padding_mode=mode, rng=0)  # noqa: E731
    specs = [
        ("Conv2d", "padding='same', kernel 3", conv("zeros", "same")),
        ("Conv2d", "padding_mode='reflect', padding 2", conv("reflect", 2)),
        ("Conv2d", "padding_mode='replicate', padding 1", conv("replicate", 1)),
        ("Conv2d", "padding_mode='circular', padding='same'", conv("circular", "same")),
        ("BatchNorm2d", "affine=False, training", nn.BatchNorm2d(3, affine=False)),
        ("BatchNorm2d", "track_running_stats=False, eval",
         nn.BatchNorm2d(3, track_running_stats=False).eval()),
        ("GELU", "approximate='tanh'", nn.GELU("tanh")),
        ("SiLU", "(2, 3, 6, 7)", nn.SiLU()),
        ("LayerNorm", "normalized_shape=(6, 7)", nn.LayerNorm((6, 7))),
        ("LayerNorm", "normalized_shape=7, bias=False", nn.LayerNorm(7, bias=False)),
        ("GroupNorm", "3 groups of 2 channels", nn.GroupNorm(3, 6), (2, 6, 5, 4)),
        ("GroupNorm", "affine=False, 1 group", nn.GroupNorm(1, 3, affine=False)),
        ("BatchNorm1d", "(N, C, L), training", nn.BatchNorm1d(3), (4, 3, 9)),
        ("BatchNorm1d", "(N, C), momentum=None, eval", nn.BatchNorm1d(3, momentum=None).eval(),
         (8, 3)),
        ("Upsample", "scale_factor=2, nearest", nn.Upsample(scale_factor=2)),
        ("Upsample", "size=(9, 5), bilinear, align_corners=True",
         nn.Upsample(size=(9, 5), mode="bilinear", align_corners=True)),
        ("SqueezeExcitation", "6 channels squeezed to 2, SiLU", nn.SqueezeExcitation(
            6, 2, activation=nn.SiLU, rng=0), (2, 6, 5, 4)),
        ("LayerNorm2d", "(N, C, H, W), eps=1e-6", nn.LayerNorm2d(3, eps=1e-6)),
        ("ReLU6", "(2, 3, 6, 7)", nn.ReLU6()),
        ("StochasticDepth", "p=0.4, row, eval", nn.StochasticDepth(0.4, "row").eval()),
    ]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    out = []
    for layer, case, m, *shape in specs:
        forward, backward, torch_fn, params, names = _whole_model(m.astype(dtype), device)
        xi = rng.standard_normal(shape[0]).astype(dtype) if shape else x
        out.append(Case(layer, case, forward, backward, torch_fn, (xi,) + params, None, names,
                        "torch.nn twin"))
    return out


def cases(device: str = "cpu", dtype=np.float64) -> list:
    """The table of cases: one or more per layer of the public API.

    The groups below draw their inputs, in this order, from one generator seeded with 0."""
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s)
    out = []

    def add(layer, case, fwd, bwd, tfn, arrays, grad_of=None, names=None, ref="torch.nn.functional"):
        out.append(Case(layer, case, fwd, bwd, tfn, tuple(arrays), grad_of, names, ref))

    _convolution_cases(add, r)
    _pooling_cases(add, r)
    _roi_pool_cases(add, r)
    _activation_cases(add, r)
    _linear_and_loss_cases(add, r, rng)
    _normalisation_and_dropout_cases(add, r, rng, dtype)
    _functional_extra_cases(add, np.random.default_rng(1))
    _detection_cases(add, np.random.default_rng(2))
    _attention_cases(add, np.random.default_rng(2))
    _block_cases(add, np.random.default_rng(2))
    _compression_cases(add, np.random.default_rng(2))
    out.append(_lenet_case(device, dtype))
    out += module_cases(device, dtype)
    if np.dtype(dtype) == np.float64:
        # Whole networks in float64 only: in float32 the rounding of ~60 layers, amplified by
        # BatchNorm over a handful of values per channel, reaches the 2e-4 tolerance without
        # any fault (the float64 rows agree to ~1e-13).
        out += model_cases(device, dtype)
    return out


def _compression_cases(add, rng):
    """Knowledge distillation's loss (Hinton et al.) against the same expression in torch."""
    import torch.nn.functional as TF

    from .distill import distillation_loss_backward, distillation_loss_forward

    def torch_kd(s, t, y, T=4.0, alpha=0.9):
        soft = TF.kl_div(TF.log_softmax(s / T, 1), TF.softmax(t / T, 1), reduction="batchmean")
        return alpha * T * T * soft + (1 - alpha) * TF.cross_entropy(s, y)

    add("distillation_loss", "T=4, alpha=0.9", distillation_loss_forward,
        distillation_loss_backward, torch_kd,
        (3 * rng.standard_normal((6, 10)), 3 * rng.standard_normal((6, 10)),
         rng.integers(0, 10, 6)), grad_of=(0,), names=("dstudent",), ref="torch (KL + CE)")


_XYZ = ("dx", "dw", "db")


def _convolution_cases(add, r):
    """conv2d (strides, padding, dilation, groups, flip, no bias), conv1d, conv_transpose2d."""
    import torch.nn.functional as TF

    from . import functional as F
    for s, p, d, g in [(1, 0, 1, 1), (2, 1, 1, 1), (2, 2, 2, 1), ((2, 1), (1, 0), (1, 2), 1),
                       (1, 1, 1, 2), (3, 0, 1, 1)]:
        cin, cout = (4, 6) if g == 2 else (3, 4)
        add("conv2d", f"k3 s{s} p{p} d{d} g{g}",
            lambda x, w, b, s=s, p=p, d=d, g=g: F.conv2d_forward(x, w, b, s, p, d, g),
            F.conv2d_backward,
            lambda x, w, b, s=s, p=p, d=d, g=g: TF.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g),
            (r(2, cin, 9, 8), r(cout, cin // g, 3, 3), r(cout)), names=_XYZ)
    add("conv2d", "k(3,2) flip=True (true convolution)",
        lambda x, w, b: F.conv2d_forward(x, w, b, 1, 1, flip=True), F.conv2d_backward,
        lambda x, w, b: TF.conv2d(x, w.flip(-1, -2), b, padding=1),
        (r(2, 3, 7, 6), r(4, 3, 3, 2), r(4)), names=_XYZ, ref="torch conv2d with w.flip(-1, -2)")
    add("conv2d", "k3 no bias", lambda x, w: F.conv2d_forward(x, w), lambda d, c: F.conv2d_backward(d, c)[:2],
        lambda x, w: TF.conv2d(x, w), (r(2, 3, 6, 6), r(2, 3, 3, 3)), names=_XYZ[:2])
    for s, p, d in [(1, 0, 1), (2, 1, 1), (1, 2, 3)]:
        add("conv1d", f"k3 s{s} p{p} d{d}",
            lambda x, w, b, s=s, p=p, d=d: F.conv1d_forward(x, w, b, s, p, d), F.conv1d_backward,
            lambda x, w, b, s=s, p=p, d=d: TF.conv1d(x, w, b, stride=s, padding=p, dilation=d),
            (r(2, 3, 17), r(4, 3, 3), r(4)), names=_XYZ)
    for s, p, op, d in [(1, 0, 0, 1), (2, 1, 1, 1), (3, 1, 0, 2)]:
        add("conv_transpose2d", f"k3 s{s} p{p} op{op} d{d}",
            lambda x, w, b, s=s, p=p, op=op, d=d: F.conv_transpose2d_forward(x, w, b, s, p, op, d),
            F.conv_transpose2d_backward,
            lambda x, w, b, s=s, p=p, op=op, d=d: TF.conv_transpose2d(
                x, w, b, stride=s, padding=p, output_padding=op, dilation=d),
            (r(2, 3, 5, 4), r(3, 2, 3, 3), r(2)), names=_XYZ)


def _pooling_cases(add, r):
    """max, average, Lp, adaptive and global average pooling."""
    import torch.nn.functional as TF

    from . import functional as F
    for k, s, p, d, ceil in [(2, None, 0, 1, False), (3, 2, 1, 1, False), (2, 1, 0, 1, False),
                             ((3, 2), (2, 1), (1, 0), 1, False), (3, 2, 1, 2, False), (3, 2, 0, 1, True),
                             (2, 3, 0, 1, False)]:
        stride = f"s{s}" if s is not None else "s=k (default)"
        add("max_pool2d", f"k{k} {stride} p{p} d{d}" + (" ceil" if ceil else ""),
            lambda x, k=k, s=s, p=p, d=d, c=ceil: F.max_pool2d_forward(x, k, s, p, d, c),
            F.max_pool2d_backward,
            lambda x, k=k, s=s, p=p, d=d, c=ceil: TF.max_pool2d(x, k, s if s is not None else k, p, d, ceil_mode=c),
            (r(2, 3, 9, 8),), names=("dx",))
    for k, s, p, ceil, cip in [(2, None, 0, False, True), (3, 2, 1, False, True), (3, 2, 1, False, False),
                               (3, 2, 1, True, False), ((2, 3), (1, 2), (1, 1), False, True)]:
        add("avg_pool2d", f"k{k} s{s} p{p}" + (" ceil" if ceil else "") + ("" if cip else " exclude-pad"),
            lambda x, k=k, s=s, p=p, c=ceil, i=cip: F.avg_pool2d_forward(x, k, s, p, c, i),
            F.avg_pool2d_backward,
            lambda x, k=k, s=s, p=p, c=ceil, i=cip: TF.avg_pool2d(x, k, s if s is not None else k, p, c, i),
            (r(2, 3, 9, 8),), names=("dx",))
    for pn, k, s in [(2, 2, None), (3, 3, 2), (2, (3, 2), 1)]:
        add("lp_pool2d", f"p{pn} k{k} s{s}",
            lambda x, pn=pn, k=k, s=s: F.lp_pool2d_forward(x, pn, k, s), F.lp_pool2d_backward,
            lambda x, pn=pn, k=k, s=s: TF.lp_pool2d(x, pn, k, s),
            (np.abs(r(2, 3, 8, 7)) + 0.1,), names=("dx",))
    for osz in [(3, 2), (4, 4), 1]:
        add("adaptive_avg_pool2d", f"9x8 -> {osz}",
            lambda x, o=osz: F.adaptive_avg_pool2d_forward(x, o), F.adaptive_avg_pool2d_backward,
            lambda x, o=osz: TF.adaptive_avg_pool2d(x, o), (r(2, 3, 9, 8),), names=("dx",))
    add("global_avg_pool2d", "9x8", F.global_avg_pool2d_forward, F.global_avg_pool2d_backward,
        lambda x: x.mean(dim=(2, 3), keepdim=True), (r(2, 3, 9, 8),), names=("dx",),
        ref="torch mean over (H, W)")


def _roi_pool_cases(add, r):
    """RoI pooling of four boxes (one partly outside the map) at two scales."""
    from . import functional as F
    boxes = np.array([[0, 1, 1, 10, 7], [1, 0, 2, 5.4, 9], [0, 3.5, 0.2, 14, 13], [1, -2, -2, 3, 3]])
    try:
        import torchvision.ops as tvo
        roi_ref, roi_fn = "torchvision.ops.roi_pool", \
            lambda x, bx, sc: tvo.roi_pool(x, bx.to(x.dtype), (3, 2), sc)
    except ImportError:
        roi_ref, roi_fn = "torch loop (torchvision absent)", \
            lambda x, bx, sc: _torch_roi_pool(x, bx, (3, 2), sc)
    for sc in (1.0, 0.5):
        add("roi_pool", f"4 boxes, 3x2 bins, scale {sc} [ref: {roi_ref}]",
            lambda x, bx, sc=sc: F.roi_pool_forward(x, bx, (3, 2), sc), F.roi_pool_backward,
            lambda x, bx, sc=sc: roi_fn(x, bx, sc), (r(2, 3, 12, 11), boxes),
            grad_of=(0,), names=("dx",), ref=roi_ref)


def _activation_cases(add, r):
    """ReLU, sigmoid, tanh, leaky ReLU, softplus."""
    import torch
    import torch.nn.functional as TF

    from . import functional as F
    for name, tfn, kw in [("relu", TF.relu, {}), ("sigmoid", torch.sigmoid, {}), ("tanh", torch.tanh, {}),
                          ("leaky_relu", TF.leaky_relu, {"negative_slope": 0.1}),
                          ("softplus", TF.softplus, {"beta": 2})]:
        add(name, ", ".join(f"{k}={v}" for k, v in kw.items()) or "default",
            lambda x, n=name, kw=kw: getattr(F, n + "_forward")(x, **kw), getattr(F, name + "_backward"),
            lambda x, t=tfn, kw=kw: t(x, **kw), (3 * r(4, 5, 6),), names=("dx",))


def _linear_and_loss_cases(add, r, rng):
    """linear, flatten, softmax, log-softmax and the three losses."""
    import torch
    import torch.nn.functional as TF

    from . import functional as F
    add("linear", "(5, 7) -> 3", F.linear_forward, F.linear_backward, TF.linear,
        (r(5, 7), r(3, 7), r(3)), names=_XYZ)
    add("flatten", "start_dim=1", F.flatten_forward, F.flatten_backward,
        lambda x: torch.flatten(x, 1), (r(2, 3, 4, 5),), names=("dx",))
    for dim in (-1, 1):
        add("softmax", f"dim={dim}", lambda x, d=dim: F.softmax_forward(x, d), F.softmax_backward,
            lambda x, d=dim: TF.softmax(x, d), (r(3, 4, 5),), names=("dx",))
        add("log_softmax", f"dim={dim}", lambda x, d=dim: F.log_softmax_forward(x, d),
            F.log_softmax_backward, lambda x, d=dim: TF.log_softmax(x, d), (r(3, 4, 5),), names=("dx",))
    add("cross_entropy", "N=6, 10 classes", F.cross_entropy_forward, F.cross_entropy_backward,
        TF.cross_entropy, (4 * r(6, 10), rng.integers(0, 10, 6)), grad_of=(0,), names=("dlogits",))
    add("binary_cross_entropy_with_logits", "(4, 5)",
        F.binary_cross_entropy_with_logits_forward, F.binary_cross_entropy_with_logits_backward,
        TF.binary_cross_entropy_with_logits, (4 * r(4, 5), rng.random((4, 5))), grad_of=(0,),
        names=("dlogits",))
    add("mse_loss", "(4, 5)", F.mse_loss_forward, F.mse_loss_backward, TF.mse_loss,
        (r(4, 5), r(4, 5)), grad_of=(0,), names=("dinput",))
    add("dice_loss", "(2, 4, 3, 5), eps=1, ignore_index=255", lambda z, t: F.dice_loss_forward(
        z, t, 1.0, 255), F.dice_loss_backward, _torch_dice_loss,
        (4 * r(2, 4, 3, 5), np.where(rng.random((2, 3, 5)) < 0.2, 255, rng.integers(0, 4, (2, 3, 5)))),
        grad_of=(0,), names=("dlogits",), ref="soft Dice written in torch")


def _torch_dice_loss(z, t, eps=1.0, ignore_index=255):
    """Soft Dice (Milletari et al. 2016) in torch operations; autograd gives the gradient."""
    import torch
    p = torch.softmax(z, dim=1)
    valid = (t != ignore_index).unsqueeze(1).to(z.dtype)
    g = torch.nn.functional.one_hot(torch.where(t == ignore_index, 0, t), z.shape[1])
    g = g.movedim(-1, 1).to(z.dtype) * valid
    dims = tuple(range(2, z.ndim))
    return (1 - (2 * (p * g).sum(dims) + eps) / ((p * valid).sum(dims) + g.sum(dims) + eps)).mean()


def _normalisation_and_dropout_cases(add, r, rng, dtype):
    """batch norm (train and eval), local response norm, dropout (same mask)."""
    import torch
    import torch.nn.functional as TF

    from . import functional as F
    add("batch_norm2d", "training, batch statistics",
        lambda x, g, b: F.batch_norm2d_forward(x, g, b, training=True), F.batch_norm2d_backward,
        lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True),
        (2 * r(4, 3, 5, 6) + 1, r(3), r(3)), names=("dx", "dgamma", "dbeta"))
    add("batch_norm2d", "eval, running statistics",
        lambda x, g, b, m, v: F.batch_norm2d_forward(x, g, b, m, v, training=False),
        F.batch_norm2d_backward,
        lambda x, g, b, m, v: TF.batch_norm(x, m, v, g, b, training=False),
        (r(4, 3, 5, 6), r(3), r(3), r(3), rng.random(3) + 0.5), grad_of=(0, 1, 2),
        names=("dx", "dgamma", "dbeta"))
    for size, k in [(5, 2.0), (2, 1.0)]:
        add("local_response_norm", f"size={size}, alpha=1e-2, beta=0.75, k={k}",
            lambda x, n=size, k=k: F.local_response_norm_forward(x, n, 1e-2, 0.75, k),
            F.local_response_norm_backward,
            lambda x, n=size, k=k: TF.local_response_norm(x, n, 1e-2, 0.75, k),
            (3 * r(2, 7, 4, 5),), names=("dx",))
    p = 0.3
    shape = (4, 5, 6)
    keep = F.dropout_forward(np.ones(shape, dtype=dtype), p, True, np.random.default_rng(7))[1].mask != 0
    add("dropout", f"p={p}, same mask", lambda x: F.dropout_forward(x, p, True, np.random.default_rng(7)),
        F.dropout_backward,
        lambda x: x * torch.from_numpy(keep).to(x.device) / (1 - p), (r(*shape),), names=("dx",),
        ref="x * mask / (1 - p)")


def _functional_extra_cases(add, rng):
    """GELU, SiLU, layer/group/1-d batch norm, interpolate, pad, and the losses' full options
    (weights, ignore_index, reductions, label smoothing, per-pixel logits); inputs drawn from
    their own generator."""
    import torch
    import torch.nn.functional as TF

    from . import functional as F
    r = lambda *s: rng.standard_normal(s)
    for name, kw, tfn in [("gelu", {}, TF.gelu), ("gelu", {"approximate": "tanh"}, TF.gelu),
                          ("silu", {}, TF.silu)]:
        add(name, ", ".join(f"{k}={v!r}" for k, v in kw.items()) or "default",
            lambda x, n=name, kw=kw: getattr(F, n + "_forward")(x, **kw),
            getattr(F, name + "_backward"), lambda x, t=tfn, kw=kw: t(x, **kw), (3 * r(4, 5, 6),),
            names=("dx",))
    wb = ("dx", "dweight", "dbias")
    add("layer_norm", "(2, 3, 4, 5) over (4, 5)",
        lambda x, w, b: F.layer_norm_forward(x, (4, 5), w, b), F.layer_norm_backward,
        lambda x, w, b: TF.layer_norm(x, (4, 5), w, b), (2 * r(2, 3, 4, 5) + 1, r(4, 5), r(4, 5)),
        names=wb)
    add("group_norm", "(2, 6, 4, 5), 3 groups",
        lambda x, w, b: F.group_norm_forward(x, 3, w, b), F.group_norm_backward,
        lambda x, w, b: TF.group_norm(x, 3, w, b), (2 * r(2, 6, 4, 5) + 1, r(6), r(6)), names=wb)
    for shape in [(6, 4), (5, 4, 7)]:
        add("batch_norm1d", f"{shape}, training",
            lambda x, g, b: F.batch_norm1d_forward(x, g, b), F.batch_norm1d_backward,
            lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True),
            (2 * r(*shape) + 1, r(4), r(4)), names=("dx", "dgamma", "dbeta"))
    for kw in [dict(scale_factor=2, mode="nearest"), dict(size=(4, 11), mode="nearest"),
               dict(scale_factor=1.7, mode="bilinear", align_corners=False),
               dict(scale_factor=0.5, mode="bilinear", align_corners=False),
               dict(size=(9, 4), mode="bilinear", align_corners=True)]:
        add("interpolate", ", ".join(f"{k}={v}" for k, v in kw.items()),
            lambda x, kw=kw: F.interpolate_forward(x, **kw), F.interpolate_backward,
            lambda x, kw=kw: TF.interpolate(x, **kw), (r(2, 3, 6, 7),), names=("dx",))
    for mode, p in [("constant", (1, 2, -1, 3)), ("reflect", (2, 1, 3, 0)),
                    ("replicate", (3, 1, 0, 2)), ("circular", (2, 3, 1, 1))]:
        add("pad", f"{mode} {p}", lambda x, m=mode, p=p: F.pad_forward(x, p, m),
            F.pad_backward, lambda x, m=mode, p=p: TF.pad(x, p, mode=m), (r(2, 3, 5, 4),),
            names=("dx",))
    target = rng.integers(0, 5, (2, 3, 4))
    target[0, 0] = -100
    for reduction, ls in [("mean", 0.0), ("mean", 0.1), ("sum", 0.1), ("none", 0.2)]:
        add("cross_entropy", f"(N, C, H, W), weight, ignore_index, {reduction}, "
            f"label_smoothing={ls}",
            lambda z, w, red=reduction, ls=ls: F.cross_entropy_forward(
                z, target, w, reduction=red, label_smoothing=ls), F.cross_entropy_backward,
            lambda z, w, red=reduction, ls=ls: TF.cross_entropy(
                z, torch.from_numpy(target).to(z.device), w, reduction=red, label_smoothing=ls),
            (2 * r(2, 5, 3, 4), rng.random(5) + 0.2), grad_of=(0,), names=("dlogits",))
    for reduction in ("sum", "none"):
        add("mse_loss", reduction, lambda a, b, red=reduction: F.mse_loss_forward(a, b, red),
            F.mse_loss_backward, lambda a, b, red=reduction: TF.mse_loss(a, b, reduction=red),
            (r(4, 5), r(4, 5)), grad_of=(0,), names=("dinput",))
    for reduction in ("mean", "none"):
        add("binary_cross_entropy_with_logits", f"weight, pos_weight, {reduction}",
            lambda z, t, w, pw, red=reduction: F.binary_cross_entropy_with_logits_forward(
                z, t, w, red, pw), F.binary_cross_entropy_with_logits_backward,
            lambda z, t, w, pw, red=reduction: TF.binary_cross_entropy_with_logits(
                z, t, w, reduction=red, pos_weight=pw),
            (4 * r(4, 5), rng.random((4, 5)), rng.random((4, 1)), 3 * rng.random(5)),
            grad_of=(0,), names=("dlogits",))


class Result(NamedTuple):
    layer: str
    case: str
    device: str
    dtype: str
    out_err: float
    grad_errs: str
    tol: float
    passed: bool
    reference: str


def run(devices=None, dtypes=(np.float64, np.float32)) -> list:
    """Run every case on every device and dtype; returns a list of Result rows."""
    devices = available_devices() if devices is None else list(devices)
    results = []
    for device in devices:
        for dtype in dtypes:
            dname = np.dtype(dtype).name
            for c in cases(device, dtype):
                try:
                    cmp = compare_with_torch(c.forward, c.backward, c.torch_fn, c.arrays,
                                             grad_of=c.grad_of, names=c.names, device=device,
                                             dtype=dtype)
                    pairs = list(zip(cmp.grad_names, cmp.grad_errs))
                    if len(pairs) > 12:          # a whole network: the input and the worst weight
                        n_w, e_w = max(pairs[1:], key=lambda p: p[1])
                        grads = (f"{pairs[0][0]}={pairs[0][1]:.1e}, worst of {len(pairs) - 1} "
                                 f"parameter gradients: {n_w}={e_w:.1e}")
                    else:
                        grads = ", ".join(f"{n}={e:.1e}" for n, e in pairs)
                    results.append(Result(c.layer, c.case, device, dname, cmp.out_err, grads,
                                          cmp.tol, cmp.passed, c.reference))
                except Exception as e:          # a crash is a failed case, reported in the table
                    results.append(Result(c.layer, c.case, device, dname, float("nan"),
                                          f"error: {type(e).__name__}: {e}"[:200], float("nan"),
                                          False, c.reference))
    return results


_COLUMNS = {
    "layer": ("layer", lambda r: r.layer),
    "case": ("case", lambda r: r.case),
    "reference": ("reference", lambda r: r.reference),
    "device": ("device", lambda r: r.device),
    "dtype": ("dtype", lambda r: r.dtype),
    "out": ("max abs err (out)", lambda r: f"{r.out_err:.1e}"),
    "grads": ("max abs err (gradients)", lambda r: r.grad_errs.replace("|", "/")),
    "tol": ("tolerance", lambda r: f"{r.tol:.0e}"),
    "result": ("result", lambda r: "pass" if r.passed else "**FAIL**"),
}


def markdown(results, columns=None) -> str:
    """The results as a Markdown table (all columns, or those named in `columns`, from
    layer, case, reference, device, dtype, out, grads, tol, result), then a one-line summary."""
    columns = list(columns or _COLUMNS)
    unknown = [c for c in columns if c not in _COLUMNS]
    if unknown:
        raise ValueError(f"markdown: unknown columns {unknown}; choose from {list(_COLUMNS)}.")
    lines = ["| " + " | ".join(_COLUMNS[c][0] for c in columns) + " |",
             "|" + "---|" * len(columns)]
    for r in results:
        lines.append("| " + " | ".join(_COLUMNS[c][1](r) for c in columns) + " |")
    n_fail = sum(not r.passed for r in results)
    lines.append("")
    lines.append(f"{len(results) - n_fail} of {len(results)} cases pass. Errors are max |ours - "
                 f"torch| divided by max(1, max |torch|); the upstream gradient is random.")
    return "\n".join(lines)


def _torch_sigmoid_focal_loss(x, t, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss written with torch ops (torchvision is not installed)."""
    import torch
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def _detection_cases(add, rng):
    """sigmoid_focal_loss (cnnbook.detection) against torchvision's definition."""
    import torch

    from . import detection
    for alpha, gamma, red in [(0.25, 2.0, "none"), (0.25, 2.0, "sum"), (-1, 1.5, "mean")]:
        t = (rng.uniform(size=(6, 10)) < 0.3).astype(np.float64)
        add("sigmoid_focal_loss", f"alpha={alpha}, gamma={gamma}, {red}",
            lambda x, t=t, a=alpha, g=gamma, r=red:
                detection.sigmoid_focal_loss_forward(x, t, a, g, r),
            detection.sigmoid_focal_loss_backward,
            lambda x, t=t, a=alpha, g=gamma, r=red:
                _torch_sigmoid_focal_loss(x, torch.as_tensor(t, dtype=x.dtype, device=x.device),
                                          a, g, r),
            (2 * rng.standard_normal((6, 10)),), names=("dx",), ref="torchvision.ops")
def _modern_model_specs():
    """Small MobileNetV2, EfficientNet and ConvNeXt (same code as the full ones; stochastic
    depth off so that train mode draws nothing, layer scale 0.5 so the ConvNeXt blocks count)."""
    from . import models as M
    return [
        ("mobilenet_v2", "width 1/4, three stages",
         lambda: M.mobilenet_v2(10, width=0.25, dropout=0.0, last_channel=32,
                                inverted_residual_setting=[(1, 8, 1, 1), (6, 16, 2, 2),
                                                           (6, 24, 2, 1)]), (4, 3, 16, 16)),
        ("efficientnet_b0", "width 1/4, three stages",
         lambda: M.efficientnet_b0(10, width=0.25, dropout=0.0, stochastic_depth_prob=0.0,
                                   last_channel=32, setting=[(1, 3, 1, 32, 16, 1),
                                                             (6, 3, 2, 16, 24, 2),
                                                             (6, 5, 1, 24, 24, 2)]),
         (4, 3, 16, 16)),
        ("convnext_tiny", "dims (8, 16), depths (2, 1)",
         lambda: M.convnext_tiny(10, dims=(8, 16), depths=(2, 1), stochastic_depth_prob=0.0,
                                 layer_scale=0.5), (2, 3, 16, 16)),
    ]


def _block_cases(add, rng):
    """relu6, and stochastic depth with the drop decisions of a seeded draw (row and batch)."""
    import torch
    import torch.nn.functional as TF

    from . import blocks
    r = lambda *s: rng.standard_normal(s)
    add("relu6", "values across 0 and 6", blocks.relu6_forward, blocks.relu6_backward,
        TF.relu6, (5 * r(3, 4, 5),), names=("dx",))
    for mode in ("row", "batch"):
        mask = blocks.stochastic_depth_forward(np.ones((6, 3, 2, 2)), 0.5, mode, True,
                                               np.random.default_rng(3))[1].mask
        add("stochastic_depth", f"p=0.5, {mode}, same drops",
            lambda x, m=mode: blocks.stochastic_depth_forward(x, 0.5, m, True,
                                                              np.random.default_rng(3)),
            blocks.stochastic_depth_backward,
            lambda x, k=mask: x * torch.from_numpy(k).to(x.device, x.dtype),
            (r(6, 3, 2, 2),), names=("dx",), ref="x * keep / (1 - p)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cnnbook.verify", description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    ap.add_argument("--dtype", choices=["float64", "float32"], help="one precision only")
    ap.add_argument("--device", help="one device only (cpu or cuda)")
    args = ap.parse_args(argv)
    import torch
    dtypes = (np.dtype(args.dtype),) if args.dtype else (np.float64, np.float32)
    devices = [args.device] if args.device else None
    t0 = time.perf_counter()
    results = run(devices, dtypes)
    text = (f"## cnnbook vs PyTorch {torch.__version__}\n\n" + markdown(results)
            + f"\n\nRun time {time.perf_counter() - t0:.1f} s.\n")
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

