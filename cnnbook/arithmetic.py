"""Shape arithmetic: output sizes, receptive fields, parameter and FLOP counts.

Everything here is bookkeeping on hyper-parameters; nothing runs a layer. The functions accept
``cnnbook.nn`` models and, where it makes sense, PyTorch modules (read through the same attribute
names: ``kernel_size``, ``stride``, ``padding``, ``dilation``, ``in_features``, ...).

References:
- PyTorch documentation of ``torch.nn.Conv2d`` (the ``Shape:`` block, floor formula).
- Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016.
- Araujo, Norris & Sim, "Computing receptive fields of convolutional neural networks",
  Distill, 2019 (the closed forms used by :func:`receptive_field`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_bool, out_size, pair, pair_nonneg
from .display import Table
from .window import span

__all__ = [
    "conv_output_size", "window_coverage", "ReceptiveField", "receptive_field", "receptive_field_table",
    "receptive_field_of", "count_parameters", "FlopCount", "count_flops", "summary", "Table",
    "Memory", "memory",
]


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    """Output length of a convolution or pooling window sliding over `n` inputs (PyTorch's rule).

    ``floor((n + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``

    Every argument is an int or an (H, W) pair; with any pair the result is an (H_out, W_out)
    tuple, otherwise an int. A window that does not fit raises ValueError with the arithmetic.

    >>> conv_output_size(288, 4, stride=2)
    143
    >>> conv_output_size((32, 28), 5)
    (28, 24)
    """
    fn = "conv_output_size"
    args = (n, kernel_size, stride, padding, dilation)
    is_pair = any(isinstance(a, (tuple, list, np.ndarray)) for a in args)
    ns = pair(fn, "n", n)
    ks = pair(fn, "kernel_size", kernel_size)
    ss = pair(fn, "stride", stride)
    ps = pair_nonneg(fn, "padding", padding)
    ds = pair(fn, "dilation", dilation)
    outs = tuple(out_size(fn, axis, *vals) for axis, vals in zip(("H", "W"), zip(ns, ks, ss, ps, ds)))
    return outs if is_pair else outs[0]


def window_coverage(n, kernel_size, stride=1, padding=0, dilation=1, *, padded=False):
    """How many windows of a convolution or pooling read each input position.

    Arguments as in :func:`conv_output_size`: ints for a 1-D input (the result has shape
    ``(n,)``), or with any (H, W) pair a 2-D input (shape ``(H, W)``). A 0 marks a position that
    no window reads, so it never reaches the output (a stride that does not tile the input, or
    the holes of a dilated kernel). ``padded=True`` counts over the zero-padded input instead.
    In 2-D a window reads (r, c) exactly when its rows read r and its columns read c, so the
    count is the product of the two 1-D counts.

    >>> window_coverage(10, 3, stride=4).tolist()           # columns 3, 7, 8, 9 are never read
    [1, 1, 1, 0, 1, 1, 1, 0, 0, 0]
    >>> window_coverage(5, 3).tolist()
    [1, 2, 3, 2, 1]
    """
    fn = "window_coverage"
    is_pair = any(isinstance(a, (tuple, list, np.ndarray))
                  for a in (n, kernel_size, stride, padding, dilation))
    ns, ks, ss, ds = (pair(fn, name, v) for name, v in
                      (("n", n), ("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)))
    ps = pair_nonneg(fn, "padding", padding)
    n_out = conv_output_size(ns, ks, ss, ps, ds)           # raises if a window does not fit
    axes = []
    for n_ax, k, s, p, d, o in zip(ns, ks, ss, ps, ds, n_out):
        counts = np.zeros(n_ax + 2 * p, dtype=np.int64)   # over the padded input
        for i in range(o):                                # window i starts at i*s, taps every d
            counts[i * s:i * s + span(k, d):d] += 1
        axes.append(counts if padded else counts[p:p + n_ax])
    return np.outer(*axes) if is_pair else axes[1]


# --------------------------------------------------------------------------- layer descriptions
class _Spec(NamedTuple):
    """What the arithmetic needs to know about one layer."""
    kind: str            # "conv", "pool", "linear", "flatten", "identity", "upsample"
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    ceil_mode: bool = False
    in_channels: int = 0
    out_channels: int = 0
    groups: int = 1
    same: bool = False   # padding="same": the output keeps the input's size (stride 1)


_IDENTITY = {"ReLU", "Tanh", "Sigmoid", "LeakyReLU", "Softplus", "Dropout", "BatchNorm2d",
             "Identity", "Softmax", "LogSoftmax", "GELU", "ELU", "LocalResponseNorm",
             "SiLU", "BatchNorm1d", "LayerNorm", "GroupNorm", "ReLU6", "StochasticDepth",
             "LayerNorm2d"}


def _tuple_attr(v, n=2):
    return tuple(int(e) for e in v) if isinstance(v, (tuple, list)) else (int(v),) * n


def _spec(layer, fn: str) -> _Spec:
    """Read a layer's hyper-parameters: a dict, a (k, s, p, d) tuple, or a layer object."""
    if isinstance(layer, dict):
        unknown = set(layer) - {"kernel_size", "stride", "padding", "dilation", "name"}
        if unknown or "kernel_size" not in layer:
            raise ValueError(f"{fn}: a layer dict needs 'kernel_size' and may have 'stride', "
                             f"'padding', 'dilation'; got keys {sorted(layer)}.")
        k = pair(fn, "kernel_size", layer["kernel_size"])
        s = layer.get("stride", 1)
        s = k if s is None else pair(fn, "stride", s)
        return _Spec("conv", k, s, pair_nonneg(fn, "padding", layer.get("padding", 0)),
                     pair(fn, "dilation", layer.get("dilation", 1)))
    if isinstance(layer, (tuple, list)):
        if not 1 <= len(layer) <= 4:
            raise ValueError(f"{fn}: a layer tuple is (kernel_size, stride, padding, dilation), "
                             f"1 to 4 entries, got {layer!r}.")
        names = ("kernel_size", "stride", "padding", "dilation")
        return _spec(dict(zip(names, layer)), fn)
    name = type(layer).__name__
    if name in ("Conv2d",):
        k, d, pad = _tuple_attr(layer.kernel_size), _tuple_attr(layer.dilation), layer.padding
        same = pad == "same"            # "same" pads d*(k-1) in all, the odd one bottom/right
        pad = tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d)) if same else \
            (0, 0) if pad == "valid" else _tuple_attr(pad)
        return _Spec("conv", k, _tuple_attr(layer.stride), pad, d,
                     in_channels=int(layer.in_channels), out_channels=int(layer.out_channels),
                     groups=int(layer.groups), same=same)
    if name in ("MaxPool2d", "AvgPool2d"):
        k = _tuple_attr(layer.kernel_size)
        s = k if layer.stride is None else _tuple_attr(layer.stride)
        return _Spec("pool", k, s, _tuple_attr(layer.padding),
                     _tuple_attr(getattr(layer, "dilation", 1)),
                     ceil_mode=bool(getattr(layer, "ceil_mode", False)))
    if name == "Linear":
        return _Spec("linear", in_channels=int(layer.in_features),
                     out_channels=int(layer.out_features))
    if name == "Flatten":
        return _Spec("flatten")
    if name in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d"):
        return _Spec("adaptive", kernel=_tuple_attr(layer.output_size))
    if name == "Upsample":          # kernel: the output size, or stride: the scale factors
        if layer.size is not None:
            return _Spec("upsample", kernel=_tuple_attr(layer.size), stride=(0, 0))
        sf = layer.scale_factor
        return _Spec("upsample", stride=tuple(sf) if isinstance(sf, (tuple, list)) else (sf, sf))
    if name == "Permute":
        return _Spec("permute", kernel=tuple(int(d) for d in layer.dims))
    if name in _IDENTITY:
        return _Spec("identity")
    if hasattr(layer, "_shape_macs"):     # computes its own: (shape) -> (output shape, MACs)
        return _Spec("own")
    raise TypeError(f"{fn}: don't know the arithmetic of a {name} layer; pass its hyper-parameters "
                    f"as a dict {{'kernel_size': k, 'stride': s, 'padding': p, 'dilation': d}}.")


def _layers(model, fn: str):
    """(name, layer) pairs of a model, a Sequential (ours or torch's) or a plain sequence."""
    if isinstance(model, (dict, tuple)) and not isinstance(model, list) and _looks_like_layer(model):
        return [("0", model)]
    if hasattr(model, "named_children"):            # torch.nn.Module
        kids = list(model.named_children())
        if not kids:
            return [("", model)]
        out = []
        for n, m in kids:
            out += [(f"{n}.{sub}" if sub else n, layer) for sub, layer in _layers(m, fn)]
        return out
    if hasattr(model, "layers") and isinstance(getattr(model, "layers"), list):   # cnnbook Sequential
        out = []
        for i, m in enumerate(model.layers):
            out += [(f"{i}.{sub}" if sub else str(i), layer) for sub, layer in _layers(m, fn)]
        return out
    if isinstance(model, (list, tuple)):
        return [(str(i), layer) for i, layer in enumerate(model)]
    return [("", model)]


def _looks_like_layer(v) -> bool:
    if isinstance(v, dict):
        return "kernel_size" in v
    return isinstance(v, tuple) and len(v) > 0 and all(isinstance(e, (int, np.integer)) for e in v)


# --------------------------------------------------------------------------- receptive fields
class ReceptiveField(NamedTuple):
    """Receptive field of one output unit (Araujo et al., 2019): ``size`` r0 input pixels,
    neighbouring units ``stride`` S0 pixels apart, the first one starting ``padding`` P0 pixels
    before the input (its interval is ``[u*S0 - P0, u*S0 - P0 + r0 - 1]``)."""
    size: int | tuple
    stride: int | tuple
    padding: int | tuple


def _rf_axes(layers, fn):
    """Per-layer running values (name, kind, k_eff, s, p, r, S, P) for both axes."""
    specs = []
    for name, layer in _layers(layers, fn):
        sp = _spec(layer, fn)
        if sp.kind == "upsample":
            raise ValueError(f"{fn}: layer {name} resizes its input (Upsample): an output unit no "
                             f"longer has a whole-pixel stride on the input; pass only the layers "
                             f"before it.")
        if sp.kind == "linear":
            raise ValueError(f"{fn}: layer {name} is fully connected (Linear): each of its units "
                             f"sees the whole input, so the receptive field stops being local; "
                             f"pass only the convolutional part, e.g. model[:6].")
        specs.append((name, type(layer).__name__ if not isinstance(layer, (dict, tuple, list))
                       else "layer", sp))
    if not specs:
        raise ValueError(f"{fn}: no layers given; pass a list of (kernel_size, stride, padding, "
                         f"dilation) tuples or a model.")
    rows = []
    r, S, P = [1, 1], [1, 1], [0, 0]
    for name, typ, sp in specs:
        if sp.kind in ("identity", "flatten"):
            keff, s, p = (1, 1), (1, 1), (0, 0)
        else:
            keff = tuple(span(k, d) for k, d in zip(sp.kernel, sp.dilation))
            s, p = sp.stride, sp.padding
        for a in range(2):
            r[a] += (keff[a] - 1) * S[a]      # r0 = sum (k_l - 1) prod_{i<l} s_i + 1
            P[a] += p[a] * S[a]               # P0 = sum p_l prod_{i<l} s_i
            S[a] *= s[a]                      # S0 = prod s_l
        rows.append((name, typ, keff, s, p, tuple(r), tuple(S), tuple(P)))
    return rows


def _squash(v):
    return v[0] if v[0] == v[1] else v


def receptive_field(layers) -> ReceptiveField:
    """Receptive field size, effective stride and effective padding of a stack of layers.

    `layers`: a sequence of ``(kernel_size, stride, padding, dilation)`` tuples (trailing entries
    optional) or dicts with those keys, or a ``cnnbook.nn`` / ``torch.nn`` model. Dilation enters
    as the effective kernel ``d*(k - 1) + 1``; activations, dropout, batch norm and flatten change
    nothing. Closed forms (Araujo, Norris & Sim, Distill 2019), with l = 1..L::

        r0 = sum_l (k_l - 1) * prod_{i<l} s_i + 1
        S0 = prod_l s_l
        P0 = sum_l p_l * prod_{i<l} s_i

    Each field is an int when height and width agree, else an (H, W) tuple.

    >>> receptive_field([(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)]).size
    15
    """
    *_, r, S, P = _rf_axes(layers, "receptive_field")[-1]
    return ReceptiveField(_squash(r), _squash(S), _squash(P))


def receptive_field_of(layers, out_index):
    """Input interval ``(start, end)`` (inclusive, may reach into the padding) seen by output unit
    `out_index` (an int, or an (i, j) pair giving ``((start_h, end_h), (start_w, end_w))``)."""
    rf = _rf_axes(layers, "receptive_field_of")[-1]
    r, S, P = rf[5], rf[6], rf[7]
    idx = pair_nonneg("receptive_field_of", "out_index", out_index)
    spans = tuple((u * s - p, u * s - p + rr - 1) for u, s, p, rr in zip(idx, S, P, r))
    return spans if isinstance(out_index, (tuple, list, np.ndarray)) else spans[0]


def receptive_field_table(layers) -> "Table":
    """Layer-by-layer growth of the receptive field: for each layer its effective kernel, stride
    and padding, then the running size r, jump S (distance between neighbouring units in input
    pixels) and offset P after it."""
    rows = []
    for name, typ, keff, s, p, r, S, P in _rf_axes(layers, "receptive_field_table"):
        rows.append(_RFRow(name, typ, _squash(keff), _squash(s), _squash(p), _squash(r),
                           _squash(S), _squash(P)))
    return Table(["layer", "type", "k_eff", "stride", "padding", "rf size", "jump", "offset"], rows)


class _RFRow(NamedTuple):
    name: str
    layer: str
    kernel: object
    stride: object
    padding: object
    size: object
    jump: object
    offset: object


# --------------------------------------------------------------------------- counts
def count_parameters(model, trainable_only: bool = False) -> int:
    """Number of parameters (every weight and bias, frozen ones included) of a cnnbook or torch
    model; ``trainable_only=True`` counts only those with ``requires_grad=True``.

    >>> import cnnbook as cb
    >>> m = cb.nn.Sequential(cb.nn.Linear(4, 3), cb.nn.Linear(3, 2))
    >>> m[0].requires_grad_(False)
    ... # doctest: +ELLIPSIS
    Linear(...)
    >>> count_parameters(m), count_parameters(m, trainable_only=True)
    (23, 8)
    """
    if not hasattr(model, "parameters"):
        raise TypeError(f"count_parameters: expected a model with .parameters(), got "
                        f"{type(model).__name__}.")
    trainable_only = check_bool("count_parameters", "trainable_only", trainable_only)
    return sum(int(p.numel()) if hasattr(p, "numel") else int(np.size(p.data))
               for p in model.parameters() if p.requires_grad or not trainable_only)


class FlopCount(NamedTuple):
    """Multiply-adds (``macs``) and floating-point operations (``flops`` = 2 * macs)."""
    macs: int
    flops: int


class _SummaryRow(NamedTuple):
    name: str
    layer: str
    output_shape: tuple
    params: int
    macs: int


def _own_params(layer) -> int:
    if not hasattr(layer, "parameters"):
        return 0
    return count_parameters(layer)


def _input_shape(input_shape, fn):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1,) + shape
    if len(shape) not in (2, 4) or any(s < 1 for s in shape):
        raise ValueError(f"{fn}: input_shape must be (N, C, H, W) or (C, H, W) with positive "
                         f"sizes, got {tuple(input_shape)}; e.g. (1, 1, 28, 28) for one MNIST image.")
    return shape


