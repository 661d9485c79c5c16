"""The module record (attribute assignment registers parameters, sub-modules and buffers) and
what walks it: traversal, state_dict, train/eval, forward_only and the one-backward rule."""
import numpy as np
import pytest

import cnnbook as cb
from cnnbook import nn


def _small_resnet18(seed=0):
    return cb.models.resnet18(num_classes=4, rng=seed, dtype=np.float64, width=0.125,
                              small_input=True, in_channels=1)


def test_evaluate_between_forward_and_backward_leaves_resnet18_backward_alone():
    """training.forward_only restores every module's cache, including each block's last ReLU:
    evaluate() on another batch between a forward and its backward changes no gradient."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 8, 8))
    dout = rng.standard_normal((2, 4))
    x_eval, y_eval = rng.standard_normal((3, 1, 8, 8)), np.array([0, 1, 2])
    grads = []
    for with_evaluate in (False, True):
        model = _small_resnet18()
        model(x)
        if with_evaluate:
            cb.training.evaluate(model, x_eval, y_eval, batch_size=3)
        dx = model.backward(dout)
        grads.append([dx] + [p.grad.copy() for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ the record and its walks
class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1, rng=0)
        self.scale = nn.Parameter(np.ones(3, np.float32))
        self.register_buffer("steps", np.zeros((), np.int64))
        self.act = nn.ReLU()
        self.note = "not recorded"

    def forward(self, x):
        return self.act(self.conv(x)) * self.scale.data[:, None, None]


def test_assignment_registers_parameters_modules_and_buffers_in_order():
    b = _Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "conv.weight", "conv.bias"]
    assert list(b.state_dict()) == ["scale", "steps", "conv.weight", "conv.bias"]
    assert [n for n, _ in b.named_children()] == ["conv", "act"]
    assert b.children() == [b.conv, b.act]                    # modules only, as PyTorch
    assert [n for n, _ in b.named_modules()] == ["", "conv", "act"]
    assert [n for n, _ in b.named_buffers()] == ["steps"] and b.buffers()[0].shape == ()
    b.steps = np.array(5)                                     # a buffer assigns as an attribute
    assert int(b.state_dict()["steps"]) == 5
    b.conv = nn.Conv2d(2, 3, 1, bias=False)                   # replacing keeps the place
    assert list(b.state_dict()) == ["scale", "steps", "conv.weight"]
    with pytest.raises(TypeError, match="scale is a Parameter"):
        b.scale = np.ones(3)
    del b.act
    assert [n for n, _ in b.named_children()] == ["conv"]
    seen = []
    b.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Conv2d", "_Block"]
    b.eval()
    assert not b.training and not b.conv.training
    b.requires_grad_(False)
    assert not any(p.requires_grad for p in b.parameters())


def test_layers_declare_only_forward_backward_and_init():
    """No layer overrides the walks: they all come from Module's record."""
    walks = {"children", "named_children", "named_parameters", "parameters", "state_dict",
             "load_state_dict", "train", "named_modules", "_own_parameters", "_own_buffers"}
    classes = [v for v in vars(nn).values() if isinstance(v, type) and issubclass(v, nn.Module)]
    classes += [cb.models.BasicBlock, cb.models.Bottleneck, cb.models.DenseLayer,
                cb.models.Inception]
    for cls in classes:
        if cls is not nn.Module:
            assert not walks & set(vars(cls)), cls.__name__


def test_load_state_dict_returns_missing_and_unexpected_keys():
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    sd = m.state_dict()
    assert m.load_state_dict(sd) == nn.IncompatibleKeys([], [])
    sd.pop("2.bias")
    sd["head.weight"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['2.bias'\], unexpected \['head.weight'\]"):
        m.load_state_dict(sd)
    keys = m.load_state_dict(sd, strict=False)
    assert keys.missing_keys == ["2.bias"] and keys.unexpected_keys == ["head.weight"]


def test_module_list_and_dict_register_their_items():
    torch = pytest.importorskip("torch")
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)]).append(nn.ReLU())
    md = nn.ModuleDict({"enc": nn.Linear(2, 4), "dec": nn.Linear(4, 2)})
    assert len(ml) == 3 and isinstance(ml[2], nn.ReLU) and len(ml[:2]) == 2
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert "enc" in md and md["dec"].out_features == 2 and md.keys() == ["enc", "dec"]
    assert list(ml.to_torch().state_dict()) == list(ml.state_dict())
    assert isinstance(md.to_torch(), torch.nn.ModuleDict)


