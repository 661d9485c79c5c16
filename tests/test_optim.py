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


# ---- parameter groups and state_dict, against torch.optim (float64) ------------------------
GROUPED = [
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2, weight_decay=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5, weight_decay=1e-2)),
]
_CLASSES = {"SGD": SGD, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}


def _two_groups(n_arrays=4):
    rng = np.random.default_rng(1)
    inits = [rng.standard_normal((3, 2)) for _ in range(n_arrays)]
    targets = [rng.standard_normal(a.shape) for a in inits]
    return inits, targets


def _grouped(params, lib):
    """Head (first two arrays) at 10x the body's rate and, for the head only, other extras."""
    head = {"params": params[:2], "lr": 0.1}
    if lib == "SGD":
        head["momentum"] = 0.5
    return [head, {"params": params[2:]}]


def _step_both(ours, theirs, targets, opt_o, opt_t, steps, sch_o=None, sch_t=None):
    for _ in range(steps):
        for p, t, c in zip(ours, theirs, targets):
            p.grad = _grad(p.data, c)
            t.grad = torch.from_numpy(_grad(t.detach().numpy(), c))
        opt_o.step()
        opt_t.step()
        if sch_o is not None:
            sch_o.step()
            sch_t.step()


@pytest.mark.parametrize("name, kw", GROUPED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(GROUPED)])
def test_two_param_groups_match_torch(name, kw):
    inits, targets = _two_groups()
    ours = [Parameter(a) for a in inits]
    theirs = [torch.tensor(a, requires_grad=True) for a in inits]
    opt_o = _CLASSES[name](_grouped(ours, name), **kw)
    opt_t = getattr(torch.optim, name)(_grouped(theirs, name), **kw)
    assert [g["lr"] for g in opt_o.param_groups] == [0.1, kw["lr"]]
    for g_o, g_t in zip(opt_o.param_groups, opt_t.param_groups):
        assert len(g_o["params"]) == len(g_t["params"])
        for k in kw:
            assert g_o[k] == pytest.approx(g_t[k]), k
    _step_both(ours, theirs, targets, opt_o, opt_t, 30)
    for p, t, a in zip(ours, theirs, inits):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=0, atol=1e-12)
        assert np.abs(p.data - a).max() > 1e-3


@pytest.mark.parametrize("name, kw", GROUPED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(GROUPED)])
def test_resume_from_state_dict_equals_uninterrupted(name, kw):
    """10 steps, save, 10 more; a fresh optimizer loading the saved state over the parameters as
    they were after 10 steps takes the same 10 steps. The state has torch's keys."""
    inits, targets = _two_groups()
    cls = _CLASSES[name]
    ours = [Parameter(a) for a in inits]
    theirs = [torch.tensor(a, requires_grad=True) for a in inits]
    opt = cls(_grouped(ours, name), **kw)
    opt_t = getattr(torch.optim, name)(_grouped(theirs, name), **kw)
    _step_both(ours, theirs, targets, opt, opt_t, 10)
    saved, weights = opt.state_dict(), [p.data.copy() for p in ours]
    sd_t = opt_t.state_dict()
    assert sorted(saved["state"]) == sorted(sd_t["state"]) == [0, 1, 2, 3]
    for i in saved["state"]:
        assert set(saved["state"][i]) == set(sd_t["state"][i]), i
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in sd_t["param_groups"]]
    for _ in range(10):                                          # the uninterrupted run goes on
        for p, c in zip(ours, targets):
            p.grad = _grad(p.data, c)
        opt.step()
    resumed = [Parameter(w) for w in weights]
    opt2 = cls(_grouped(resumed, name), lr=123.0, **{k: v for k, v in kw.items() if k != "lr"})
    opt2.load_state_dict(saved)
    assert [g["lr"] for g in opt2.param_groups] == [0.1, kw["lr"]]
    for _ in range(10):
        for p, c in zip(resumed, targets):
            p.grad = _grad(p.data, c)
        opt2.step()
    for p, q in zip(ours, resumed):
        np.testing.assert_array_equal(p.data, q.data)
    # torch's state_dict loads too, and continues as torch does
    from_torch = [Parameter(t.detach().numpy().copy()) for t in theirs]
    opt3 = cls(_grouped(from_torch, name), **kw)
    opt3.load_state_dict(sd_t)
    _step_both(from_torch, theirs, targets, opt3, opt_t, 5)
    for p, t in zip(from_torch, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=0, atol=1e-12)


