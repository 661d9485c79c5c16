"""Bad input at the edges a PyTorch user meets first: the training loop, the layers' input dtype,
the library's generator, the static-build switch. Needs no torch (a torch case skips alone)."""
import math

import numpy as np
import pytest

import cnnbook as cb
import cnnbook.functional as F
from cnnbook import _checks, nn
from cnnbook.optim import SGD, Adam
from cnnbook.training import evaluate, fit, loss_and_grad, predict_proba, train_step


def _net(seed=0):
    """A network small enough that a test trains it in milliseconds: (N, 1, 6, 6) -> 3 classes."""
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=seed), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 4 * 4, 3, rng=seed + 1))


def _data(n=30, seed=0):
    g = np.random.default_rng(seed)
    y = g.integers(0, 3, n)
    x = g.normal(0, 0.1, (n, 1, 6, 6)).astype(np.float32)
    x[np.arange(n), 0, y, y] += 1.0                  # the class is told by one bright pixel
    return x, y


# ---------------------------------------------------------------------------------- generator
def test_manual_seed_reseeds_the_generator_that_layers_already_hold():
    drop = nn.Dropout(0.5)                           # built before the call: holds the generator
    flip = cb.data.RandomHorizontalFlip()
    cb.manual_seed(11)
    a = drop(np.ones((4, 8))), flip(np.arange(24.0).reshape(4, 1, 2, 3))
    cb.manual_seed(11)
    b = drop(np.ones((4, 8))), flip(np.arange(24.0).reshape(4, 1, 2, 3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert drop.rng is _checks.make_rng("t", None)
    ref = np.random.default_rng(11)
    cb.manual_seed(11)
    assert drop.rng.random(5).tolist() == ref.random(5).tolist()


def test_functional_dropout_takes_an_int_seed_like_the_layer():
    x = np.ones((3, 10))
    np.testing.assert_array_equal(F.dropout(x, 0.5, True, 4),
                                  F.dropout(x, 0.5, True, np.random.default_rng(4)))
    np.testing.assert_array_equal(F.dropout(x, 0.5, True, 4), nn.Dropout(0.5, rng=4)(x))


# -------------------------------------------------------------------------- static predicate
@pytest.mark.parametrize("value, on", [("", False), ("0", False), ("false", False),
                                       ("False", False), (" no ", False), ("off", False),
                                       ("1", True), ("true", True), ("yes", True)])
def test_one_static_switch_for_widgets_and_training(monkeypatch, value, on):
    from cnnbook import training, widgets
    monkeypatch.setenv("CNNBOOK_STATIC", value)
    assert _checks.is_static() is on and widgets.is_static() is on
    items = [1, 2]
    assert (training.progress(items) is items) is on


# ----------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype, fix", [(np.uint8, r"x.astype\(np.float32\) / 255"),
                                        (np.int64, r"x.astype\(np.float32\)"),
                                        (np.float16, r"x.astype\(np.float32\)"),
                                        (np.bool_, r"x.astype\(np.float32\)")])
def test_layers_fit_and_evaluate_refuse_non_float_input(dtype, fix):
    x, y = _data(6)
    xi = (x * 100).astype(dtype)
    model = _net()
    for call in (lambda: model(xi), lambda: nn.ReLU()(xi),
                 lambda: fit(model, SGD(model.parameters(), lr=0.1), xi, y, progress=False),
                 lambda: evaluate(model, xi, y), lambda: predict_proba(model, xi)):
        with pytest.raises(TypeError, match=rf"must be float32 or float64, got dtype "
                                            rf"{np.dtype(dtype)}; .*{fix}"):
            call()


def test_float32_and_float64_pass_and_the_functional_api_keeps_integers():
    x, _ = _data(4)
    model = _net()
    assert model(x).dtype == np.float32
    assert _checks.float_input("f", "x", x) is x                  # no copy
    toy = np.array([[[[0, 1], [1, 0]]]])                           # a 0/1 toy image, int64
    assert F.relu(toy).dtype == np.float64
    assert F.conv2d(toy, np.ones((1, 1, 2, 2))).item() == 2.0


# --------------------------------------------------------------------------- fit: shuffling
def _run(calls, seed=3, **kw):
    x, y = _data(30)
    model = _net()
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    seen, losses = [], []
    for epochs in calls:
        h = fit(model, opt, x, y, epochs=epochs, batch_size=8, seed=seed, progress=False,
                augment=lambda b: seen.append(b[:, 0, 0, 0].copy()) or b, **kw)
        losses += h.loss
    return seen, losses, model.state_dict()


