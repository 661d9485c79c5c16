"""scaled_dot_product_attention and MultiheadAttention: known answers, finite differences in
float64, PyTorch in float64 under a random upstream gradient (masks and causal included), and
the errors they raise."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from conftest import assert_matches_torch  # noqa: E402

import cnnbook as cb  # noqa: E402
from cnnbook import attention as A  # noqa: E402
from cnnbook.gradcheck import check_gradients  # noqa: E402

QKV = ["dq", "dk", "dv"]


def _masks(rng, L, S):
    keep = rng.random((L, S)) > 0.4
    keep[:, 0] = True                                   # every query keeps one key ...
    empty = keep.copy()
    empty[min(1, L - 1)] = False                        # ... except one fully masked row here
    return {"none": {}, "bool": {"attn_mask": keep}, "bool-empty-row": {"attn_mask": empty},
            "float": {"attn_mask": rng.standard_normal((L, S))},
            "float-broadcast": {"attn_mask": rng.standard_normal((1, 1, 1, S))},
            "causal": {"is_causal": True}, "scale": {"scale": 0.3}}


@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 6, 7), (1, 1, 5, 5, 3, 2), (3, 2, 1, 4, 8, 8)],
                         ids=["L4-S5-E6-Ev7", "L5-S5-E3-Ev2", "L1-S4-E8-Ev8"])
@pytest.mark.parametrize("case", ["none", "bool", "bool-empty-row", "float", "float-broadcast",
                                  "causal", "scale"])
def test_sdpa_matches_torch(shape, case, device, rng):
    n, h, L, S, E, Ev = shape
    q, k, v = (rng.standard_normal(s) for s in ((n, h, L, E), (n, h, S, E), (n, h, S, Ev)))
    kw = _masks(rng, L, S)[case]
    tkw = {key: torch.from_numpy(val).to(device) if isinstance(val, np.ndarray) else val
           for key, val in kw.items()}
    c = assert_matches_torch(lambda q, k, v: A.scaled_dot_product_attention_forward(q, k, v, **kw),
                             A.scaled_dot_product_attention_backward,
                             lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **tkw),
                             [q, k, v], names=QKV, device=device)
    assert c.out_err <= 1e-12 and max(c.grad_errs) <= 1e-12, c


def test_sdpa_dropout_matches_torch_with_the_same_mask(rng):
    """Dropout's mask is ours (a seeded generator); torch, given the same kept entries, agrees."""
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), \
        rng.standard_normal((2, 5, 3))
    out, cache = A.scaled_dot_product_attention_forward(q, k, v, dropout_p=0.3, rng=1)
    assert set(np.unique(cache.keep)) == {0.0, 1 / 0.7}
    keep = torch.from_numpy(cache.keep)

    def torch_fn(q, k, v):
        p = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)
        return (p * keep) @ v
    c = assert_matches_torch(
        lambda q, k, v: A.scaled_dot_product_attention_forward(q, k, v, dropout_p=0.3, rng=1),
        A.scaled_dot_product_attention_backward, torch_fn, [q, k, v], names=QKV)
    assert c.out_err <= 1e-12 and max(c.grad_errs) <= 1e-12


@pytest.mark.parametrize("case", ["none", "bool", "float", "causal"])
def test_sdpa_finite_differences(case, rng):
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)), \
        rng.standard_normal((2, 4, 2))
    kw = _masks(rng, 4, 4)[case]
    errs = check_gradients(lambda q, k, v: A.scaled_dot_product_attention_forward(q, k, v, **kw),
                           A.scaled_dot_product_attention_backward, [q, k, v], names=QKV)
    assert max(errs.values()) < 1e-6, errs


