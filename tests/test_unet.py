"""cb.models.unet against a hand-written PyTorch U-Net in float64: logits and every gradient, in
train and eval mode, with and without skip connections; its shapes and its errors."""
import numpy as np
import pytest

import cnnbook as cb
from cnnbook.unet import unet


def _torch_unet(torch, in_channels, num_classes, base, depth, skip):
    """The same network written directly in torch (Ronneberger et al. 2015, padded, with BN)."""
    nn = torch.nn

    def double(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class TorchUNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = [base * 2 ** i for i in range(depth + 1)]
            self.downs = nn.ModuleList([double(in_channels if i == 0 else w[i - 1], w[i])
                                        for i in range(depth)])
            self.bottleneck = double(w[depth - 1], w[depth])
            levels = range(depth - 1, -1, -1)
            self.ups = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2)
                                      for i in levels])
            self.decs = nn.ModuleList([double(w[i] * (2 if skip else 1), w[i]) for i in levels])
            self.head = nn.Conv2d(base, num_classes, 1)

        def forward(self, x):
            skips = []
            for enc in self.downs:
                x = enc(x)
                skips.append(x)
                x = torch.nn.functional.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for up, dec, s in zip(self.ups, self.decs, reversed(skips)):
                x = up(x)
                x = dec(torch.cat([s, x], dim=1) if skip else x)
            return self.head(x)

    return TorchUNet()


@pytest.mark.parametrize("skip", [True, False], ids=["skip", "noskip"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("depth,size", [(2, 8), (3, 16)], ids=["d2-8x8", "d3-16x24"])
def test_matches_hand_written_torch(skip, train, depth, size):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(depth + 2 * skip)
    ours = unet(in_channels=2, num_classes=5, base=3, depth=depth, skip=skip, rng=1,
                dtype=np.float64)
    for _ in range(2):                         # running statistics away from their start
        ours.train()(rng.standard_normal((3, 2, size, 24 if depth == 3 else size)))
    theirs = _torch_unet(torch, 2, 5, 3, depth, skip).double()
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())            # same names, same order
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
    ours.train(train)
    theirs.train(train)
    x = rng.standard_normal((2, 2, size, 24 if depth == 3 else size))
    out = ours(x)
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = theirs(xt)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    dx = ours.backward(dout)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)
    for name, b in ours.named_buffers():                     # running statistics moved alike
        np.testing.assert_allclose(b, theirs.state_dict()[name].numpy(), rtol=1e-12,
                                   err_msg=name)


def test_shapes_parameters_and_input_grad():
    m = cb.models.unet(base=4, depth=2, rng=0)
    x = np.random.default_rng(0).random((2, 1, 12, 8)).astype(np.float32)
    out = m(x)
    assert out.shape == (2, 11, 12, 8) and out.dtype == np.float32
    assert m.backward(np.ones_like(out), input_grad=False) is None
    n_skip = sum(p.data.size for p in m.parameters())
    n_plain = sum(p.data.size for p in cb.models.unet(base=4, depth=2, skip=False,
                                                       rng=0).parameters())
    # the skips double the input channels of each decoder level's first 3x3 convolution
    assert n_skip - n_plain == sum(9 * 4 * 2 ** i * 4 * 2 ** i for i in range(2))
    assert "skip=True" in repr(m)


def test_errors():
    m = unet(base=2, depth=3, rng=0)
    with pytest.raises(ValueError, match=r"multiples of 2\*\*depth = 8.*H=12, W=16.*16x16"):
        m(np.zeros((1, 1, 12, 16), np.float32))
    with pytest.raises(TypeError, match="skip"):
        unet(skip=1)
    with pytest.raises(ValueError, match="depth"):
        unet(depth=0)
    with pytest.raises(TypeError, match="base"):
        unet(base=2.5)


def test_fcn_matches_its_twin():
    pytest.importorskip("torch")
    from cnnbook.verify import compare_model
    m = cb.models.fcn(in_channels=1, num_classes=4, base=2, depth=2, rng=0, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((2, 1, 8, 12))
    assert m(x).shape == (2, 4, 8, 12)
    c = compare_model(m.train(), x)
    assert c.passed and c.out_err < 1e-12 and max(c.grad_errs) < 1e-12, c
    assert [k.split(".")[0] for k in m.state_dict()][:2] == ["down0", "down0"]


@pytest.mark.parametrize("make", ["unet", "fcn"])
def test_encoder_classifier_shares_and_transfers(make):
    build = getattr(cb.models, make)
    m = build(base=2, depth=2, rng=0, dtype=np.float64)
    clf = cb.models.encoder_classifier(m, 3, rng=1)
    x = np.random.default_rng(0).standard_normal((4, 1, 12, 12))
    assert clf(x).shape == (4, 3)
    enc = [k for k in clf.state_dict() if not k.startswith("fc.")]
    assert enc and all(k.split(".")[0] in ("down0", "down1", "bottleneck") for k in enc)
    # the layers are shared: one optimizer step on the classifier moves the model's encoder
    before = {k: v.copy() for k, v in m.state_dict().items()}
    opt = cb.optim.SGD(clf.parameters(), lr=0.1)
    cb.training.fit(clf, opt, x, np.array([0, 1, 2, 0]), epochs=1, batch_size=4,
                    progress=False)
    after = m.state_dict()
    moved = [k for k in before if not np.array_equal(before[k], after[k])]
    assert moved and all(("down" in k or "bottleneck" in k) for k in moved)
    # loading the classifier's state into a fresh model's classifier copies the encoder
    fresh = build(base=2, depth=2, rng=5, dtype=np.float64)
    cb.models.encoder_classifier(fresh, 3).load_state_dict(clf.state_dict())
    for k in moved:
        np.testing.assert_array_equal(fresh.state_dict()[k], after[k])


def test_encoder_classifier_errors():
    with pytest.raises(TypeError, match="encoder_classifier: model must be a UNet"):
        cb.models.encoder_classifier(cb.nn.Linear(3, 2))
    with pytest.raises(ValueError, match="num_classes"):
        cb.models.encoder_classifier(unet(base=2, depth=1, rng=0), 0)