def test_state_dict_is_a_copy_and_load_checks_the_layout():
    ps = [Parameter(np.ones(3)), Parameter(np.ones(2))]
    opt = SGD(ps, lr=0.1, momentum=0.9)
    for p in ps:
        p.grad = np.ones_like(p.data)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"][:] = 7
    sd["param_groups"][0]["lr"] = 5.0
    assert np.all(opt.state[0]["momentum_buffer"] == 1) and opt.lr == 0.1
    with pytest.raises(ValueError, match="the state has 1 parameter groups, this optimizer has 2"):
        SGD([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"the saved momentum_buffer of parameter 0 has shape \(3,\)"):
        SGD([Parameter(np.ones(4)), Parameter(np.ones(2))], lr=0.1).load_state_dict(opt.state_dict())
    with pytest.raises(TypeError, match="expected the dict that optimizer.state_dict"):
        opt.load_state_dict([1, 2])


def test_param_group_errors():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    with pytest.raises(ValueError, match=r"SGD \(param group 1\): some parameters appear more than once"):
        SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD \(param group 0\): the group has no 'params' key"):
        SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(TypeError, match="mixes parameter groups"):
        SGD([{"params": [a]}, b], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam \(param group 1\): lr must be a finite number >= 0"):
        Adam([{"params": [a]}, {"params": [b], "lr": -1}])
    with pytest.raises(TypeError, match=r"Adam \(param group 0\): lr must be a number, got lr='0.1'"):
        Adam([{"params": [a], "lr": "0.1"}])
    opt = SGD([{"params": [a], "lr": 0.5, "name": "head"}, {"params": [b]}], lr=0.1)
    assert opt.param_groups[0]["name"] == "head" and opt.params == [a, b]
    opt.add_param_group({"params": Parameter(np.ones(1)), "lr": 0.2})
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1, 0.2] and len(opt.state) == 3


@pytest.mark.parametrize("make, make_t", [
    (lambda o: StepLR(o, step_size=np.int64(3), gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    (lambda o: CosineAnnealingLR(o, T_max=np.int32(8)),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8)),
    (lambda o: OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=12),
     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=12)),
    (lambda o: OneCycleLR(o, max_lr=0.05, total_steps=12),
     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=12)),
], ids=["step", "cosine", "onecycle-per-group", "onecycle-shared"])
def test_schedules_follow_torch_with_two_groups(make, make_t):
    inits, targets = _two_groups()
    ours = [Parameter(a) for a in inits]
    theirs = [torch.tensor(a, requires_grad=True) for a in inits]
    opt_o = SGD(_grouped(ours, "SGD"), lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(_grouped(theirs, "SGD"), lr=0.01, momentum=0.9)
    sch_o, sch_t = make(opt_o), make_t(opt_t)
    for _ in range(11):
        assert sch_o.get_last_lr() == pytest.approx(sch_t.get_last_lr(), rel=1e-12, abs=1e-15)
        for g_o, g_t in zip(opt_o.param_groups, opt_t.param_groups):
            assert g_o["momentum"] == pytest.approx(g_t["momentum"], abs=1e-15)
        _step_both(ours, theirs, targets, opt_o, opt_t, 1, sch_o, sch_t)
    for p, t, a in zip(ours, theirs, inits):
        assert np.all(np.isfinite(p.data)) and np.abs(p.data - a).max() > 1e-3
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=0, atol=1e-12)


def test_scheduler_state_dict_resumes():
    opt = SGD([Parameter(np.ones(2))], lr=0.1)
    sch = OneCycleLR(opt, max_lr=1.0, total_steps=20)
    for _ in range(7):
        sch.step()
    saved = sch.state_dict()
    opt2 = SGD([Parameter(np.ones(2))], lr=0.1)
    sch2 = OneCycleLR(opt2, max_lr=1.0, total_steps=20)
    sch2.load_state_dict(saved)
    sch.step()
    sch2.step()
    assert sch2.get_last_lr() == sch.get_last_lr() and opt2.lr == opt.lr


def test_wrong_types_raise_type_error_and_numpy_integers_pass():
    p = [Parameter(np.zeros(2))]
    with pytest.raises(TypeError, match="SGD: lr must be a number, got lr='0.1'"):
        SGD(p, lr="0.1")
    with pytest.raises(TypeError, match="SGD: nesterov must be True or False"):
        SGD(p, lr=0.1, momentum=0.9, nesterov="yes")
    with pytest.raises(TypeError, match="Adam: betas must be a pair of numbers"):
        Adam(p, betas="0.9")
    with pytest.raises(TypeError, match=r"StepLR: step_size must be a positive integer, got "
                                        r"step_size=2.5 of type float; use e.g. step_size=30"):
        StepLR(SGD(p, lr=0.1), step_size=2.5)
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer, got step_size=0"):
        StepLR(SGD(p, lr=0.1), step_size=0)
    with pytest.raises(TypeError, match="OneCycleLR: total_steps must be a positive integer"):
        OneCycleLR(SGD(p, lr=0.1), max_lr=0.1, total_steps=10.0)
    assert StepLR(SGD(p, lr=np.float32(0.5)), step_size=np.int64(3)).step_size == 3
    assert OneCycleLR(SGD(p, lr=0.1), max_lr=np.float64(0.1), total_steps=np.int64(10)).total_steps == 10
    with pytest.raises(TypeError, match="cnnbook.optim updates cnnbook.nn.Parameter objects"):
        SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
