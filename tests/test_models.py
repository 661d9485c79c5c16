"""cnnbook.models against hand-written PyTorch twins that use torchvision's module names.

torchvision cannot be imported beside this CPU torch, so each twin below is written after
torchvision/models/{alexnet,vgg,googlenet,resnet,densenet}.py. Full-size models are compared by
state_dict keys, shapes and order (the twin built on the meta device, so it costs no memory);
small inputs and, for VGG and AlexNet, a width multiplier keep the float64 runs short.
"""
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

from conftest import randomize_batch_norms, twin_step_errors  # noqa: E402

from cnnbook import models as M  # noqa: E402
from cnnbook import nn  # noqa: E402
from cnnbook.arithmetic import count_parameters  # noqa: E402


def _c(n, width):
    return max(1, int(round(n * width)))


# ------------------------------------------------------------------------- the twins
class TAlexNet(tnn.Module):
    def __init__(self, num_classes=1000, width=1.0, in_channels=3, dropout=0.5):
        super().__init__()
        c = lambda n: _c(n, width)
        self.features = tnn.Sequential(
            tnn.Conv2d(in_channels, c(64), 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(c(64), c(192), 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(c(192), c(384), 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(c(384), c(256), 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(c(256), c(256), 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(
            tnn.Dropout(dropout), tnn.Linear(c(256) * 36, c(4096)), tnn.ReLU(),
            tnn.Dropout(dropout), tnn.Linear(c(4096), c(4096)), tnn.ReLU(),
            tnn.Linear(c(4096), num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


_CFG = {"vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
        "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                  512, 512, 512, "M"]}


class TVGG(tnn.Module):
    def __init__(self, cfg, num_classes=1000, width=1.0, in_channels=3, dropout=0.5):
        super().__init__()
        layers, cin = [], in_channels
        for v in _CFG[cfg]:
            if v == "M":
                layers.append(tnn.MaxPool2d(2, 2))
            else:
                layers += [tnn.Conv2d(cin, _c(v, width), 3, padding=1), tnn.ReLU(True)]
                cin = _c(v, width)
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
        h = _c(4096, width)
        self.classifier = tnn.Sequential(
            tnn.Linear(cin * 49, h), tnn.ReLU(True), tnn.Dropout(dropout),
            tnn.Linear(h, h), tnn.ReLU(True), tnn.Dropout(dropout), tnn.Linear(h, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TBasicConv2d(tnn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return TF.relu(self.bn(self.conv(x)))


class TInception(tnn.Module):
    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, width=1.0):
        super().__init__()
        cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = (
            _c(v, width) for v in (cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj))
        self.branch1 = TBasicConv2d(cin, ch1x1, kernel_size=1)
        self.branch2 = tnn.Sequential(TBasicConv2d(cin, ch3x3red, kernel_size=1),
                                      TBasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(TBasicConv2d(cin, ch5x5red, kernel_size=1),
                                      TBasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                      TBasicConv2d(cin, pool_proj, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TGoogLeNet(tnn.Module):
    def __init__(self, num_classes=1000, dropout=0.2, width=1.0):
        super().__init__()
        c = lambda n: _c(n, width)
        TInception = lambda *a: globals()["TInception"](*a, width=width)  # noqa: N806
        self.conv1 = TBasicConv2d(3, c(64), kernel_size=7, stride=2, padding=3)
        self.maxpool1 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = TBasicConv2d(c(64), c(64), kernel_size=1)
        self.conv3 = TBasicConv2d(c(64), c(192), kernel_size=3, padding=1)
        self.maxpool2 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = TInception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = TInception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = TInception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = TInception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = TInception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = TInception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = TInception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = tnn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = TInception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = TInception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = None            # aux_logits=False
        self.aux2 = None
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.dropout = tnn.Dropout(dropout)
        self.fc = tnn.Linear(c(384) + c(384) + c(128) + c(128), num_classes)

    def forward(self, x):
        for name in ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a",
                     "inception3b", "maxpool3", "inception4a", "inception4b", "inception4c",
                     "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b",
                     "avgpool"]:
            x = getattr(self, name)(x)
        return self.fc(self.dropout(torch.flatten(x, 1)))


class TBasicBlock(tnn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class TResNet(tnn.Module):
    def __init__(self, block, layers, num_classes=1000, width=1.0, in_channels=3,
                 small_input=False):
        super().__init__()
        self.inplanes = _c(64, width)
        if small_input:
            self.conv1 = tnn.Conv2d(in_channels, self.inplanes, 3, 1, 1, bias=False)
        else:
            self.conv1 = tnn.Conv2d(in_channels, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(self.inplanes)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.Identity() if small_input else tnn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, _c(64, width), layers[0])
        self.layer2 = self._make_layer(block, _c(128, width), layers[1], 2)
        self.layer3 = self._make_layer(block, _c(256, width), layers[2], 2)
        self.layer4 = self._make_layer(block, _c(512, width), layers[3], 2)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(_c(512, width) * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = tnn.Sequential(
                tnn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                tnn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return tnn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TDenseLayer(tnn.Module):
    def __init__(self, cin, growth_rate, bn_size):
        super().__init__()
        self.norm1 = tnn.BatchNorm2d(cin)
        self.relu1 = tnn.ReLU(inplace=True)
        self.conv1 = tnn.Conv2d(cin, bn_size * growth_rate, 1, bias=False)
        self.norm2 = tnn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, features):                 # a list of earlier feature maps
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class TDenseBlock(tnn.ModuleDict):
    def __init__(self, num_layers, cin, bn_size, growth_rate):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", TDenseLayer(cin + i * growth_rate, growth_rate,
                                                              bn_size))

    def forward(self, init):
        features = [init]
        for _, layer in self.items():
            features.append(layer(features))
        return torch.cat(features, 1)


class TTransition(tnn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm = tnn.BatchNorm2d(cin)
        self.relu = tnn.ReLU(inplace=True)
        self.conv = tnn.Conv2d(cin, cout, 1, bias=False)
        self.pool = tnn.AvgPool2d(2, 2)


class TDenseNet(tnn.Module):
    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, num_classes=1000):
        super().__init__()
        self.features = tnn.Sequential(OrderedDict([
            ("conv0", tnn.Conv2d(3, num_init_features, 7, 2, 3, bias=False)),
            ("norm0", tnn.BatchNorm2d(num_init_features)), ("relu0", tnn.ReLU(inplace=True)),
            ("pool0", tnn.MaxPool2d(3, 2, 1))]))
        nf = num_init_features
        for i, n in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", TDenseBlock(n, nf, bn_size, growth_rate))
            nf += n * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", TTransition(nf, nf // 2))
                nf //= 2
        self.features.add_module("norm5", tnn.BatchNorm2d(nf))
        self.classifier = tnn.Linear(nf, num_classes)

    def forward(self, x):
        out = TF.adaptive_avg_pool2d(TF.relu(self.features(x)), (1, 1))
        return self.classifier(torch.flatten(out, 1))


FULL = {   # name -> (ours, twin on the meta device, torchvision's parameter count)
    "alexnet": (M.alexnet, lambda: TAlexNet(), 61_100_840),
    "vgg11": (M.vgg11, lambda: TVGG("vgg11"), 132_863_336),
    "vgg16": (M.vgg16, lambda: TVGG("vgg16"), 138_357_544),
    "googlenet": (M.googlenet, lambda: TGoogLeNet(), 6_624_904),
    "resnet18": (M.resnet18, lambda: TResNet(TBasicBlock, [2, 2, 2, 2]), 11_689_512),
    "resnet34": (M.resnet34, lambda: TResNet(TBasicBlock, [3, 4, 6, 3]), 21_797_672),
    "resnet50": (M.resnet50, lambda: TResNet(TBottleneck, [3, 4, 6, 3]), 25_557_032),
    "densenet121": (M.densenet121, lambda: TDenseNet(), 7_978_856),
}


@pytest.mark.parametrize("name", list(FULL))
def test_state_dict_keys_shapes_order_and_count_are_torchvisions(name):
    ours_fn, twin_fn, count = FULL[name]
    ours = ours_fn(init="zeros")                 # shapes only: the OS never touches the arrays
    with torch.device("meta"):
        twin = twin_fn()
    mine = [(k, np.shape(getattr(m, a).data if is_param else getattr(m, a)))
            for k, m, a, is_param in ours._state_entries()]   # state_dict() without the copies
    theirs = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    assert mine == theirs
    assert count_parameters(ours) == count == sum(p.numel() for p in twin.parameters())
    assert ours.parameters()[0].data.dtype == np.float32


def test_other_parameter_counts():
    assert count_parameters(M.lenet5()) == 61_706
    assert count_parameters(M.alexnet(variant="paper", init="zeros")) == 60_965_224   # 2 GPUs
    assert count_parameters(M.nin(init="zeros")) == 7_439_608
    assert count_parameters(M.zfnet(init="zeros")) == 62_357_608
    zero = M.resnet18(init="zeros")
    assert not any(np.any(p.data) for _, m in zero.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))
                   for p in m.parameters())
    assert np.all(zero.state_dict()["bn1.weight"] == 1)          # BN starts at 1 either way


# ------------------------------------------------------------------------- whole-model agreement
def _randomize(model, seed=0):
    """BN scales, shifts and running statistics away from 1/0, so that every path is tested."""
    return randomize_batch_norms(model, np.random.default_rng(seed))


def _rel(a, b):
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


def compare_whole(model, twin, x, train, seed=1):
    """Logits, input gradient, every parameter gradient and every buffer after the step:
    largest relative error (max |ours - torch| / max |torch|) of each."""
    model.astype(np.float64)
    _randomize(model)
    errs, twin = twin_step_errors(model, twin, x, train, _rel, seed)
    tsd = twin.state_dict()
    for name, v in model.state_dict().items():
        if "running" in name or "num_batches" in name:
            errs[name] = _rel(v, tsd[name].numpy()) if "running" in name else \
                float(v != tsd[name].item())
    return errs


WORST = {}


def _check(name, errs, tol=1e-9):
    worst = max(errs, key=errs.get)
    WORST[name] = (worst, errs[worst])
    print(f"{name}: worst {worst} = {errs[worst]:.1e}")
    assert errs[worst] < tol, f"{name}: worst {worst} = {errs[worst]:.2e}"


# Full width in eval mode at the smallest input each network takes; in training mode (batch
# statistics) a narrower copy of the same structure at a size where no BatchNorm sees a
# single value per channel, which would pass no gradient.
@pytest.mark.parametrize("train", [True, False], ids=["train-width0.25", "eval-full"])
def test_resnet18_matches_twin(train):
    width, size = (0.25, 64) if train else (1.0, 32)
    x = np.random.default_rng(0).standard_normal((2, 3, size, size))
    errs = compare_whole(M.resnet18(num_classes=10, width=width),
                         TResNet(TBasicBlock, [2, 2, 2, 2], 10, width=width), x, train)
    _check(f"resnet18-{train}", errs)
    assert len([k for k in errs if k.startswith("d")]) == 62 + 1    # 62 parameters and dx


def test_resnet18_small_input_grayscale_width_matches_twin():
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28))
    model = M.resnet18(num_classes=10, in_channels=1, width=0.125, small_input=True)
    twin = TResNet(TBasicBlock, [2, 2, 2, 2], 10, width=0.125, in_channels=1, small_input=True)
    _check("resnet18-small", compare_whole(model, twin, x, True))


def test_resnet50_bottleneck_matches_twin():
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    model = M.resnet50(num_classes=10, width=0.125, small_input=True)
    twin = TResNet(TBottleneck, [3, 4, 6, 3], 10, width=0.125, small_input=True)
    _check("resnet50-small", compare_whole(model, twin, x, True))


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_vgg11_matches_twin(train):
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    kw = dict(width=0.125, dropout=0.0 if train else 0.5)
    errs = compare_whole(M.vgg11(num_classes=10, **kw), TVGG("vgg11", 10, **kw), x, train)
    _check(f"vgg11-{train}", errs)


def test_alexnet_matches_twin():
    x = np.random.default_rng(0).standard_normal((2, 3, 67, 67))
    kw = dict(width=0.125, dropout=0.0)
    _check("alexnet", compare_whole(M.alexnet(num_classes=10, **kw), TAlexNet(10, **kw), x, True))


@pytest.mark.parametrize("train", [True, False], ids=["train-width0.25", "eval-full"])
def test_googlenet_matches_twin(train):
    width, size = (0.25, 96) if train else (1.0, 32)
    x = np.random.default_rng(0).standard_normal((2, 3, size, size))
    p = 0.0 if train else 0.2
    errs = compare_whole(M.googlenet(num_classes=10, dropout=p, width=width),
                         TGoogLeNet(10, dropout=p, width=width), x, train)
    _check(f"googlenet-{train}", errs)


@pytest.mark.slow
@pytest.mark.parametrize("train", [True, False], ids=["train-width0.25", "eval-full"])
def test_densenet121_matches_twin(train):
    width, size = (0.25, 64) if train else (1.0, 32)
    x = np.random.default_rng(0).standard_normal((2, 3, size, size))
    errs = compare_whole(M.densenet121(num_classes=10, width=width),
                         TDenseNet(num_classes=10, growth_rate=_c(32, width),
                                   num_init_features=_c(64, width)), x, train)
    _check(f"densenet121-{train}", errs)


@pytest.mark.parametrize("name", ["zfnet", "nin", "alexnet-paper"])
def test_sequential_models_match_their_torch_sequential(name):
    """ZF Net, NiN and the two-GPU AlexNet are plain Sequentials: to_torch() builds the twin."""
    fn = {"zfnet": M.zfnet, "nin": M.nin,
          "alexnet-paper": lambda **k: M.alexnet(variant="paper", **k)}[name]
    model = fn(num_classes=10, width=0.125, dropout=0.0)
    x = np.random.default_rng(0).standard_normal((2, 3, 99, 99))
    model.astype(np.float64)
    twin = model.to_torch()
    _check(name, compare_whole(model, twin, x, True))


def test_options_and_errors():
    with pytest.raises(TypeError, match=r"resnet18: unknown option\(s\) \['widht'\]"):
        M.resnet18(widht=0.5)
    with pytest.raises(ValueError, match="width multiplies"):
        M.vgg11(width=0)
    with pytest.raises(ValueError, match="num_classes"):
        M.googlenet(num_classes=0)
    with pytest.raises(TypeError, match="vgg11: width must be a real number, got width='0.5'"):
        M.vgg11(width="0.5")
    with pytest.raises(TypeError, match="alexnet: dropout must be a real number"):
        M.alexnet(dropout="0.5")
    with pytest.raises(TypeError, match="dropout must be a real number, got dropout=None"):
        M.vgg11(dropout=None)
    with pytest.raises(ValueError, match=r"alexnet: dropout must lie in \[0, 1\), got dropout=1"):
        M.alexnet(dropout=1)
    with pytest.raises(ValueError, match="variant"):
        M.alexnet(variant="2012")
    m = M.resnet18(num_classes=7, in_channels=1, small_input=True, width=0.25, rng=3)
    same = M.resnet18(num_classes=7, in_channels=1, small_input=True, width=0.25, rng=3)
    for (k, a), b in zip(m.state_dict().items(), same.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)       # a seed gives the same weights
    assert m(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 7)
    zero = M.resnet18(num_classes=3, width=0.125, zero_init_residual=True)
    assert not np.any(zero.state_dict()["layer1.0.bn2.weight"])


def test_architecture_figure_is_drawn_from_the_model():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    import cnnbook.plot as P
    model = M.alexnet(variant="paper", init="zeros")
    fig = P.architecture(model, (1, 3, 224, 224), two_streams=True, title="AlexNet")
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == 1 + 2 * (5 + 3)                 # the input, two halves of 5 convs + 3 fc
    texts = [t.get_text() for t in ax.texts]
    assert "48+48\n@55x55" in texts and "192+192\n@13x13" in texts
    crossing = [a for a in ax.texts if getattr(a, "arrow_patch", None) is not None]
    assert len(crossing) == 2 + 2 + 4 + 2 + 2 + 4 + 4 + 4   # conv3 and the fc layers cross
    plt.close(fig)