def test_sdpa_known_answers():
    # one key: every query copies its value
    out = A.scaled_dot_product_attention(np.ones((3, 2)), np.ones((1, 2)), np.array([[5.0, 7.0]]))
    np.testing.assert_allclose(out, [[5, 7]] * 3)
    # equal scores: the plain mean of the values
    out = A.scaled_dot_product_attention(np.zeros((1, 2)), np.ones((3, 2)),
                                         np.array([[0.0], [3.0], [6.0]]))
    np.testing.assert_allclose(out, [[3.0]])
    # two keys, scores 1/sqrt(2) and 0: weights e^a / (e^a + 1)
    q, k = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    w = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    out = A.scaled_dot_product_attention(q, k, np.array([[1.0], [0.0]]))
    np.testing.assert_allclose(out, [[w]], rtol=1e-14)
    # causal: query i averages the values 0..i when the scores are equal
    out = A.scaled_dot_product_attention(np.zeros((3, 1)), np.zeros((3, 1)),
                                         np.array([[3.0], [6.0], [9.0]]), is_causal=True)
    np.testing.assert_allclose(out, [[3.0], [4.5], [6.0]])
    # a fully masked query gets zeros (PyTorch's choice), and its gradients are zero
    mask = np.array([[True, True], [False, False]])
    out, cache = A.scaled_dot_product_attention_forward(np.ones((2, 2)), np.ones((2, 2)),
                                                        np.ones((2, 2)), attn_mask=mask)
    np.testing.assert_array_equal(out[1], 0)
    dq, dk, dv = A.scaled_dot_product_attention_backward(np.ones((2, 2)), cache)
    assert np.isfinite(dq).all() and np.all(dq[1] == 0)


def test_sdpa_dtype_inputs_untouched_and_functional_names(rng):
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    q0 = q.copy()
    out, cache = A.scaled_dot_product_attention_forward(q, q, q)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in
                                           A.scaled_dot_product_attention_backward(out, cache))
    np.testing.assert_array_equal(q, q0)
    assert cb.F.scaled_dot_product_attention is A.scaled_dot_product_attention
    assert cb.F.scaled_dot_product_attention_backward is A.scaled_dot_product_attention_backward


def test_sdpa_errors(rng):
    q, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    sdpa = A.scaled_dot_product_attention
    with pytest.raises(ValueError, match="same last axis"):
        sdpa(q, rng.standard_normal((2, 5, 3)), k)
    with pytest.raises(ValueError, match="each key needs its value"):
        sdpa(q, k, rng.standard_normal((2, 4, 4)))
    with pytest.raises(ValueError, match="batch axes"):
        sdpa(q, k[:1], k[:1])
    with pytest.raises(ValueError, match="not both"):
        sdpa(q, k, k, attn_mask=np.ones((3, 5), bool), is_causal=True)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 5\)"):
        sdpa(q, k, k, attn_mask=np.ones((5, 3), bool))
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(q, k, k, dropout_p=1.0)
    with pytest.raises(TypeError, match="is_causal"):
        sdpa(q, k, k, is_causal=1)
    with pytest.raises(TypeError, match="torch"):
        sdpa(torch.zeros(2, 3), k, k)
    with pytest.raises(ValueError, match="dout"):
        A.scaled_dot_product_attention_backward(np.ones((2, 3, 3)), A.scaled_dot_product_attention_forward(q, k, k)[1])


# ------------------------------------------------------------------------------- the layer
def _mha_pair(E, h, bias=True, batch_first=True, seed=0):
    ours = cb.nn.MultiheadAttention(E, h, bias=bias, batch_first=batch_first, rng=seed,
                                    dtype=np.float64)
    rng = np.random.default_rng(seed + 10)
    for p in ours.parameters():               # nonzero biases too
        p.data[:] = rng.standard_normal(p.shape) * 0.5
    twin = ours.to_torch()
    return ours, twin


MHA = {
    "self": dict(),
    "cross-S7": dict(S=7),
    "bool-attn-mask": dict(attn_mask="bool"),
    "float-attn-mask-3d": dict(attn_mask="float3"),
    "key-padding": dict(key_padding_mask=True),
    "no-bias-not-averaged": dict(bias=False, average=False),
    "seq-first": dict(batch_first=False),
    "unbatched": dict(unbatched=True),
}