def _is_cnnbook_module(model) -> bool:
    from .nn import Module
    return isinstance(model, Module)


def _walk(model, input_shape, fn, peaks=None):
    """One _SummaryRow per layer (and per residual addition / concatenation of a cnnbook
    model), following the data through the branches. ``peaks``, if a list, receives for each
    row the number of values alive while that layer runs (its input, its output, and the
    inputs and finished branch outputs that enclosing blocks still hold)."""
    shape = _input_shape(input_shape, fn)
    rows = []
    if _is_cnnbook_module(model):
        names = {id(m): n for n, m in model.named_modules()}
        _walk_module(model, shape, names, "", rows, fn, 0, peaks if peaks is not None else [])
        return rows
    if type(model).__module__.startswith("torch") and hasattr(model, "register_forward_hook") \
            and not _plain_torch_sequential(model):
        try:
            calls = _torch_calls(model, shape)
        except RuntimeError:            # torch's own shape error: the walk below says more
            calls = None
        if calls is not None:
            for name, layer, in_shape in calls:
                _leaf_row(name, layer, in_shape, rows, fn)
            return rows
    for name, layer in _layers(model, fn):
        shape = _leaf_row(name, layer, shape, rows, fn)
    return rows


def _plain_torch_sequential(model) -> bool:
    """Whether every torch module with children is a ``torch.nn.Sequential`` (the layers then
    run in the order they are listed, and no forward pass is needed to follow them)."""
    import torch
    return all(isinstance(m, torch.nn.Sequential) or not list(m.children())
               for m in model.modules())


