"""Where a network looks: class activation maps (CAM) and Grad-CAM.

``grad_cam(model, x, target_layer)`` weights the feature maps of one layer by the mean gradient
of a class score with respect to each map, sums them and keeps the positive part (Selvaraju et
al. 2017); ``cam(model, x, target_layer)`` weights the maps by the final linear layer's weights
of the class, which is exact for a network that ends in global average pooling followed by one
linear layer (Zhou et al. 2016). Both return ``(N, H, W)`` maps at the input's size, upsampled
bilinearly (``cnnbook.spatial.interpolate``, ``align_corners=False``), and are **not**
normalised: divide by ``maps.max(axis=(1, 2), keepdims=True)`` to draw them in [0, 1].

Both run the library's own forward and backward passes. To read the layer's output and the
gradient that arrives at it, they wrap that one layer's ``forward`` and ``backward`` on the
instance for the duration of the call and remove the wrappers before returning (also on an
error). The model comes back as it was: every parameter's ``.grad`` is the very array it was
before (the backward pass accumulates into temporary zeros, as ``torch.autograd.grad`` leaves
``.grad`` alone), every module keeps the cache of its last forward pass from before the call, and
the train/eval mode is not changed — call ``model.eval()`` first, as with PyTorch (in training
mode batch normalization uses the batch's statistics and updates its running averages).

Taught in the chapter *What the network looks at, and how easily it is fooled*
(``book/explain_and_attack.ipynb``).

References: B. Zhou, A. Khosla, A. Lapedriza, A. Oliva, A. Torralba, "Learning Deep Features for
Discriminative Localization", CVPR 2016; R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam,
D. Parikh, D. Batra, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from . import activations as _act
from ._checks import _is_int, float_input
from .module import Module
from .spatial import interpolate

__all__ = ["grad_cam", "cam"]


def _check_model(fn: str, model) -> Module:
    if type(model).__module__.startswith("torch"):
        raise TypeError(f"{fn}: model is a torch {type(model).__name__}; {fn} runs cnnbook.nn "
                        f"models on NumPy arrays. Build the model with cnnbook.nn (or load the "
                        f"torch weights into one with load_state_dict).")
    if not isinstance(model, Module):
        raise TypeError(f"{fn}: model must be a cnnbook.nn Module, got {type(model).__name__}.")
    return model


def _check_images(fn: str, x) -> np.ndarray:
    x = float_input(fn, "x", x)
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must be a batch of images (N, C, H, W), got shape "
                         f"{tuple(x.shape)}; for one image use x[None] (or x[None, None] for "
                         f"one gray H x W image).")
    if x.shape[0] == 0:
        raise ValueError(f"{fn}: x holds no images (shape {tuple(x.shape)}); pass at least one.")
    return x


def _find_layer(fn: str, model: Module, target_layer) -> tuple:
    """(name, module) of `target_layer`, given as a module of `model` or its dotted name."""
    named = model.named_modules()
    if isinstance(target_layer, str):
        for name, m in named:
            if name == target_layer and name:
                return name, m
        names = [n for n, _ in named if n]
        shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"{fn}: target_layer={target_layer!r} is not a layer of the model; its "
                         f"layers (named_modules()) are {shown}.")
    if not isinstance(target_layer, Module):
        raise TypeError(f"{fn}: target_layer must be a layer of the model or its dotted name "
                        f"(a str from model.named_modules()), got {type(target_layer).__name__}.")
    for name, m in named:
        if m is target_layer:
            if not name:
                raise ValueError(f"{fn}: target_layer is the whole model; pass one of its "
                                 f"layers, e.g. the last convolutional block.")
            return name, m
    raise ValueError(f"{fn}: target_layer {type(target_layer).__name__}("
                     f"{target_layer.extra_repr()}) is not a layer of this model (not found in "
                     f"model.named_modules()); pass a layer of the model itself, e.g. "
                     f"model.layer1, or its name.")


@contextmanager
def untouched(model: Module):
    """Inside the block, backward passes accumulate parameter gradients into fresh zeros; on
    exit every parameter gets its own ``.grad`` array back, unchanged, and every module the
    cache of its last forward pass from before the block (so a pending ``backward`` still works).
    Train/eval modes are left alone. Used by :func:`grad_cam` and ``cnnbook.attacks``."""
    grads = [(p, p.grad) for p in model.parameters()]
    caches = [(m, m.__dict__.get("_cache")) for m in model.modules()]
    for p, g in grads:
        p.grad = np.zeros_like(g)
    try:
        yield model
    finally:
        for p, g in grads:
            p.grad = g
        for m, c in caches:
            m._cache = c


class _Seen:
    def __init__(self):
        self.outputs, self.grads = [], []


@contextmanager
def _probe(model: Module, layer: Module):
    """Record `layer`'s outputs and the gradients that arrive at them, by wrapping its
    ``forward`` and ``backward`` on the instance; inside :func:`untouched`."""
    seen = _Seen()
    forward, backward = layer.forward, layer.backward            # the bound methods
    own = {k: layer.__dict__[k] for k in ("forward", "backward") if k in layer.__dict__}

    def probed_forward(*args, **kwargs):
        out = forward(*args, **kwargs)
        seen.outputs.append(out)
        return out

    def probed_backward(dout, *args, **kwargs):
        seen.grads.append(np.array(dout, copy=True))
        return backward(dout, *args, **kwargs)

    with untouched(model):
        object.__setattr__(layer, "forward", probed_forward)
        object.__setattr__(layer, "backward", probed_backward)
        try:
            yield seen
        finally:
            for k in ("forward", "backward"):
                layer.__dict__.pop(k, None)
            layer.__dict__.update(own)


def _classes(fn: str, class_idx, logits: np.ndarray) -> np.ndarray:
    N, C = logits.shape
    if class_idx is None:
        return logits.argmax(axis=1)
    if _is_int(class_idx):
        idx = np.full(N, int(class_idx))
    else:
        idx = np.asarray(class_idx)
        if idx.dtype.kind not in "iu" or idx.shape != (N,):
            raise (TypeError if idx.dtype.kind not in "iu" else ValueError)(
                f"{fn}: class_idx must be None (the predicted class), an int, or {N} integer "
                f"class indices (one per image), got {class_idx!r}.")
    if idx.size and (idx.min() < 0 or idx.max() >= C):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise ValueError(f"{fn}: class_idx {bad} is out of range for {C} classes; use a class "
                         f"in [0, {C - 1}].")
    return idx.astype(np.int64)


def _one_output(fn: str, name: str, seen: list, what: str) -> np.ndarray:
    if len(seen) != 1:
        raise ValueError(f"{fn}: target_layer {name!r} {what} {len(seen)} times in one pass; "
                         f"pass a layer that the forward pass uses exactly once (a layer reused "
                         f"in several places has no single map).")
    return seen[0]


def _check_maps(fn: str, name: str, A: np.ndarray) -> None:
    if np.ndim(A) != 4:
        raise ValueError(f"{fn}: target_layer {name!r} outputs shape {tuple(np.shape(A))}, not "
                         f"feature maps (N, K, h, w); pick a convolutional layer or block, "
                         f"before the pooling and flattening.")


def _upsample(maps: np.ndarray, size: tuple) -> np.ndarray:
    return interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def grad_cam(model, x, target_layer, class_idx=None):
    """Grad-CAM maps ``(N, H, W)``: where in each image the score of a class comes from.

    With ``A`` the ``(N, K, h, w)`` output of `target_layer` and ``y_c`` the logit (the score
    before softmax) of class ``c``, each map is weighted by its mean gradient,
    ``alpha_k = mean_ij dy_c/dA_k[i, j]``, and ``L = ReLU(sum_k alpha_k A_k)`` is upsampled
    bilinearly to the input's ``H x W``. The maps are not normalised (their scale is that of the
    score); they are zero where no map pushes the score up.

    `target_layer` is a module of `model` or its dotted name in ``model.named_modules()``, used
    once per forward pass; ``class_idx`` is None (each image's predicted class), an int, or one
    class per image. The model runs in the mode it is in, its parameters' ``.grad`` and its
    modules' caches come back unchanged, and no wrapper is left on the layer (see the module
    docstring). ``x`` is not modified.

    Shape:
        x ``(N, C, H, W)``; returns ``(N, H, W)``, the dtype of the computation.

    >>> import cnnbook as cb
    >>> net = cb.nn.Sequential(cb.nn.Conv2d(1, 4, 3, padding=1, rng=0), cb.nn.ReLU(),
    ...                        cb.nn.AdaptiveAvgPool2d(1), cb.nn.Flatten(),
    ...                        cb.nn.Linear(4, 3, rng=0))
    >>> grad_cam(net, np.ones((2, 1, 8, 8)), "1").shape
    (2, 8, 8)
    """
    fn = "grad_cam"
    model = _check_model(fn, model)
    x = _check_images(fn, x)
    name, layer = _find_layer(fn, model, target_layer)
    with _probe(model, layer) as seen:
        logits = model(x)
        if np.ndim(logits) != 2:
            raise ValueError(f"{fn}: the model outputs shape {tuple(np.shape(logits))}; grad_cam "
                             f"needs class scores (N, num_classes).")
        idx = _classes(fn, class_idx, logits)
        dlogits = np.zeros_like(logits)
        dlogits[np.arange(len(idx)), idx] = 1.0                 # d(score of class c)
        A = _one_output(fn, name, seen.outputs, "is called")
        _check_maps(fn, name, A)
        model.backward(dlogits)
        dA = _one_output(fn, name, seen.grads, "receives a gradient")   # (N, K, h, w)
    alpha = dA.mean(axis=(2, 3))                                      # (N, K)
    maps = _act.relu(np.einsum("nk,nkij->nij", alpha, A))             # (N, h, w)
    return _upsample(maps, x.shape[2:])


def cam(model, x, target_layer, fc=None, class_idx=None):
    """Class activation maps ``(N, H, W)`` of a network that ends in global average pooling
    and one linear layer: ``M_c = sum_k w_ck A_k`` (Zhou et al. 2016).

    ``A`` is the ``(N, K, h, w)`` output of `target_layer` (the maps that are averaged), ``w``
    the weight of `fc` (default: the model's last ``Linear``), ``c`` the class (``class_idx``:
    None for the predicted class, an int, or one per image). Because the head is linear, the
    logit is the map's mean plus the bias, ``y_c = mean_ij M_c[i, j] + b_c``; this is checked,
    and a model whose head is not global average pooling + `fc` after `target_layer` raises
    ValueError (use :func:`grad_cam` there). The maps keep their sign and are not normalised;
    they are upsampled bilinearly to the input's size. Forward pass only; the model's mode,
    ``.grad`` arrays and caches are left as they were.

    Shape:
        x ``(N, C, H, W)``; returns ``(N, H, W)``.
    """
    fn = "cam"
    model = _check_model(fn, model)
    x = _check_images(fn, x)
    name, layer = _find_layer(fn, model, target_layer)
    if fc is None:
        linears = [m for _, m in model.named_modules() if type(m).__name__ == "Linear"]
        if not linears:
            raise ValueError(f"{fn}: the model has no Linear layer; CAM needs a network that "
                             f"ends in global average pooling and a Linear layer (else use "
                             f"grad_cam).")
        fc = linears[-1]
    else:
        _find_layer(fn, model, fc)
    with _probe(model, layer) as seen:
        logits = model(x)
    A = _one_output(fn, name, seen.outputs, "is called")
    _check_maps(fn, name, A)
    w = fc.weight.data                                                # (classes, K)
    if np.ndim(logits) != 2 or w.shape != (logits.shape[1], A.shape[1]):
        raise ValueError(f"{fn}: fc's weight has shape {w.shape} but the model outputs "
                         f"{tuple(np.shape(logits))} from maps with {A.shape[1]} channels at "
                         f"{name!r}; CAM needs fc = Linear(K, num_classes) right after global "
                         f"average pooling of target_layer's K maps.")
    idx = _classes(fn, class_idx, logits)
    maps = np.einsum("nk,nkij->nij", w[idx], A)                       # (N, h, w)
    b = 0.0 if getattr(fc, "bias", None) is None else fc.bias.data[idx]
    scale = max(1.0, float(np.abs(logits).max()))
    tol = (1e-4 if logits.dtype == np.float32 else 1e-9) * scale
    gap = np.abs(maps.mean(axis=(1, 2)) + b - logits[np.arange(len(idx)), idx]).max()
    if gap > tol:
        raise ValueError(f"{fn}: the logits differ from the mean of the class maps plus the bias "
                         f"by {gap:.3g}: the layers after {name!r} are not global average "
                         f"pooling followed by fc. Use grad_cam for this network, or pass the "
                         f"layer whose maps are averaged.")
    return _upsample(maps, x.shape[2:])
