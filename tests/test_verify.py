"""`python -m cnnbook.verify`: every layer passes, and a wrong gradient is caught."""
import numpy as np
import pytest

pytest.importorskip("torch")

from cnnbook import verify  # noqa: E402

LAYERS = {"conv2d", "conv1d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "lp_pool2d",
          "adaptive_avg_pool2d", "global_avg_pool2d", "roi_pool", "relu", "leaky_relu", "sigmoid",
          "tanh", "softplus", "linear", "flatten", "softmax", "log_softmax", "cross_entropy",
          "binary_cross_entropy_with_logits", "mse_loss", "batch_norm2d", "dropout", "LeNet5",
          "local_response_norm", "resnet18", "vgg11", "alexnet", "googlenet", "densenet121",
          "gelu", "silu", "layer_norm", "group_norm", "batch_norm1d", "interpolate", "pad",
          "Conv2d", "BatchNorm2d", "GELU", "SiLU", "LayerNorm", "GroupNorm", "BatchNorm1d",
          "Upsample"}
LAYERS |= {"dice_loss", "unet"}                       # segmentation (cnnbook/unet.py)
LAYERS |= {"sigmoid_focal_loss"}                      # detection (cnnbook/detection.py)
LAYERS |= {"relu6", "stochastic_depth", "SqueezeExcitation", "LayerNorm2d", "ReLU6",
           "StochasticDepth", "mobilenet_v2", "efficientnet_b0", "convnext_tiny",
           "scaled_dot_product_attention", "MultiheadAttention", "vit_b_16"}
LAYERS |= {"distillation_loss"}                      # compression (cnnbook/distill.py)


def test_verify_main_passes_and_writes_markdown(tmp_path, capsys):
    report = tmp_path / "verify.md"
    assert verify.main(["--markdown", str(report), "--device", "cpu"]) == 0
    text = report.read_text()
    assert text in capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| layer |")]
    assert {r.split(" | ")[0][2:] for r in rows} == LAYERS
    assert all(r.endswith("| pass |") for r in rows)
    assert {"float64", "float32"} <= {r.split(" | ")[4] for r in rows}
    models = [r for r in rows if r.split(" | ")[0][2:] in {"resnet18", "googlenet", "densenet121"}]
    assert len(models) == 3 and all(r.split(" | ")[4] == "float64" for r in models)


def test_verify_reports_a_wrong_gradient(monkeypatch, capsys):
    real = verify.cases

    def broken(device="cpu", dtype=np.float64):
        c = [c for c in real(device, dtype) if c.layer == "linear"][0]
        wrong = lambda dout, cache: tuple(1.001 * g for g in c.backward(dout, cache))
        return [c._replace(backward=wrong)]
    monkeypatch.setattr(verify, "cases", broken)
    assert verify.main(["--device", "cpu", "--dtype", "float64"]) == 1
    assert "**FAIL**" in capsys.readouterr().out


def test_compare_model_passes_a_whole_network_and_catches_a_wrong_gradient():
    from cnnbook import models
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8))
    build = lambda: models.resnet18(10, width=0.125, small_input=True, rng=0, dtype=np.float64)  # noqa: E731
    good = verify.compare_model(build(), x)
    assert good.passed and good.grad_names[0] == "dx" and len(good.grad_errs) == 63
    assert good.out_err < 1e-12
    broken = build()
    fc = broken.fc
    real = fc.backward

    def backward(dout, input_grad=True):                   # a fault in one layer's backward
        dx = real(dout, input_grad)
        fc.weight.grad *= 1.01
        return dx
    fc.backward = backward
    bad = verify.compare_model(broken, x)
    assert not bad.passed
    worst = bad.grad_names[int(np.argmax(bad.grad_errs))]
    assert worst == "dfc.weight"
