"""Optimizers and schedules against torch.optim, step by step (float64)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnbook.nn import Parameter  # noqa: E402
from cnnbook.optim import (SGD, Adam, AdamW, CosineAnnealingLR, OneCycleLR, RMSprop,  # noqa: E402
                           StepLR)


def _grad(p, c):
    """A non-linear gradient field so that trajectories depend on every detail of the rule."""
    return p ** 3 - c + 0.1 * np.sin(3 * p)


def _trajectories(make_ours, make_torch, steps=25, sched_ours=None, sched_torch=None):
    rng = np.random.default_rng(0)
    inits = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    targets = [rng.standard_normal(a.shape) for a in inits]
    ours = [Parameter(a) for a in inits]
    theirs = [torch.tensor(a, requires_grad=True) for a in inits]
    opt_o, opt_t = make_ours(ours), make_torch(theirs)
    s_o = sched_ours(opt_o) if sched_ours else None
    s_t = sched_torch(opt_t) if sched_torch else None
    worst, lrs = 0.0, []
    for _ in range(steps):
        for p, t, c in zip(ours, theirs, targets):
            p.grad = _grad(p.data, c)
            t.grad = torch.from_numpy(_grad(t.detach().numpy(), c))
        opt_o.step()
        opt_t.step()
        if s_o:
            lrs.append((opt_o.lr, opt_t.param_groups[0]["lr"]))
            s_o.step()
            s_t.step()
        opt_o.zero_grad()
        for p, t in zip(ours, theirs):
            worst = max(worst, float(np.max(np.abs(p.data - t.detach().numpy()))))
            assert np.all(p.grad == 0)
    moved = max(float(np.max(np.abs(p.data - a))) for p, a in zip(ours, inits))
    return worst, moved, lrs


@pytest.mark.parametrize("kw", [
    dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, weight_decay=1e-2), dict(lr=0.05, momentum=0.9, dampening=0.3),
], ids=["plain", "momentum", "nesterov", "wd", "dampening"])
def test_sgd_matches_torch(kw):
    worst, moved, _ = _trajectories(lambda p: SGD(p, **kw), lambda p: torch.optim.SGD(p, **kw))
    assert moved > 0.05 and worst < 1e-12, (worst, moved)


@pytest.mark.parametrize("kw", [
    dict(), dict(lr=0.01, betas=(0.8, 0.99)), dict(lr=0.02, weight_decay=0.1, eps=1e-6),
], ids=["default", "betas", "wd"])
def test_adam_matches_torch(kw):
    worst, moved, _ = _trajectories(lambda p: Adam(p, **kw), lambda p: torch.optim.Adam(p, **kw))
    assert moved > 1e-3 * 5 and worst < 1e-12, (worst, moved)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_one_cycle_matches_torch(strategy, opt):
    steps = 30
    ours_cls, torch_cls = (SGD, torch.optim.SGD) if opt == "sgd" else (Adam, torch.optim.Adam)
    kw = dict(lr=0.01, momentum=0.9) if opt == "sgd" else dict(lr=0.01)
    sk = dict(max_lr=0.1, total_steps=steps, pct_start=0.25, anneal_strategy=strategy)
    worst, moved, lrs = _trajectories(
        lambda p: ours_cls(p, **kw), lambda p: torch_cls(p, **kw), steps=steps,
        sched_ours=lambda o: OneCycleLR(o, **sk),
        sched_torch=lambda o: torch.optim.lr_scheduler.OneCycleLR(o, **sk))
    lr_err = max(abs(a - b) for a, b in lrs)
    assert lr_err < 1e-15 and worst < 1e-12 and moved > 0.01, (lr_err, worst)
    assert lrs[0][0] == pytest.approx(0.1 / 25)
    assert max(a for a, _ in lrs) == pytest.approx(0.1, rel=0.05)


def test_one_cycle_momentum_follows_torch():
    p = [Parameter(np.zeros(2))]
    t = [torch.zeros(2, requires_grad=True)]
    o, ot = Adam(p), torch.optim.Adam(t)
    s = OneCycleLR(o, max_lr=1.0, total_steps=10)
    st = torch.optim.lr_scheduler.OneCycleLR(ot, max_lr=1.0, total_steps=10)
    for _ in range(10):
        assert o.param_groups[0]["betas"][0] == pytest.approx(ot.param_groups[0]["betas"][0], abs=1e-15)
        o.step()
        ot.step()
        s.step()
        st.step()
    with pytest.raises(ValueError, match="total_steps=10"):
        s.step()


def test_step_and_cosine_schedules_match_torch():
    for ours, theirs in [(lambda o: StepLR(o, 3, gamma=0.5),
                          lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.5)),
                         (lambda o: CosineAnnealingLR(o, 7, eta_min=0.01),
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, eta_min=0.01))]:
        worst, _, lrs = _trajectories(lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1),
                                      steps=10, sched_ours=ours, sched_torch=theirs)
        assert max(abs(a - b) for a, b in lrs) < 1e-12 and worst < 1e-12


def test_optimizer_errors():
    p = [Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="SGD: lr"):
        SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam(p, betas=(0.9, 1.5))
    with pytest.raises(TypeError, match="Parameter"):
        SGD([np.zeros(2)], lr=0.1)


# ---- every optimizer, 50 steps with weight decay, against torch.optim (float64) -------------
@pytest.mark.parametrize("name, kw", [
    ("SGD", dict(lr=0.03, momentum=0.9, weight_decay=5e-2)),
    ("SGD", dict(lr=0.03, momentum=0.9, weight_decay=5e-2, nesterov=True)),
    ("RMSprop", dict(lr=1e-2, weight_decay=5e-2)),
    ("RMSprop", dict(lr=5e-3, alpha=0.9, eps=1e-6, weight_decay=5e-2, momentum=0.8)),
    ("RMSprop", dict(lr=5e-3, weight_decay=5e-2, momentum=0.5, centered=True)),
    ("Adam", dict(lr=1e-2, weight_decay=5e-2)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=2e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3)),
], ids=["sgd-mom-wd", "sgd-nesterov-wd", "rmsprop-wd", "rmsprop-mom-wd", "rmsprop-centered",
        "adam-wd", "adamw-default", "adamw-wd"])
def test_fifty_steps_with_weight_decay_match_torch(name, kw):
    ours_cls = {"SGD": SGD, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}[name]
    worst, moved, _ = _trajectories(lambda p: ours_cls(p, **kw),
                                    lambda p: getattr(torch.optim, name)(p, **kw), steps=50)
    assert moved > 0.05 and worst < 1e-12, (worst, moved)


def test_defaults_are_torchs():
    import inspect
    for ours, theirs in [(RMSprop, torch.optim.RMSprop), (AdamW, torch.optim.AdamW),
                         (Adam, torch.optim.Adam)]:
        po, pt = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        for k in ("lr", "alpha", "eps", "weight_decay", "momentum", "betas", "centered"):
            if k in po:
                assert po[k].default == pt[k].default, (ours.__name__, k)


# ---- known answers computed by hand: p = 1, constant gradient g = 2 ----------------------------
def _run(opt_cls, steps=1, **kw):
    p = Parameter(np.array([1.0]))
    opt = opt_cls([p], **kw)
    out = []
    for _ in range(steps):
        p.grad = np.array([2.0])
        opt.step()
        out.append(float(p.data[0]))
    return out


def test_known_answer_sgd_momentum_weight_decay():
    # step 1: g = 2 + 0.1*1 = 2.1, buf = 2.1, p = 1 - 0.1*2.1 = 0.79
    # step 2: g = 2 + 0.1*0.79 = 2.079, buf = 0.9*2.1 + 2.079 = 3.969, p = 0.79 - 0.3969 = 0.3931
    assert _run(SGD, 2, lr=0.1, momentum=0.9, weight_decay=0.1) == pytest.approx([0.79, 0.3931],
                                                                                    abs=1e-15)


def test_known_answer_nesterov():
    # g = 2.1, buf = 2.1, step along g + 0.9*buf = 3.99: p = 1 - 0.399 = 0.601
    assert _run(SGD, 1, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True) == \
        pytest.approx([0.601], abs=1e-15)


def test_known_answer_rmsprop():
    # v = 0.01 * 4 = 0.04, sqrt(v) = 0.2, p = 1 - 0.01 * 2 / 0.2 = 0.9
    assert _run(RMSprop, 1, eps=0.0) == pytest.approx([0.9], abs=1e-15)
    # momentum 0.5, step 2: v = 0.99*0.04 + 0.04 = 0.0796; buf = 0.5*10 + 2/sqrt(0.0796)
    second = 0.9 - 0.01 * (0.5 * 10 + 2 / np.sqrt(0.0796))
    assert _run(RMSprop, 2, eps=0.0, momentum=0.5) == pytest.approx([0.9, second], abs=1e-14)


def test_known_answer_adam_first_step_is_lr_times_sign():
    # bias correction makes m_hat = g and v_hat = g**2 on step 1: the step is lr * g / |g|
    assert _run(Adam, 1, lr=0.1, eps=0.0) == pytest.approx([0.9], abs=1e-15)
    assert _run(Adam, 3, lr=0.1, eps=0.0) == pytest.approx([0.9, 0.8, 0.7], abs=1e-12)


def test_known_answer_adamw_differs_from_adam_l2():
    # AdamW: p = 1*(1 - 0.1*0.5) - 0.1 * 2/2 = 0.85; Adam with L2: g = 2.5, p = 1 - 0.1 = 0.9
    assert _run(AdamW, 1, lr=0.1, eps=0.0, weight_decay=0.5) == pytest.approx([0.85], abs=1e-15)
    assert _run(Adam, 1, lr=0.1, eps=0.0, weight_decay=0.5) == pytest.approx([0.9], abs=1e-15)


def test_new_optimizer_errors():
    p = [Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="RMSprop: alpha.*alpha=0.99"):
        RMSprop(p, alpha=1.0)
    with pytest.raises(ValueError, match="RMSprop: momentum"):
        RMSprop(p, momentum=-0.1)
    with pytest.raises(ValueError, match="AdamW: betas"):
        AdamW(p, betas=(0.9,))
    with pytest.raises(ValueError, match="AdamW: weight_decay"):
        AdamW(p, weight_decay=-1)


def test_step_does_not_modify_arrays_in_place():
    p = Parameter(np.ones(3))
    old = p.data
    g = np.full(3, 2.0)
    for cls in (SGD, RMSprop, Adam, AdamW):
        p = Parameter(np.ones(3))
        old = p.data
        opt = cls([p], lr=0.1) if cls is SGD else cls([p])
        p.grad = g
        opt.step()
        assert np.all(old == 1) and np.all(g == 2) and not np.all(p.data == 1)