def test_two_calls_of_one_epoch_equal_one_call_of_two():
    seen_1, loss_1, w_1 = _run([1, 1])
    seen_2, loss_2, w_2 = _run([2])
    assert len(seen_1) == len(seen_2) == 8
    assert all(np.array_equal(a, b) for a, b in zip(seen_1, seen_2))       # same batch orders
    assert loss_1 == loss_2
    for k in w_1:
        np.testing.assert_array_equal(w_1[k], w_2[k], err_msg=k)
    assert not np.array_equal(np.concatenate(seen_1[:4]), np.concatenate(seen_1[4:]))


def test_a_first_call_still_shuffles_from_default_rng_seed():
    x, y = _data(30)
    seen, _, _ = _run([1], seed=5)
    order = np.random.default_rng(5).permutation(30)
    expected = [x[order[i:i + 8], 0, 0, 0] for i in range(0, 30, 8)]
    assert all(np.array_equal(a, b) for a, b in zip(seen, expected))
    seen_again, _, _ = _run([1], seed=5)                  # a new model starts afresh
    assert all(np.array_equal(a, b) for a, b in zip(seen, seen_again))


# ----------------------------------------------------------------------- fit: divergence
def test_fit_stops_at_the_first_non_finite_loss_before_the_step():
    x, y = _data(30)
    model = _net()
    opt = SGD(model.parameters(), lr=0.1)
    x_bad = x.copy()
    x_bad[20] = np.nan                                   # in the third batch of the first epoch
    calls = []
    orig = opt.step
    opt.step = lambda: calls.append(1) or orig()
    with pytest.raises(FloatingPointError, match=r"fit: epoch 1, step \d of 4 .*the loss is nan "
                                                 r".*the batch itself holds 36 NaN.*"
                                                 r"Lower the learning rate .*to \[0, 1\]"):
        fit(model, opt, x_bad, y, batch_size=8, seed=0, progress=False)
    order = np.random.default_rng(0).permutation(30)
    bad_batch = int(np.flatnonzero(order == 20)[0]) // 8
    assert len(calls) == bad_batch                       # no step after the bad loss
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())


def test_fit_names_a_diverging_learning_rate():
    x, y = _data(30)
    model = _net()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError,
                                                  match=r"fit: epoch \d+, step \d+ of 4.*"
                                                        r"it is 1e\+06; try a tenth"):
        fit(model, SGD(model.parameters(), lr=1e6), x * 1e3, y, epochs=50, batch_size=8,
            progress=False)


def test_train_step_refuses_a_nan_loss():
    x, y = _data(8)
    model = _net()
    with pytest.raises(FloatingPointError, match="train_step: the loss is nan"):
        train_step(model, SGD(model.parameters(), lr=0.1), np.full_like(x, np.nan), y)


def test_evaluate_refuses_non_finite_outputs():
    x, y = _data(12)
    model = _net()
    model[3].weight.data[0, 0] = np.nan
    with np.errstate(invalid="ignore"), pytest.raises(FloatingPointError, match=r"evaluate: the model's outputs hold 12 NaN or "
                                                 r"infinite values \(the first for example 0\); "
                                                 r"the weights hold NaN"):
        evaluate(model, x, y)
    model = _net()
    x[5, 0, 0, 0] = np.inf
    with np.errstate(invalid="ignore"), pytest.raises(FloatingPointError, match=r"first for example 5\); the weights are finite"):
        evaluate(model, x, y, batch_size=4)


# ------------------------------------------------------------------------- fit: bad input
def test_empty_sets_are_refused():
    x, y = _data(6)
    model = _net()
    for call in (lambda: fit(model, SGD(model.parameters(), lr=0.1), x[:0], y[:0]),
                 lambda: evaluate(model, x[:0], y[:0]), lambda: predict_proba(model, x[:0])):
        with pytest.raises(ValueError, match=r"x holds no examples \(shape \(0, 1, 6, 6\)\)"):
            call()


def test_string_and_negative_labels_are_refused():
    x, _ = _data(6)
    model = _net()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"fit: y holds strings \(dtype <U3\).*np.unique\(y, "
                                        r"return_inverse=True\)"):
        fit(model, opt, x, np.array(["cat", "dog", "cat", "dog", "cat", "dog"]))
    with pytest.raises(TypeError, match=r"evaluate: y holds strings"):
        evaluate(model, x, ["a"] * 6)
    with pytest.raises(TypeError, match=r"fit: class targets must be integers, got dtype float64; "
                                        r"use target.astype\(np.int64\)"):
        fit(model, opt, x, np.zeros(6))
    with pytest.raises(ValueError, match="fit: y holds the label -1; class indices start at 0"):
        fit(model, opt, x, np.array([0, 1, -1, 0, 1, 2]))


