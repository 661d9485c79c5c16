"""Scaled dot-product attention, forward and backward, and the multi-head attention layer.

``scaled_dot_product_attention(q, k, v)`` is ``softmax(q @ k^T / sqrt(E) + mask) @ v`` with
the meaning of ``torch.nn.functional.scaled_dot_product_attention``: ``q`` is ``(..., L, E)``,
``k`` ``(..., S, E)``, ``v`` ``(..., S, Ev)``, the output ``(..., L, Ev)``; a boolean
``attn_mask`` (broadcastable to ``(..., L, S)``) marks with True the keys a query *may* attend
to, a float one is added to the scores; ``is_causal=True`` lets query i see keys 0..i only. A
query whose every key is masked gets weights 0 (an output row of zeros), as PyTorch does.

``MultiheadAttention`` is ``torch.nn.MultiheadAttention`` (``batch_first=True`` by default
here): the three input projections stacked in ``in_proj_weight`` ``(3E, E)``, then one
attention per head on ``E / num_heads`` features, then ``out_proj``. Its masks follow
``torch.nn.MultiheadAttention``, where a True in a boolean mask means *not allowed* (the
opposite of the function's), and it returns the attention weights for drawing.

Shape:
    q ``(..., L, E)``, k ``(..., S, E)``, v ``(..., S, Ev)`` -> out ``(..., L, Ev)``; the
    weights ``(..., L, S)`` sum to 1 along S (0 for a fully masked row).

References:
- A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (section 3.2).
- PyTorch documentation: ``torch.nn.functional.scaled_dot_product_attention`` (its reference
  implementation), ``torch.nn.MultiheadAttention``, ``torch.nn.functional.multi_head_attention_forward``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._checks import (as_float_array, check_bool, check_dout, check_int, check_positive_float,
                      check_unit_interval, make_rng)
from .module import Module, Parameter, _accumulate, _check_dtype

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_forward",
           "scaled_dot_product_attention_backward"]


class AttentionCache(NamedTuple):
    q: np.ndarray          # (..., L, E)
    k: np.ndarray          # (..., S, E)
    v: np.ndarray          # (..., S, Ev)
    weights: np.ndarray    # (..., L, S) softmax of the scores (before dropout)
    keep: np.ndarray | None   # (..., L, S) dropout's kept entries scaled by 1/(1-p), or None
    scale: float


def _mask_scores(fn, attn_mask, is_causal, L, S, dtype):
    """The additive mask (0 or -inf, or the float mask), broadcastable to (..., L, S), or None."""
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{fn}: pass either attn_mask or is_causal=True, not both (PyTorch "
                             f"refuses the pair too); build the causal part into attn_mask.")
        return np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf).astype(dtype)
    if attn_mask is None:
        return None
    if type(attn_mask).__module__.startswith("torch"):
        raise TypeError(f"{fn}: attn_mask is a torch.Tensor; pass attn_mask.cpu().numpy().")
    m = np.asarray(attn_mask)
    if m.ndim < 2 or m.shape[-2:] not in ((L, S), (1, S), (L, 1), (1, 1)):
        raise ValueError(f"{fn}: attn_mask of shape {m.shape} does not broadcast to the scores' "
                         f"(..., L, S) = (..., {L}, {S}); give it shape ({L}, {S}) or "
                         f"(N, heads, {L}, {S}).")
    if m.dtype == np.bool_:
        return np.where(m, 0.0, -np.inf).astype(dtype)
    return as_float_array(fn, "attn_mask", m).astype(dtype, copy=False)


def scaled_dot_product_attention_forward(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False,
                                         rng=None, scale=None):
    """``softmax(q @ k^T * scale + mask) @ v`` -> ``(out, cache)``; ``scale`` defaults to
    ``1/sqrt(E)``. With ``dropout_p > 0`` the weights are dropped (inverted dropout, drawn from
    `rng`) before they multiply v, as PyTorch does in training.

    >>> q = np.array([[1.0, 0.0]]); k = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> v = np.array([[10.0], [20.0]])
    >>> out, cache = scaled_dot_product_attention_forward(q, k, v)
    >>> cache.weights.round(4).tolist()           # softmax([1, 0] / sqrt(2))
    [[0.6698, 0.3302]]
    """
    fn = "scaled_dot_product_attention"
    q, k, v = (as_float_array(fn, n, a) for n, a in (("q", q), ("k", k), ("v", v)))
    dt = np.result_type(q, k, v)
    q, k, v = q.astype(dt, copy=False), k.astype(dt, copy=False), v.astype(dt, copy=False)
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"{fn}: q, k and v must be (..., L, E), (..., S, E), (..., S, Ev) with "
                         f"the same number of axes (at least 2), got shapes {q.shape}, {k.shape}, "
                         f"{v.shape}.")
    if q.shape[:-2] != k.shape[:-2] or q.shape[:-2] != v.shape[:-2]:
        raise ValueError(f"{fn}: the batch axes of q {q.shape[:-2]}, k {k.shape[:-2]} and v "
                         f"{v.shape[:-2]} must be equal; repeat the smaller one "
                         f"(np.broadcast_to(...).copy()).")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{fn}: q has E={q.shape[-1]} features but k has {k.shape[-1]}; queries "
                         f"and keys must have the same last axis.")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{fn}: k has S={k.shape[-2]} keys but v has {v.shape[-2]} values; "
                         f"each key needs its value.")
    dropout_p = check_unit_interval(fn, "dropout_p", dropout_p, "use dropout_p=0.0 for none",
                                    upper_open=True)
    is_causal = check_bool(fn, "is_causal", is_causal)
    L, S = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else \
        check_positive_float(fn, "scale", scale, "use scale=None for 1/sqrt(E)")
    scores = (q @ np.swapaxes(k, -1, -2)) * dt.type(scale)           # (..., L, S)
    mask = _mask_scores(fn, attn_mask, is_causal, L, S, dt)
    if mask is not None:
        try:
            scores = scores + mask
        except ValueError:
            raise ValueError(f"{fn}: attn_mask of shape {mask.shape} does not broadcast to the "
                             f"scores' shape {scores.shape}; give it shape ({L}, {S}) or one "
                             f"whose leading axes are 1 or equal to the scores'.") from None
    top = scores.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)        # a fully masked row: every exp is 0
    e = np.exp(scores - top)
    total = e.sum(axis=-1, keepdims=True)
    weights = np.divide(e, total, out=np.zeros_like(e), where=total > 0)   # (..., L, S)
    keep = None
    if dropout_p > 0:
        g = make_rng(fn, rng)
        keep = (g.random(weights.shape) >= dropout_p).astype(dt) / dt.type(1 - dropout_p)
    out = ((weights if keep is None else weights * keep) @ v)        # (..., L, Ev)
    return out, AttentionCache(q, k, v, weights, keep, scale)


def scaled_dot_product_attention_backward(dout, cache: AttentionCache):
    """Gradients ``(dq, dk, dv)`` of the attention output ``(..., L, Ev)``.

    With P the weights and D the dropped ones: ``dv = D^T dout``, ``dP = (dout v^T) * keep``,
    the softmax's ``dscores = P * (dP - sum(dP * P))`` along S, ``dq = dscores k * scale``,
    ``dk = dscores^T q * scale``. (A float mask's gradient, dscores, is not returned.)
    """
    q, k, v, p, keep, scale = cache
    dout = check_dout("scaled_dot_product_attention_backward", dout,
                      q.shape[:-1] + v.shape[-1:], q.dtype)
    dropped = p if keep is None else p * keep
    dv = np.swapaxes(dropped, -1, -2) @ dout                         # (..., S, Ev)
    dp = dout @ np.swapaxes(v, -1, -2)                               # (..., L, S)
    if keep is not None:
        dp = dp * keep
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))             # softmax backward
    ds *= q.dtype.type(scale)
    dq = ds @ k                                                      # (..., L, E)
    dk = np.swapaxes(ds, -1, -2) @ q                                 # (..., S, E)
    return dq, dk, dv


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 rng=None, scale=None):
    """The attention output only (see :func:`scaled_dot_product_attention_forward`).

    >>> q = k = np.eye(2); v = np.array([[1.0], [0.0]])
    >>> scaled_dot_product_attention(q, k, v, is_causal=True).round(4).tolist()
    [[1.0], [0.3302]]
    """
    return scaled_dot_product_attention_forward(q, k, v, attn_mask, dropout_p, is_causal, rng,
                                                scale)[0]


# ------------------------------------------------------------------------------- the layer
class MhaCache(NamedTuple):
    query: np.ndarray        # (N, L, E) inputs (batch first), kept for the projections' dw
    key: np.ndarray          # (N, S, E)
    value: np.ndarray        # (N, S, E)
    attn: AttentionCache     # the per-head attention on (N, heads, L or S, E/heads)
    context: np.ndarray      # (N, L, E) the heads' outputs side by side, input of out_proj
    unbatched: bool


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's parameters: ``in_proj_weight`` ``(3E, E)`` (query,
    key and value projections stacked, Xavier-uniform), ``in_proj_bias`` ``(3E,)`` (zeros),
    ``out_proj.weight`` ``(E, E)`` (a Linear's default) and ``out_proj.bias`` (zeros).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True)`` returns ``(out, weights)``: out ``(N, L, E)`` (or ``(L, N, E)``
    with ``batch_first=False``; ``(L, E)`` unbatched), the weights ``(N, L, S)`` averaged over
    the heads, ``(N, heads, L, S)`` with ``average_attn_weights=False``, or None with
    ``need_weights=False``. Masks as PyTorch: ``attn_mask`` ``(L, S)`` or ``(N*heads, L, S)``,
    ``key_padding_mask`` ``(N, S)``; boolean True = not allowed, float = added.
    ``backward(dout)`` returns ``(dquery, dkey, dvalue)``; for self-attention (the same x as
    all three) the input's gradient is their sum.

    >>> mha = MultiheadAttention(8, 2, rng=0)
    >>> out, w = mha(np.ones((1, 3, 8), np.float32), np.ones((1, 5, 8), np.float32),
    ...              np.ones((1, 5, 8), np.float32))
    >>> out.shape, w.shape
    ((1, 3, 8), (1, 3, 5))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=True, rng=None,
                 dtype=np.float32):
        super().__init__()
        fn = "MultiheadAttention"
        self.embed_dim = check_int(fn, "embed_dim", embed_dim, 1, "use e.g. embed_dim=64")
        self.num_heads = check_int(fn, "num_heads", num_heads, 1, "use e.g. num_heads=4")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"{fn}: embed_dim={self.embed_dim} must be divisible by num_heads="
                             f"{self.num_heads} (each head gets embed_dim/num_heads features); "
                             f"choose num_heads among the divisors of {self.embed_dim}.")
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = check_unit_interval(fn, "dropout", dropout, "use dropout=0.0 for none",
                                           upper_open=True)
        self.batch_first = check_bool(fn, "batch_first", batch_first)
        has_bias = check_bool(fn, "bias", bias)
        dt = _check_dtype(fn, dtype)
        from .nn import Linear
        E = self.embed_dim
        self.in_proj_weight = Parameter(np.zeros((3 * E, E), dt), copy=False)
        self.in_proj_bias = Parameter(np.zeros(3 * E, dt), copy=False) if has_bias else None
        self.out_proj = Linear(E, E, bias=has_bias, dtype=dt, init="zeros")
        self.rng = make_rng(fn, rng)
        self.reset_parameters(self.rng)

    def reset_parameters(self, rng=None):
        """PyTorch's ``_reset_parameters``: Xavier-uniform ``in_proj_weight``, the Linear
        default for ``out_proj.weight``, zero biases."""
        from . import init
        g = make_rng("MultiheadAttention.reset_parameters", rng)
        init.xavier_uniform_(self.in_proj_weight.data, rng=g)
        init.default_(self.out_proj.weight.data, None, rng=g)
        for b in (self.in_proj_bias, self.out_proj.bias):
            if b is not None:
                b.data[:] = 0

    def _mask(self, fn, attn_mask, key_padding_mask, N, L, S, dt):
        """PyTorch's two masks merged into one additive (N, heads or 1, L, S) mask, or None."""
        def additive(name, m, shape_ok, want):
            if type(m).__module__.startswith("torch"):
                raise TypeError(f"{fn}: {name} is a torch.Tensor; pass {name}.cpu().numpy().")
            m = np.asarray(m)
            if not shape_ok(m.shape):
                raise ValueError(f"{fn}: {name} must have shape {want}, got {m.shape}.")
            if m.dtype == np.bool_:
                return np.where(m, -np.inf, 0.0).astype(dt)      # True = not allowed
            return as_float_array(fn, name, m).astype(dt, copy=False)
        total = None
        if attn_mask is not None:
            h = self.num_heads
            m = additive("attn_mask", attn_mask,
                         lambda s: s in ((L, S), (N * h, L, S)), f"({L}, {S}) or ({N * h}, {L}, {S})")
            total = m if m.ndim == 2 else m.reshape(N, h, L, S)
        if key_padding_mask is not None:
            m = additive("key_padding_mask", key_padding_mask, lambda s: s == (N, S), f"({N}, {S})")
            m = m[:, None, None, :]
            total = m if total is None else total + m
        return total

    def forward(self, query, key=None, value=None, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        fn = "MultiheadAttention"
        key = query if key is None else key
        value = key if value is None else value
        dt = self.in_proj_weight.data.dtype
        query, key, value = (as_float_array(fn, n, a).astype(dt, copy=False)
                             for n, a in (("query", query), ("key", key), ("value", value)))
        E, h, hd = self.embed_dim, self.num_heads, self.head_dim
        unbatched = query.ndim == 2
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{fn}: query, key and value must all be (N, L, E) (or unbatched "
                             f"(L, E)), got shapes {query.shape}, {key.shape}, {value.shape}.")
        if unbatched:
            query, key, value = query[None], key[None], value[None]
        elif not self.batch_first:
            query, key, value = (np.swapaxes(a, 0, 1) for a in (query, key, value))
        for n, a in (("query", query), ("key", key), ("value", value)):
            if a.shape[-1] != E:
                raise ValueError(f"{fn}: {n} has {a.shape[-1]} features on its last axis but "
                                 f"embed_dim={E}; project it to {E} features first.")
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[:2] != value.shape[:2] or key.shape[0] != N:
            raise ValueError(f"{fn}: key {key.shape} and value {value.shape} must have the same "
                             f"batch and length, and the batch of query {query.shape}.")
        if is_causal and attn_mask is None:
            raise ValueError(f"{fn}: is_causal=True is only a hint in PyTorch and needs attn_mask "
                             f"as well; pass the causal attn_mask.")
        w = self.in_proj_weight.data
        b = None if self.in_proj_bias is None else self.in_proj_bias.data
        proj = []
        for i, x in enumerate((query, key, value)):                 # x @ W_i^T + b_i
            y = x @ w[i * E:(i + 1) * E].T
            proj.append(y if b is None else y + b[i * E:(i + 1) * E])
        # (N, len, E) -> (N, heads, len, head_dim)
        qh, kh, vh = (y.reshape(N, -1, h, hd).transpose(0, 2, 1, 3) for y in proj)
        mask = self._mask(fn, attn_mask, key_padding_mask, N, L, S, dt)
        p = self.dropout if self.training else 0.0
        ctx, attn = scaled_dot_product_attention_forward(qh, kh, vh, mask, p, rng=self.rng)
        context = ctx.transpose(0, 2, 1, 3).reshape(N, L, E)          # heads side by side
        out = self.out_proj(context)
        self._cache = MhaCache(query, key, value, attn, context, unbatched)
        weights = None
        if need_weights:
            weights = attn.weights if attn.keep is None else attn.weights * attn.keep
            weights = weights.mean(axis=1) if average_attn_weights else weights.copy()
            if unbatched:
                weights = weights[0]
        if unbatched:
            out = out[0]
        elif not self.batch_first:
            out = np.swapaxes(out, 0, 1)
        return out, weights

    def backward(self, dout, input_grad=True):
        c = self._saved()
        N, L, E = c.query.shape
        shape = (L, E) if c.unbatched else (N, L, E) if self.batch_first else (L, N, E)
        dout = check_dout("MultiheadAttention.backward", dout, shape, c.query.dtype)
        dout = dout[None] if c.unbatched else dout if self.batch_first else np.swapaxes(dout, 0, 1)
        dctx = self.out_proj.backward(np.ascontiguousarray(dout))      # (N, L, E)
        h, hd = self.num_heads, self.head_dim
        dctx = dctx.reshape(N, L, h, hd).transpose(0, 2, 1, 3)
        dqh, dkh, dvh = scaled_dot_product_attention_backward(dctx, c.attn)
        dproj = [d.transpose(0, 2, 1, 3).reshape(N, -1, E) for d in (dqh, dkh, dvh)]
        w = self.in_proj_weight.data
        dw = np.empty_like(w) if self.in_proj_weight.requires_grad else None
        db = np.empty(3 * E, w.dtype) if self.in_proj_bias is not None else None
        dxs = []
        for i, (x, d) in enumerate(zip((c.query, c.key, c.value), dproj)):
            if dw is not None:
                dw[i * E:(i + 1) * E] = d.reshape(-1, E).T @ x.reshape(-1, E)
            if db is not None:
                db[i * E:(i + 1) * E] = d.reshape(-1, E).sum(axis=0)
            dxs.append(d @ w[i * E:(i + 1) * E])
        _accumulate(self.in_proj_weight, dw)
        _accumulate(self.in_proj_bias, db)
        if c.unbatched:
            dxs = [d[0] for d in dxs]
        elif not self.batch_first:
            dxs = [np.swapaxes(d, 0, 1) for d in dxs]
        return tuple(dxs)

    def _shape_macs(self, shape):
        """Output shape and multiply-adds of self-attention on ``(N, L, E)`` (for
        ``cnnbook.arithmetic``): the three input projections, the scores ``q k^T``, the
        weighted sum of v, and ``out_proj``."""
        n, L, E = shape
        return tuple(shape), n * L * 3 * E * E + 2 * n * L * L * E + n * L * E * E

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
                + ("" if self.in_proj_bias is not None else ", bias=False")
                + ("" if self.batch_first else ", batch_first=False"))
