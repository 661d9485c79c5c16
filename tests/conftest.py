"""Shared test helpers: the device fixture and the single `assert_matches_torch`."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnbook.torchcompare import compare_with_torch  # noqa: E402

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                   reason="no CUDA GPU present")),
]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def assert_matches_torch(forward, backward, torch_fn, arrays, grad_of=None, names=None,
                         device="cpu", dtype=np.float64, seed=0, tol=None):
    """Compare our (forward, backward) pair with `torch_fn` under a random upstream gradient.

    Float64 on the CPU; on CUDA float64 too (TF32 is disabled either way). Fails with the
    largest error of the output and of each gradient.
    """
    c = compare_with_torch(forward, backward, torch_fn, arrays, grad_of=grad_of, names=names,
                           device=device, dtype=dtype, seed=seed, tol=tol)
    detail = ", ".join(f"{n}={e:.2e}" for n, e in zip(c.grad_names, c.grad_errs))
    assert c.passed, f"out={c.out_err:.2e}, {detail} (tol {c.tol:.0e})"
    return c


@pytest.fixture
def rng():
    return np.random.default_rng(0)