def _torch_calls(model, shape):
    """(name, layer, input shape) of every leaf module call in a forward pass of a torch model
    on zeros (eval mode, no gradient; the modes are put back), so residual and branching twins
    are followed as their forward runs."""
    import torch
    calls, hooks = [], []
    for name, m in model.named_modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: calls.append((name, mod, tuple(inp[0].shape)))))
    modes = [(m, m.training) for m in model.modules()]
    p = next(iter(model.parameters()), None)
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape, dtype=torch.float32 if p is None else p.dtype,
                              device="cpu" if p is None else p.device))
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes:
            m.training = mode
    return calls


def _block(m):
    """A block of ``cnnbook.models`` with its own forward, as the residual or concatenation it
    computes: ``("add", body layers, shortcut, activation)`` or ``("cat", branches)``."""
    from .models import BasicBlock, Bottleneck, DenseLayer
    from .nn import Identity, Sequential, SqueezeExcitation
    if hasattr(type(m), "_arithmetic"):          # a block that says what it computes (modern.py)
        kind = m._arithmetic()
        return (kind[0], _Layers(kind[1])) + tuple(kind[2:])
    if isinstance(m, SqueezeExcitation):         # x * scale(x): the scale branch's cost
        return "scale", _Layers([m.avgpool, m.fc1, m.activation, m.fc2, m.scale_activation])
    if isinstance(m, (BasicBlock, Bottleneck)):
        body = [m.conv1, m.bn1, m.relu, m.conv2, m.bn2]
        if isinstance(m, Bottleneck):
            body += [m.relu, m.conv3, m.bn3]
        return "add", _Layers(body), m.downsample, m.relu
    if isinstance(m, DenseLayer):
        return "cat", [Identity(), _Layers([m.norm1, m.relu1, m.conv1, m.norm2, m.relu2, m.conv2])]
    if isinstance(m, Sequential):
        return "seq", m.layers
    if hasattr(m, "_arithmetic_parts"):   # a block that lists its layers in running order
        return "seq", _Layers(m._arithmetic_parts())
    return None


