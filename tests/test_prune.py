"""cnnbook.prune: the masks of torch.nn.utils.prune, kept through fine-tuning."""
import numpy as np
import pytest

import cnnbook as cb
import cnnbook.training  # noqa: F401
from cnnbook import prune

torch = pytest.importorskip("torch")
tprune = pytest.importorskip("torch.nn.utils.prune")


def _pair(rng, shape=(6, 3, 5, 5)):
    ours = cb.nn.Conv2d(shape[1], shape[0], shape[2], rng=int(rng.integers(1000)))
    theirs = torch.nn.Conv2d(shape[1], shape[0], shape[2])
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
    return ours, theirs


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.8, 0.9, 1.0, 0, 1, 37, 450],
                         ids=lambda a: f"{type(a).__name__}{a}")
def test_l1_unstructured_masks_are_torchs(amount):
    rng = np.random.default_rng(0)
    ours, theirs = _pair(rng)
    prune.l1_unstructured(ours, "weight", amount)
    tprune.l1_unstructured(theirs, "weight", amount)
    np.testing.assert_array_equal(ours.weight.mask, theirs.weight_mask.numpy().astype(bool))
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach().numpy())


def test_pruning_twice_prunes_the_survivors_as_torch():
    rng = np.random.default_rng(1)
    ours, theirs = _pair(rng)
    for amount in (0.5, 0.5, 20):
        prune.l1_unstructured(ours, "weight", amount)
        tprune.l1_unstructured(theirs, "weight", amount)
        np.testing.assert_array_equal(ours.weight.mask, theirs.weight_mask.numpy().astype(bool))
    assert (~ours.weight.mask).sum() == 225 + 112 + 20     # round(112.5) = 112, half to even


@pytest.mark.parametrize("amount", [0.2, 0.75, 1000])
def test_global_unstructured_masks_are_torchs(amount):
    model = cb.nn.LeNet5()
    twin = model.to_torch()
    layers = [0, 3, 7, 9, 11]
    prune.global_unstructured([(model[i], "weight") for i in layers], amount)
    tprune.global_unstructured([(twin[i], "weight") for i in layers],
                               pruning_method=tprune.L1Unstructured, amount=amount)
    for i in layers:
        np.testing.assert_array_equal(model[i].weight.mask,
                                      twin[i].weight_mask.numpy().astype(bool))
    per_layer = [1 - model[i].weight.mask.mean() for i in layers]
    assert max(per_layer) > min(per_layer)     # global ranking: layers lose different shares


def test_ties_prune_the_same_count_and_every_smaller_weight():
    rng = np.random.default_rng(2)
    for _ in range(20):
        n = int(rng.integers(5, 200))
        w = rng.integers(-3, 4, (1, n)).astype(np.float32)
        amount = float(rng.random())
        ours = cb.nn.Linear(n, 1, rng=0)
        ours.weight.data = w
        theirs = torch.nn.Linear(n, 1)
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(w))
        prune.l1_unstructured(ours, "weight", amount)
        tprune.l1_unstructured(theirs, "weight", amount)
        tm = theirs.weight_mask.numpy().astype(bool)
        assert (~ours.weight.mask).sum() == (~tm).sum() == round(amount * n)
        pruned = np.abs(w[~ours.weight.mask])
        if pruned.size:
            t = pruned.max()           # the threshold: below it both prune everything
            below = np.abs(w) < t
            assert not ours.weight.mask[below].any() and not tm[below].any()


def test_fine_tuning_keeps_the_mask_and_matches_torch():
    """Prune LeNet-5 in both libraries, take AdamW steps with weight decay in both: pruned
    weights stay exactly 0 and every weight agrees with torch's weight_orig * weight_mask."""
    rng = np.random.default_rng(3)
    model = cb.nn.LeNet5(dtype=np.float64)
    twin = model.to_torch().double()
    layers = [0, 3, 7, 9, 11]
    prune.global_unstructured([(model[i], "weight") for i in layers], 0.8)
    tprune.global_unstructured([(twin[i], "weight") for i in layers],
                               pruning_method=tprune.L1Unstructured, amount=0.8)
    opt = cb.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    topt = torch.optim.AdamW(twin.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(4):
        x = rng.random((16, 1, 28, 28))
        y = rng.integers(0, 10, 16)
        cb.training.train_step(model, opt, x, y)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)
                                          ).backward()
        topt.step()
    for i in layers:
        w = model[i].weight
        assert np.all(w.data[~w.mask] == 0) and np.all(w.grad[~w.mask] == 0)
        effective = (twin[i].weight_orig * twin[i].weight_mask).detach().numpy()
        np.testing.assert_allclose(w.data, effective, rtol=0, atol=1e-12)
    assert abs(prune.sparsity([model[i].weight for i in layers]) - 0.8) < 1e-3


def test_fit_and_sgd_momentum_respect_the_mask_and_remove_makes_it_permanent():
    rng = np.random.default_rng(4)
    model = cb.nn.LeNet5()
    prune.l1_unstructured(model[7], "weight", 0.9)
    opt = cb.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x = rng.random((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    cb.training.fit(model, opt, x, y, epochs=2, batch_size=16, progress=False)
    w = model[7].weight
    assert prune.is_pruned(model) and w.data.dtype == np.float32
    assert (w.data == 0).sum() == (~w.mask).sum() == round(0.9 * w.size)
    import copy
    clone = copy.deepcopy(model)
    assert np.array_equal(clone[7].weight.mask, w.mask) and clone[7].weight is not w
    prune.remove(model[7], "weight")
    assert not prune.is_pruned(model)
    assert (model[7].weight.data == 0).sum() == round(0.9 * w.size)


def test_bad_arguments():
    lin = cb.nn.Linear(4, 3, rng=0)
    with pytest.raises(ValueError, match=r"amount=1\.5 must lie in \[0, 1\]"):
        prune.l1_unstructured(lin, "weight", 1.5)
    with pytest.raises(ValueError, match=r"amount=-0\.1"):
        prune.l1_unstructured(lin, "weight", -0.1)
    with pytest.raises(ValueError, match=r"amount=13 weights to prune, but there are 12"):
        prune.l1_unstructured(lin, "weight", 13)
    with pytest.raises(TypeError, match="amount must be"):
        prune.l1_unstructured(lin, "weight", "half")
    with pytest.raises(ValueError, match="no parameter named 'kernel'"):
        prune.l1_unstructured(lin, "kernel", 0.5)
    with pytest.raises(ValueError, match="non-empty list"):
        prune.global_unstructured([], 0.5)
    with pytest.raises(ValueError, match="not pruned"):
        prune.remove(lin, "weight")