def test_second_backward_and_backward_before_forward_raise():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(RuntimeError, match="Linear.backward: no forward pass"):
        model.backward(np.ones((1, 2), np.float32))
    out = model(np.ones((1, 1, 4, 4), np.float32))
    model.backward(np.ones_like(out))
    grads = [p.grad.copy() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="Linear.backward: trying to backward through the "
                                           "same forward pass a second time"):
        model.backward(np.ones_like(out))
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_array_equal(g, p.grad)              # nothing added twice
    import copy
    with pytest.raises(RuntimeError, match="a second time"):      # a copy keeps the state
        copy.deepcopy(model).backward(np.ones_like(out))
    block = _small_resnet18().layer1[0]
    x = np.random.default_rng(0).standard_normal((1, 8, 4, 4))
    block.backward(np.ones_like(block(x)))
    with pytest.raises(RuntimeError, match="BasicBlock.backward: trying to backward"):
        block.backward(np.ones((1, 8, 4, 4)))


def test_resnet_blocks_are_named_by_their_attributes():
    model = cb.models.resnet50(init="zeros", width=0.125)
    block = model.layer1[0]
    assert [n for n, _ in block.named_children()] == ["conv1", "bn1", "conv2", "bn2", "conv3",
                                                      "bn3", "relu", "downsample"]
    assert list(block.state_dict())[:2] == ["conv1.weight", "bn1.weight"]
    assert list(model.layer1[1].state_dict())[-1] == "bn3.num_batches_tracked"
    assert model.layer1[1].downsample is None


def test_twin_carries_requires_grad_and_modes():
    pytest.importorskip("torch")
    model = cb.nn.LeNet5()
    model[:6].requires_grad_(False)
    model[9].eval()
    twin = model.to_torch()
    assert [p.requires_grad for p in twin.parameters()] == [p.requires_grad
                                                           for p in model.parameters()]
    assert sum(not p.requires_grad for p in twin.parameters()) == 4
    assert twin.training and not twin[9].training and twin[8].training
    assert cb.nn.torch_twin(model).state_dict().keys() == twin.state_dict().keys()


def test_count_parameters_trainable_only():
    model = cb.nn.LeNet5()
    assert cb.arithmetic.count_parameters(model) == 61_706
    model[:6].requires_grad_(False)
    frozen = 6 * 25 + 6 + 16 * 6 * 25 + 16
    assert cb.arithmetic.count_parameters(model) == 61_706              # frozen ones count
    assert cb.arithmetic.count_parameters(model, trainable_only=True) == 61_706 - frozen
    pytest.importorskip("torch")
    assert cb.arithmetic.count_parameters(model.to_torch(), trainable_only=True) == 61_706 - frozen
    with pytest.raises(TypeError, match="trainable_only must be True or False"):
        cb.arithmetic.count_parameters(model, trainable_only="yes")


@pytest.mark.parametrize("name,kw", [("resnet18", {}), ("googlenet", {}),
                                     ("densenet121", dict(block_config=(2, 2, 2, 2)))])
def test_summary_of_branching_models_and_of_their_twins(name, kw):
    pytest.importorskip("torch")
    model = cb.models.MODELS[name](num_classes=10, rng=0, width=0.125, **kw)
    shape = (1, 3, 64, 64)
    ours = cb.arithmetic.summary(model, shape)
    theirs = cb.arithmetic.summary(model.to_torch(), shape)
    assert ours.rows[-1].output_shape == theirs.rows[-1].output_shape == (1, 10)
    assert ours.total_params == theirs.total_params == cb.arithmetic.count_parameters(model)
    assert ours.total_macs == theirs.total_macs > 0


def test_summary_of_padding_same_and_padding_modes():
    model = nn.Sequential(nn.Conv2d(1, 2, 4, padding="same", padding_mode="reflect"),
                          nn.Conv2d(2, 3, 3, padding="valid"), nn.Flatten())
    rows = cb.arithmetic.summary(model, (1, 1, 9, 8)).rows
    out = model(np.zeros((1, 1, 9, 8), np.float32))
    assert [r.output_shape for r in rows] == [(1, 2, 9, 8), (1, 3, 7, 6), out.shape]
    assert rows[0].macs == 9 * 8 * 2 * 16
