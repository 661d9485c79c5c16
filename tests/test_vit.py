"""cnnbook.models.vit_b_16 against a hand-written PyTorch twin with torchvision's module names
(torchvision cannot be imported beside this CPU torch): the full model's state_dict keys,
shapes, order and parameter count (the twin built on the meta device), its multiply-adds, and a
small copy in float64, train and eval: logits, input gradient, every parameter gradient."""
import math
from collections import OrderedDict
from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn as tnn  # noqa: E402

from conftest import twin_step_errors  # noqa: E402

import cnnbook as cb  # noqa: E402
from cnnbook.arithmetic import count_flops, count_parameters  # noqa: E402


# ------------------------------------------------------------------ the twin, as torchvision
class MLPBlock(tnn.Sequential):
    def __init__(self, in_dim, mlp_dim, dropout):
        super().__init__(tnn.Linear(in_dim, mlp_dim), tnn.GELU(), tnn.Dropout(dropout),
                         tnn.Linear(mlp_dim, in_dim), tnn.Dropout(dropout))


class EncoderBlock(tnn.Module):
    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, norm_layer):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = norm_layer(hidden_dim)
        self.self_attention = tnn.MultiheadAttention(hidden_dim, num_heads,
                                                     dropout=attention_dropout, batch_first=True)
        self.dropout = tnn.Dropout(dropout)
        self.ln_2 = norm_layer(hidden_dim)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, input):
        x = self.ln_1(input)
        x, _ = self.self_attention(query=x, key=x, value=x, need_weights=False)
        x = self.dropout(x)
        x = x + input
        y = self.ln_2(x)
        y = self.mlp(y)
        return x + y


class Encoder(tnn.Module):
    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                 attention_dropout, norm_layer):
        super().__init__()
        self.pos_embedding = tnn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.dropout = tnn.Dropout(dropout)
        layers = OrderedDict()
        for i in range(num_layers):
            layers[f"encoder_layer_{i}"] = EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout,
                                                        attention_dropout, norm_layer)
        self.layers = tnn.Sequential(layers)
        self.ln = norm_layer(hidden_dim)

    def forward(self, input):
        input = input + self.pos_embedding
        return self.ln(self.layers(self.dropout(input)))


class VisionTransformer(tnn.Module):
    def __init__(self, image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim,
                 dropout=0.0, attention_dropout=0.0, num_classes=1000, in_channels=3,
                 norm_layer=partial(tnn.LayerNorm, eps=1e-6)):
        super().__init__()
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = tnn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size,
                                    stride=patch_size)
        seq_length = (image_size // patch_size) ** 2
        self.class_token = tnn.Parameter(torch.zeros(1, 1, hidden_dim))
        seq_length += 1
        self.encoder = Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                               attention_dropout, norm_layer)
        self.heads = tnn.Sequential(OrderedDict(head=tnn.Linear(hidden_dim, num_classes)))

    def _process_input(self, x):
        n, c, h, w = x.shape
        p = self.patch_size
        n_h, n_w = h // p, w // p
        x = self.conv_proj(x)
        x = x.reshape(n, self.hidden_dim, n_h * n_w)
        return x.permute(0, 2, 1)

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        batch_class_token = self.class_token.expand(n, -1, -1)
        x = torch.cat([batch_class_token, x], dim=1)
        x = self.encoder(x)
        x = x[:, 0]
        return self.heads(x)


B16 = dict(image_size=224, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768,
           mlp_dim=3072)
SMALL = dict(image_size=12, patch_size=4, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=12,
             in_channels=2)


def test_vit_b_16_keys_shapes_order_count_and_flops():
    ours = cb.models.vit_b_16(init="zeros")
    with torch.device("meta"):
        twin = VisionTransformer(**B16)
    theirs = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == theirs
    assert count_parameters(ours) == 86_567_656 == sum(p.numel() for p in twin.parameters())
    macs = count_flops(ours, (1, 3, 224, 224)).macs
    # by hand: patch embedding, then per block qkv, q k^T, weights @ v, out_proj and the MLP
    L, D = 197, 768
    block = L * 3 * D * D + 2 * L * L * D + L * D * D + 2 * L * D * 3072
    assert macs == 196 * D * 3 * 16 * 16 + 12 * block + D * 1000
    assert round(macs / 1e9, 1) == 17.6                       # torchvision's "_ops": 17.6
    s = cb.arithmetic.summary(ours, (1, 3, 224, 224))
    assert s.total_params == 86_567_656 and s.total_macs == macs
    assert s.rows[-1].output_shape == (1, 1000)