@pytest.mark.parametrize("case", list(MHA))
def test_multihead_attention_matches_torch(case, rng):
    o = MHA[case]
    N, L, S, E, h = 3, 5, o.get("S", 5), 8, 2
    ours, twin = _mha_pair(E, h, bias=o.get("bias", True), batch_first=o.get("batch_first", True))
    shape = lambda n: (n, N, E) if not o.get("batch_first", True) else (N, n, E)  # noqa: E731
    if o.get("unbatched"):
        shape = lambda n: (n, E)                                                 # noqa: E731
    query = rng.standard_normal(shape(L))
    key = query if S == L else rng.standard_normal(shape(S))
    value = query if S == L else rng.standard_normal(shape(S))
    kw = {}
    if o.get("attn_mask") == "bool":
        m = rng.random((L, S)) > 0.5
        m[:, 0] = False
        kw["attn_mask"] = m
    elif o.get("attn_mask") == "float3":
        kw["attn_mask"] = rng.standard_normal((N * h, L, S))
    if o.get("key_padding_mask"):
        m = np.zeros((N, S), bool)
        m[0, -2:] = True
        kw["key_padding_mask"] = m
    avg = o.get("average", True)
    out, w = ours(query, key, value, average_attn_weights=avg, **kw)
    dout = rng.standard_normal(out.shape)
    dq, dk, dv = ours.backward(dout)
    t = [torch.from_numpy(a).requires_grad_(True) for a in (query, key, value)]
    if S == L:
        t = [t[0]] * 3
    tkw = {k2: torch.from_numpy(v2) for k2, v2 in kw.items()}
    out_t, w_t = twin(*t, average_attn_weights=avg, **tkw)
    out_t.backward(torch.from_numpy(dout))
    scale = max(1.0, np.abs(out_t.detach().numpy()).max())
    assert np.abs(out - out_t.detach().numpy()).max() / scale <= 1e-12
    assert w.shape == tuple(w_t.shape) and np.abs(w - w_t.detach().numpy()).max() <= 1e-12
    grads = [dq + dk + dv] if S == L else [dq, dk, dv]
    for g, tt in zip(grads, t):
        assert np.abs(g - tt.grad.numpy()).max() <= 1e-12
    theirs = dict(twin.named_parameters())
    for name, p in ours.named_parameters():
        assert np.abs(p.grad - theirs[name].grad.numpy()).max() <= 1e-12, name


def test_multihead_attention_finite_differences(rng):
    m = cb.nn.MultiheadAttention(4, 2, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 3, 4))

    def fwd(x, w):
        m.in_proj_weight.data = w
        return m(x, x, x, need_weights=False)[0], None

    def bwd(dout, _):
        m.zero_grad()
        dq, dk, dv = m.backward(dout)
        return dq + dk + dv, m.in_proj_weight.grad.copy()
    errs = check_gradients(fwd, bwd, [x, m.in_proj_weight.data.copy()], names=["dx", "dw"])
    assert max(errs.values()) < 1e-6, errs


def test_multihead_attention_keys_init_and_errors():
    m = cb.nn.MultiheadAttention(12, 3, rng=0)
    assert [(k, v.shape) for k, v in m.state_dict().items()] == [
        ("in_proj_weight", (36, 12)), ("in_proj_bias", (36,)), ("out_proj.weight", (12, 12)),
        ("out_proj.bias", (12,))]
    assert list(m.state_dict()) == list(torch.nn.MultiheadAttention(12, 3).state_dict())
    bound = math.sqrt(6 / (12 + 36))                 # Xavier-uniform on (3E, E)
    assert 0.8 * bound < np.abs(m.in_proj_weight.data).max() <= bound
    assert not m.in_proj_bias.data.any() and not m.out_proj.bias.data.any()
    assert list(cb.nn.MultiheadAttention(4, 2, bias=False).state_dict()) == [
        "in_proj_weight", "out_proj.weight"]
    with pytest.raises(ValueError, match="divisible"):
        cb.nn.MultiheadAttention(10, 3)
    with pytest.raises(TypeError, match="batch_first"):
        cb.nn.MultiheadAttention(4, 2, batch_first=1)
    with pytest.raises(ValueError, match="embed_dim=4"):
        m4 = cb.nn.MultiheadAttention(4, 2)
        m4(np.ones((1, 2, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        m4(np.ones((1, 2, 4), np.float32), attn_mask=np.ones((3, 3), bool))
    with pytest.raises(RuntimeError, match="no forward pass"):
        cb.nn.MultiheadAttention(4, 2).backward(np.ones((1, 2, 4)))
    assert "MultiheadAttention" in cb.nn.__all__


def test_sdpa_mask_that_does_not_broadcast(rng):
    q = rng.standard_normal((3, 2, 4))
    with pytest.raises(ValueError, match="does not broadcast"):
        A.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2, 2), bool))