class _Layers(list):
    """Layers applied in order (the body of a block written as a forward function)."""


def _walk_module(m, shape, names, parent, rows, fn, held, peaks):
    """Shape arithmetic through a cnnbook module: Sequential in order, Residual as body and
    shortcut added, Concat as branches concatenated on channels (and the blocks of
    ``cnnbook.models`` as the one they compute), anything else as one layer."""
    from .nn import Concat, Residual
    if isinstance(m, _Layers):
        for layer in m:
            shape = _walk_module(layer, shape, names, parent, rows, fn, held, peaks)
        return shape
    name = names.get(id(m), (parent + "." if parent else "") + type(m).__name__.lower())
    size = lambda sh: int(np.prod(sh))
    kind = ("add", m.body, m.shortcut, m.activation) if isinstance(m, Residual) else \
        ("cat", m.branches) if isinstance(m, Concat) else _block(m)
    if kind is not None and kind[0] == "add":
        _, body, shortcut, activation = kind
        out = _walk_module(body, shape, names, name, rows, fn, held + size(shape), peaks)
        short = shape if shortcut is None else _walk_module(
            shortcut, shape, names, name, rows, fn, held + size(out), peaks)
        if short != out:
            raise ValueError(f"{fn}: in {name or 'the model'} the body gives {out} but the "
                             f"shortcut gives {short}; they cannot be added.")
        own = sum(int(np.size(p.data)) for p in getattr(m, "_parameters", {}).values()
                  if p is not None)             # a block's own, e.g. ConvNeXt's layer_scale
        rows.append(_SummaryRow(name + " (add)" if name else "add", "add", out, own, 0))
        peaks.append(held + 3 * size(out))
        if activation is not None:
            out = _walk_module(activation, out, names, name, rows, fn, held, peaks)
        return out
    if kind is not None and kind[0] == "scale":
        _walk_module(kind[1], shape, names, name, rows, fn, held + size(shape), peaks)
        rows.append(_SummaryRow(name + " (mul)" if name else "mul", "mul", shape, 0, 0))
        peaks.append(held + 2 * size(shape))
        return shape
    if kind is not None and kind[0] == "cat":
        outs = []
        for b in kind[1]:
            outs.append(_walk_module(b, shape, names, name, rows, fn,
                                     held + size(shape) + sum(size(o) for o in outs), peaks))
        if any(len(o) != 4 or o[0] != outs[0][0] or o[2:] != outs[0][2:] for o in outs):
            raise ValueError(f"{fn}: the branches of {name or 'the model'} give {outs}; all but "
                             f"the channel axis must agree to concatenate them.")
        out = (outs[0][0], sum(o[1] for o in outs)) + outs[0][2:]
        rows.append(_SummaryRow(name + " (cat)" if name else "cat", "cat", out, 0, 0))
        peaks.append(held + 2 * size(out))
        return out
    if kind is not None:
        for layer in kind[1]:
            shape = _walk_module(layer, shape, names, name, rows, fn, held, peaks)
        return shape
    out = _leaf_row(name, m, shape, rows, fn)
    peaks.append(held + size(shape) + size(out))
    return out


