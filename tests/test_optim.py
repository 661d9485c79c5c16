"""Optimizers and schedules against torch.optim, step by step (float64)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnbook.nn import Parameter  # noqa: E402
from cnnbook.optim import SGD, Adam, CosineAnnealingLR, OneCycleLR, StepLR  # noqa: E402


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
        o.step(); ot.step(); s.step(); st.step()
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