def _compare(model, twin, x, train, seed=1):
    model.astype(np.float64)
    rng = np.random.default_rng(7)
    for p in model.parameters():                # away from the zero head and unit LayerNorms
        p.data[:] = rng.standard_normal(p.shape) * 0.5
    rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())        # noqa: E731
    errs, twin = twin_step_errors(model, twin, x, train, rel, seed)
    assert list(dict(twin.named_parameters())) == [n for n, _ in model.named_parameters()]
    return errs


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_small_vit_matches_hand_written_twin(train):
    model = cb.models.vit_b_16(10, rng=0, **SMALL)
    twin = VisionTransformer(num_classes=10, **SMALL)
    x = np.random.default_rng(0).standard_normal((3, 2, 12, 12))
    errs = _compare(model, twin, x, train)
    worst = max(errs, key=errs.get)
    assert errs[worst] <= 1e-10, (worst, errs[worst])
    assert len(errs) == 2 + len(model.parameters())


def test_to_torch_twin_and_verify_case():
    model = cb.models.vit_b_16(10, rng=0, dtype=np.float64, **SMALL)
    x = np.random.default_rng(0).standard_normal((2, 2, 12, 12))
    c = cb.verify.compare_model(model, x)
    assert c.passed and c.out_err <= 1e-12 and max(c.grad_errs) <= 1e-12


def test_initialisation_is_torchvisions():
    m = cb.models.vit_b_16(10, rng=0, image_size=32, patch_size=8, num_layers=1, num_heads=4,
                           hidden_dim=256, mlp_dim=512)
    assert not m.class_token.data.any() and not m.heads.head.weight.data.any()
    assert abs(m.encoder.pos_embedding.data.std() - 0.02) < 0.002
    assert abs(m.conv_proj.weight.data.std() - math.sqrt(1 / (3 * 64))) < 0.005
    assert not m.conv_proj.bias.data.any()
    mlp = m.encoder.layers.encoder_layer_0.mlp
    bound = math.sqrt(6 / (256 + 512))
    assert 0.9 * bound < np.abs(mlp[0].weight.data).max() <= bound
    assert 0 < np.abs(mlp[0].bias.data).max() < 1e-5
    assert m.encoder.ln.eps == 1e-6


def test_attention_maps_and_patch_embedding_is_a_convolution():
    m = cb.models.vit_b_16(10, rng=0, **SMALL).eval()
    x = np.random.default_rng(1).random((2, 2, 12, 12)).astype(np.float32)
    maps = m.attention_maps(x)
    assert len(maps) == 2 and maps[0].shape == (2, 2, 10, 10)
    np.testing.assert_allclose(maps[0].sum(axis=-1), 1, rtol=1e-5)
    # the patch embedding: flatten each 4x4 patch (channel, row, column), multiply by the weight
    patches = x.reshape(2, 2, 3, 4, 3, 4).transpose(0, 2, 4, 1, 3, 5).reshape(2, 9, 32)
    w = m.conv_proj.weight.data.reshape(8, 32)
    tokens = patches @ w.T + m.conv_proj.bias.data
    conv = m.conv_proj(x).reshape(2, 8, 9).transpose(0, 2, 1)
    np.testing.assert_allclose(tokens, conv, rtol=1e-5, atol=1e-6)


def test_options_and_errors():
    with pytest.raises(TypeError, match="unknown option"):
        cb.models.vit_b_16(patch=16)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        cb.models.vit_b_16(init="zeros", image_size=30, patch_size=16)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        cb.models.vit_b_16(init="zeros", hidden_dim=100, num_heads=12, num_layers=1)
    m = cb.models.vit_b_16(10, rng=0, **SMALL)
    with pytest.raises(ValueError, match="expected 12x12 images"):
        m(np.zeros((1, 2, 16, 16), np.float32))
    with pytest.raises(ValueError, match="dropout"):
        cb.models.vit_b_16(init="zeros", dropout=1.5)