def _leaf_row(name, layer, shape, rows, fn):
    """Append the row of one layer and return its output shape."""
    sp = _spec(layer, fn)
    macs = 0
    typ = type(layer).__name__
    if sp.kind == "adaptive":
        if len(shape) != 4:
            raise ValueError(f"{fn}: layer {name} ({typ}) needs an (N, C, H, W) input, but "
                             f"the shape reaching it is {shape}.")
        shape = shape[:2] + tuple(sp.kernel)
    elif sp.kind == "upsample":
        if len(shape) != 4:
            raise ValueError(f"{fn}: layer {name} ({typ}) needs an (N, C, H, W) input, but "
                             f"the shape reaching it is {shape}.")
        shape = shape[:2] + (tuple(sp.kernel) if sp.stride == (0, 0) else tuple(
            int(np.floor(n * float(f))) for n, f in zip(shape[2:], sp.stride)))
    elif sp.kind in ("conv", "pool"):
        if len(shape) != 4:
            raise ValueError(f"{fn}: layer {name} ({typ}) needs an (N, C, H, W) input, but the "
                             f"shape reaching it is {shape}.")
        n, c, h, w = shape
        h_out, w_out = (h, w) if sp.same else (
            out_size(f"{fn} ({name} {typ})", ax, size, k, s, p, d, sp.ceil_mode)
            for ax, size, k, s, p, d in zip(("H", "W"), (h, w), sp.kernel, sp.stride,
                                            sp.padding, sp.dilation))
        if sp.kind == "conv":
            if c != sp.in_channels:
                raise ValueError(f"{fn}: layer {name} expects C_in={sp.in_channels} channels, "
                                 f"but {c} reach it; check input_shape.")
            c = sp.out_channels
            # one multiply-add per weight per output position
            macs = n * c * h_out * w_out * (sp.in_channels // sp.groups) * sp.kernel[0] * sp.kernel[1]
        shape = (n, c, h_out, w_out)
    elif sp.kind == "own":
        shape, macs = layer._shape_macs(shape)
    elif sp.kind == "permute":
        shape = tuple(shape[d] for d in sp.kernel)
    elif sp.kind == "flatten":
        start = int(getattr(layer, "start_dim", 1))
        shape = shape[:start] + (int(np.prod(shape[start:])),)
    elif sp.kind == "linear":
        if shape[-1] != sp.in_channels:
            raise ValueError(f"{fn}: layer {name} (Linear) expects {sp.in_channels} input "
                             f"features, but the shape reaching it is {shape}; check "
                             f"input_shape or add a Flatten.")
        macs = int(np.prod(shape[:-1])) * sp.in_channels * sp.out_channels
        shape = shape[:-1] + (sp.out_channels,)
    rows.append(_SummaryRow(name, typ, shape, _own_params(layer), int(macs)))
    return shape


def count_flops(model, input_shape) -> FlopCount:
    """Multiply-adds of the convolutions and fully connected layers for one forward pass.

    Convention: one multiply-add (MAC) is one weight times one input added to a sum; it counts
    as 2 FLOPs. A convolution costs ``N * C_out * H_out * W_out * (C_in/groups) * KH * KW`` MACs,
    a linear layer ``N * in_features * out_features``. Bias additions, activations and pooling
    are not counted (they are a few percent at most). `input_shape` is ``(N, C, H, W)``, or
    ``(C, H, W)`` for a single example. Returns ``FlopCount(macs, flops)`` with flops = 2 * macs.
    """
    macs = sum(r.macs for r in _walk(model, input_shape, "count_flops"))
    return FlopCount(macs, 2 * macs)


def summary(model, input_shape) -> Table:
    """Layer-by-layer table: name, type, output shape, parameters, multiply-adds (see
    :func:`count_flops` for the convention); the last line holds the totals.

    ``summary(cb.nn.LeNet5(), (1, 1, 28, 28)).rows[-1].output_shape == (1, 10)``
    """
    rows = _walk(model, input_shape, "summary")
    total_p = sum(r.params for r in rows)
    total_m = sum(r.macs for r in rows)
    t = Table(["layer", "type", "output shape", "parameters", "MACs"], rows,
              footer=("total", "", "", total_p, total_m))
    t.total_params = total_p
    t.total_macs = total_m
    return t


# --------------------------------------------------------------------------- memory
class Memory(NamedTuple):
    """Memory of a model in bytes (see :func:`memory`)."""
    activations: int        # values every layer outputs (+ the input): kept for backward
    inference_peak: int     # the most values alive at once in a forward pass that keeps nothing
    parameters: int
    gradients: int
    optimizer_state: int

    @property
    def training(self) -> int:
        """Activations kept for backward + weights + their gradients + optimizer state."""
        return self.activations + self.parameters + self.gradients + self.optimizer_state


_FREE = {"ReLU", "Dropout", "Flatten", "Identity"}   # in place, or a view: no new memory
_OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2}   # extra arrays per parameter


