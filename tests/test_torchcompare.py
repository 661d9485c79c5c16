"""cnnbook.torchcompare: the comparison leaves PyTorch's global precision switches as it found them."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

from cnnbook import conv as C  # noqa: E402
from cnnbook import torchcompare  # noqa: E402


@pytest.mark.parametrize("before", [True, False])
def test_compare_restores_tf32_switches(before, rng):
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32
    seen = []

    def torch_fn(x, w):
        seen.append((matmul.allow_tf32, cudnn.allow_tf32))
        return TF.conv2d(x, w, padding=1)

    try:
        matmul.allow_tf32 = cudnn.allow_tf32 = before
        x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
        c = torchcompare.compare_with_torch(
            lambda x, w: C.conv2d_forward(x, w, padding=1),
            lambda dout, cache: C.conv2d_backward(dout, cache)[:2], torch_fn, [x, w])
        assert c.passed
        assert seen == [(False, False)]                      # TF32 off while comparing
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (before, before)   # and restored after
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_compare_restores_tf32_switches_when_it_raises(rng):
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32

    def bad_forward(x):
        raise RuntimeError("boom")

    try:
        matmul.allow_tf32 = cudnn.allow_tf32 = True
        with pytest.raises(RuntimeError, match="boom"):
            torchcompare.compare_with_torch(bad_forward, None, None, [np.zeros(3)])
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (True, True)
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved
