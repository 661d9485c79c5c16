"""The training loop: one step equals PyTorch's, shuffling is seeded, a tiny fit learns."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnbook.functional as F  # noqa: E402
from cnnbook.nn import LeNet5  # noqa: E402
from cnnbook.optim import Adam, OneCycleLR, SGD  # noqa: E402
from cnnbook.training import (batch_indices, evaluate, fit, forward_only,  # noqa: E402
                              loss_and_grad, predict_proba, train_step)


def _toy(n=96, seed=0):
    """Images whose class is told by which quadrant is bright, plus noise."""
    g = np.random.default_rng(seed)
    y = g.integers(0, 4, n)
    x = g.normal(0, 0.1, (n, 1, 28, 28)).astype(np.float32)
    for k in range(4):
        r, c = divmod(k, 2)
        x[y == k, :, 14 * r:14 * r + 14, 14 * c:14 * c + 14] += 1.0
    return x, y


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_steps_equal_torch(loss):
    """Three Adam + one-cycle steps from the same weights on the same batches: same losses and
    the same weights afterwards (float64, so Adam's division by sqrt(v) cannot amplify
    rounding differences of near-zero gradients)."""
    x, y = _toy(3 * 16)
    x = x.astype(np.float64)
    model = LeNet5(num_classes=4, seed=1, dtype=np.float64)
    twin = model.to_torch()
    opt = Adam(model.parameters(), lr=1e-3)
    sch = OneCycleLR(opt, max_lr=0.01, total_steps=10)
    opt_t = torch.optim.Adam(twin.parameters(), lr=1e-3)
    sch_t = torch.optim.lr_scheduler.OneCycleLR(opt_t, max_lr=0.01, total_steps=10)
    for s in range(3):
        xb, yb = x[16 * s:16 * s + 16], y[16 * s:16 * s + 16]
        ours, _ = train_step(model, opt, xb, yb, loss, sch)
        logits = twin(torch.from_numpy(xb))
        if loss == "mse":
            onehot = torch.nn.functional.one_hot(torch.from_numpy(yb), 4).double()
            lt = torch.nn.functional.mse_loss(logits.softmax(1), onehot)
        else:
            lt = torch.nn.functional.cross_entropy(logits, torch.from_numpy(yb))
        opt_t.zero_grad()
        lt.backward()
        opt_t.step()
        sch_t.step()
        assert ours == pytest.approx(lt.item(), rel=1e-10), f"step {s}: {ours} vs {lt.item()}"
        assert opt.lr == pytest.approx(sch_t.get_last_lr()[0], rel=1e-12)
    for k, v in twin.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[k], v.detach().numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=k)


def test_mse_gradient_matches_torch():
    g = np.random.default_rng(0)
    logits = g.normal(size=(5, 3))
    y = np.array([0, 2, 1, 1, 0])
    value, d = loss_and_grad(logits, y, "mse")
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.mse_loss(lt.softmax(1), torch.nn.functional.one_hot(
        torch.from_numpy(y), 3).double())
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(d, lt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_shuffling_is_seeded_and_covers_every_index():
    a = batch_indices(10, 4, np.random.default_rng(3))
    b = batch_indices(10, 4, np.random.default_rng(3))
    c = batch_indices(10, 4, np.random.default_rng(4))
    assert [len(i) for i in a] == [4, 4, 2]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    assert np.array_equal(np.concatenate(batch_indices(5, 2, shuffle=False)), np.arange(5))


def test_fit_is_reproducible():
    x, y = _toy(48)
    runs = []
    for _ in range(2):
        model = LeNet5(num_classes=4, seed=0)
        h = fit(model, SGD(model.parameters(), lr=0.05), x, y, epochs=2, batch_size=16,
                seed=7, progress=False)
        runs.append((h.loss, model.state_dict()["0.weight"]))
    assert runs[0][0] == runs[1][0]
    assert np.array_equal(runs[0][1], runs[1][1])


def test_tiny_fit_reduces_the_loss():
    x, y = _toy(96)
    model = LeNet5(num_classes=4, seed=0)
    before, _ = evaluate(model, x, y)
    opt = Adam(model.parameters(), lr=3e-3)
    h = fit(model, opt, x, y, epochs=4, batch_size=16, seed=0, validation=(x, y), progress=False)
    after, acc = evaluate(model, x, y)
    assert h.steps == 4 * 6 and len(h.val_acc) == 4 and len(h.lr) == h.steps
    assert after < 0.5 * before, (before, after)
    assert acc >= 0.9
    assert np.mean(h.loss[-6:]) < np.mean(h.loss[:6])
    assert not model.training


def test_max_steps_and_predict_proba():
    x, y = _toy(40)
    model = LeNet5(num_classes=4, seed=0)
    h = fit(model, SGD(model.parameters(), lr=0.01), x, y, epochs=3, batch_size=16,
            max_steps=4, progress=False)
    assert h.steps == 4
    p = predict_proba(model, x, batch_size=7)
    assert p.shape == (40, 4)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(p, F.softmax(model(x), dim=1), rtol=1e-5, atol=1e-7)


def test_fit_leaves_inputs_alone():
    x, y = _toy(32)
    x0, y0 = x.copy(), y.copy()
    model = LeNet5(num_classes=4)
    fit(model, SGD(model.parameters(), lr=0.01), x, y, batch_size=8, progress=False)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_bad_arguments():
    x, y = _toy(8)
    model = LeNet5(num_classes=4)
    opt = SGD(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match="fit: batch_size"):
        fit(model, opt, x, y, batch_size=0)
    with pytest.raises(ValueError, match="fit: loss"):
        fit(model, opt, x, y, loss="hinge")
    with pytest.raises(ValueError, match="fit: x must be 4-D"):
        fit(model, opt, x[:, 0], y)
    with pytest.raises(TypeError, match="fit: seed"):
        fit(model, opt, x, y, seed="zero")


def test_train_step_skips_input_gradient_without_changing_the_update():
    """train_step goes back with input_grad=False; the weights after the step equal those of a
    step that computes the input gradient too."""
    x, y = _toy(16)
    a, b = LeNet5(seed=0), LeNet5(seed=0)
    opt_a, opt_b = SGD(a.parameters(), lr=0.1, momentum=0.9), SGD(b.parameters(), lr=0.1, momentum=0.9)
    train_step(a, opt_a, x, y)
    value, dlogits = loss_and_grad(b(x), y)
    assert b.backward(dlogits).shape == x.shape
    opt_b.step()
    opt_b.zero_grad()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_evaluate_computes_no_gradients_and_matches_loss_and_grad():
    x, y = _toy(40)
    model = LeNet5(num_classes=4, seed=0)
    model.train()
    for p in model.parameters():
        p.grad = np.full_like(p.data, 0.5)
    calls = []
    orig = model.backward
    model.backward = lambda *a, **k: calls.append(1) or orig(*a, **k)
    for kind in ("cross_entropy", "mse"):
        value, acc = evaluate(model, x, y, batch_size=16, loss=kind)
        ref, _ = loss_and_grad(model(x), y, kind)
        assert value == pytest.approx(float(ref), rel=1e-5)
        assert acc == pytest.approx(float(np.mean(np.argmax(model(x), 1) == y)))
    assert not calls and model.training               # the mode it had before
    assert all(np.all(p.grad == 0.5) for p in model.parameters())


def test_evaluate_leaves_modes_gradients_and_the_pending_backward_alone():
    """A backward after evaluate goes back through the forward pass before it, with the same
    gradients as without the evaluate in between; every module keeps its own mode."""
    x, y = _toy(24)
    model = LeNet5(num_classes=4, seed=0)
    model.train()
    model.layers[1].eval()                             # a mixed state survives too
    modes = [m.training for _, m in model.named_modules()]
    rng = np.random.default_rng(1)
    for p in model.parameters():
        p.grad = rng.standard_normal(p.data.shape).astype(p.data.dtype)
    grads = [p.grad.copy() for p in model.parameters()]
    params = [p.data.copy() for p in model.parameters()]
    _, dlogits = loss_and_grad(model(x[:8]), y[:8])
    evaluate(model, x, y, batch_size=10)               # other inputs, other batch sizes
    assert [m.training for _, m in model.named_modules()] == modes
    assert all(np.array_equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert all(np.array_equal(p.data, d) for p, d in zip(model.parameters(), params))
    model.backward(dlogits)
    after_eval = [p.grad.copy() for p in model.parameters()]
    for p, g in zip(model.parameters(), grads):
        p.grad = g.copy()
    model(x[:8])
    model.backward(dlogits)
    assert all(np.array_equal(p.grad, a) for p, a in zip(model.parameters(), after_eval))


def test_forward_only_docstring_example_runs():
    import doctest
    import cnnbook.training as training
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for t in finder.find(training.forward_only, "forward_only", globs={"forward_only": forward_only}):
        runner.run(t)
    assert runner.failures == 0 and runner.tries == 4


def test_early_stopping_restores_the_best_epoch():
    x, y = _toy(64)
    xv, yv = _toy(32)
    model = LeNet5(num_classes=4, seed=0)
    h = fit(model, SGD(model.parameters(), lr=0.05, momentum=0.9), x, y, epochs=6,
            batch_size=16, validation=(xv, yv), restore_best=True, progress=False)
    assert h.best_epoch == int(np.argmax(h.val_acc))
    _, acc = evaluate(model, xv, yv)
    assert acc == pytest.approx(h.val_acc[h.best_epoch])
    model = LeNet5(num_classes=4, seed=0)
    h = fit(model, SGD(model.parameters(), lr=0.0), x, y, epochs=6, batch_size=16,
            validation=(xv, yv), patience=2, progress=False)   # lr 0: never improves after epoch 1
    assert len(h.val_acc) == 3 and h.best_epoch == 0
    with pytest.raises(ValueError, match="fit: patience=2.*pass validation"):
        fit(model, SGD(model.parameters(), lr=0.0), x, y, patience=2)


def test_augment_is_applied_to_training_batches_only():
    x, y = _toy(32)
    seen = []
    model = LeNet5(num_classes=4, seed=0)
    fit(model, SGD(model.parameters(), lr=0.01), x, y, batch_size=8, progress=False,
        augment=lambda b: seen.append(b.shape) or b[:, :, :, ::-1].copy(), validation=(x, y))
    assert seen == [(8, 1, 28, 28)] * 4
    with pytest.raises(TypeError, match="fit: augment must be a callable"):
        fit(model, SGD(model.parameters(), lr=0.01), x, y, augment="flip")


def test_progress_static_prints_one_summary_line(monkeypatch, capsys):
    x, y = _toy(32)
    model = LeNet5(num_classes=4, seed=0)
    monkeypatch.setenv("CNNBOOK_STATIC", "1")
    h = fit(model, SGD(model.parameters(), lr=0.01), x, y, epochs=2, batch_size=8,
            validation=(x, y), desc="tiny")
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1 and err == ""
    assert lines[0].startswith("tiny: 2 epochs, 8 steps, final train loss ")
    assert f"val acc {h.val_acc[-1]:.4f}" in lines[0] and lines[0].endswith(" s")


def test_progress_is_the_plain_iterable_in_the_book_build(monkeypatch):
    from cnnbook.training import progress
    items = range(3)
    monkeypatch.setenv("CNNBOOK_STATIC", "1")
    assert progress(items, desc="x") is items             # no widget on a static page
    monkeypatch.setenv("CNNBOOK_STATIC", "0")
    bar = progress(items, desc="x")
    assert bar is not items and list(bar) == [0, 1, 2]