def memory(model, input_shape, dtype=np.float32, optimizer="momentum") -> Memory:
    """Bytes of activations, parameters, gradients and optimizer state for ``input_shape``.

    ``activations`` counts the input and the output of every layer, every residual addition
    and every concatenation, except those PyTorch computes in place or as a view (ReLU,
    dropout, flatten, identity): the way CS231n tallies VGG-16 (about 24 million values, 93 MB
    per 224x224 image in float32). Training keeps all of them until the backward pass has used
    them. ``inference_peak`` is the most values alive at once when each output is freed as soon
    as the next layer has read it (a layer's input and output, plus the inputs and branch
    outputs that enclosing residual or concatenation blocks still hold). ``optimizer`` is
    "sgd" (no state), "momentum" (one array per parameter) or "adam" (two).

    Use ``input_shape=(1, C, H, W)`` for the cost of one image.
    """
    fn = "memory"
    if optimizer not in _OPTIMIZER_STATE:
        raise ValueError(f"{fn}: optimizer must be one of {sorted(_OPTIMIZER_STATE)}, got "
                         f"{optimizer!r}.")
    itemsize = np.dtype(dtype).itemsize
    peaks = []
    rows = _walk(model, input_shape, fn, peaks)
    values = int(np.prod(_input_shape(input_shape, fn)))
    values += sum(int(np.prod(r.output_shape)) for r in rows if r.layer not in _FREE)
    params = count_parameters(model)
    return Memory(values * itemsize, max(peaks, default=0) * itemsize, params * itemsize,
                  params * itemsize, _OPTIMIZER_STATE[optimizer] * params * itemsize)