# stands for torch.optim.SGD where torch is not installed: the check reads the class's module
_TorchLikeSGD = type("SGD", (), {"__module__": "torch.optim.sgd", "step": lambda self: None,
                                 "zero_grad": lambda self: None})


def test_a_torch_optimizer_is_refused_with_the_cnnbook_one_to_use():
    x, y = _data(6)
    model = _net()
    msg = r"fit: optimizer is torch.optim.SGD.*use cnnbook.optim.SGD\(model.parameters\(\), lr=...\)"
    with pytest.raises(TypeError, match=msg):
        fit(model, _TorchLikeSGD(), x, y)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=msg):
        fit(model, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), x, y)
    with pytest.raises(TypeError, match=r"fit: optimizer must have step\(\) and zero_grad\(\)"):
        fit(model, "adam", x, y)


# ------------------------------------------------------------------------------ fit: losses
class _MSELossStandIn:
    """The loss-module protocol: ``value = crit(logits, y)``, then ``crit.backward(1.0)``."""

    def __init__(self):
        self.calls = 0

    def __call__(self, logits, y):
        self.calls += 1
        self._cache = (logits, y)
        return float(np.mean((logits - y) ** 2))

    def backward(self, dout):
        logits, y = self._cache
        return dout * 2 * (logits - y) / logits.size


def test_fit_takes_a_loss_module_and_a_loss_function():
    x, y = _data(30)
    target = np.eye(3, dtype=np.float32)[y]                       # regression onto one-hot
    runs = {}
    for kind in ("module", "function"):
        model = _net()
        crit = _MSELossStandIn()
        loss = crit if kind == "module" else (lambda z, t: (crit(z, t), crit.backward(1.0)))
        h = fit(model, SGD(model.parameters(), lr=0.5), x, target, epochs=3, batch_size=10,
                loss=loss, validation=(x, target), progress=False)
        assert crit.calls > 0 and all(math.isnan(a) for a in h.acc + h.val_acc)
        runs[kind] = (h.loss, model.state_dict())
        assert h.val_loss[-1] < h.val_loss[0]
        assert evaluate(model, x, target, loss=loss)[0] == pytest.approx(h.val_loss[-1])
    assert runs["module"][0] == runs["function"][0]


def test_a_loss_function_equal_to_the_builtin_trains_the_same():
    x, y = _data(30)
    out = []
    for loss in ("cross_entropy", lambda z, t: loss_and_grad(z, t, "cross_entropy")):
        model = _net()
        h = fit(model, Adam(model.parameters(), lr=1e-2), x, y, epochs=2, batch_size=8,
                loss=loss, progress=False)
        out.append((h.loss, h.acc, model.state_dict()))
    assert out[0][0] == out[1][0] and out[0][1] == out[1][1]      # accuracy kept for class targets


def test_bad_losses():
    x, y = _data(6)
    model = _net()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"fit: a loss function must return \(loss, dlogits\)"):
        fit(model, opt, x, y, loss=lambda z, t: 1.0, progress=False)
    with pytest.raises(ValueError, match=r"fit: the loss's gradient has shape \(2,\)"):
        fit(model, opt, x, y, loss=lambda z, t: (1.0, np.zeros(2)), progress=False)
    with pytest.raises(TypeError, match="fit: loss must be one of"):
        fit(model, opt, x, y, loss=3)


def test_fit_with_parameter_groups_and_a_schedule():
    """The head at ten times the body's rate, both stepped down by StepLR; History.lr records
    the first group's rate of every step."""
    from cnnbook.optim import StepLR
    x, y = _data(32)
    model = _net()
    body, head = model[0].parameters(), model[3].parameters()
    opt = SGD([{"params": head, "lr": 0.1}, {"params": body}], lr=0.01, momentum=0.9)
    sched = StepLR(opt, step_size=np.int64(2), gamma=0.5)
    before = [p.data.copy() for p in model.parameters()]
    h = fit(model, opt, x, y, epochs=1, batch_size=8, scheduler=sched, progress=False)
    assert h.lr == [0.1, 0.1, 0.05, 0.05]
    assert [g["lr"] for g in opt.param_groups] == [0.025, 0.0025]
    assert all(not np.array_equal(p.data, b) for p, b in zip(model.parameters(), before))
