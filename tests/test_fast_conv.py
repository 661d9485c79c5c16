"""conv2d's stride-1 input gradient in ``cnnbook.fast``: as a forward convolution (no more
output than input channels), equal to the reference (`col2im`) to rounding, and as `col2im` on
rows as wide as the padded input (more output channels), equal to it bit for bit; each taken
exactly where it applies, and switched off by ``cnnbook.fast.disabled()``."""
import numpy as np
import pytest

import cnnbook.conv as C
from cnnbook import fast

# (N, C_in, C_out, H, W, KH, KW, keyword arguments)
GRID = [
    (3, 4, 4, 9, 7, 3, 3, dict(padding=1)),
    (2, 5, 3, 8, 8, 3, 3, dict()),                                   # no padding
    (2, 4, 2, 10, 9, 5, 5, dict(padding=2)),
    (2, 3, 3, 9, 8, 4, 2, dict(padding="same")),                     # uneven 'same' padding
    (2, 4, 4, 11, 10, 3, 3, dict(padding=2, dilation=2)),
    (2, 3, 2, 8, 9, 3, 2, dict(padding=(1, 0), dilation=(1, 2))),
    (2, 4, 4, 7, 7, 3, 3, dict(padding=1, flip=True)),
    (2, 6, 6, 6, 6, 1, 1, dict()),                                   # 1x1
    (1, 2, 2, 5, 5, 5, 5, dict(padding=4)),                          # padding = the whole reach
]
IDS = ["p1", "p0", "k5", "same-even", "d2", "rect-d12", "flip", "1x1", "p4"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N, c_in, c_out, H, W, KH, KW, kw", GRID, ids=IDS)
def test_input_grad_by_conv_equals_reference(N, c_in, c_out, H, W, KH, KW, kw, dtype, rng):
    x = rng.standard_normal((N, c_in, H, W)).astype(dtype)
    w = rng.standard_normal((c_out, c_in, KH, KW)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    out, cache = C.conv2d_forward(x, w, b, **kw)
    assert fast.conv2d_input_grad_by_conv_applies(cache.w.shape, C._cache_window(cache), 1)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = C.conv2d_backward(dout, cache)
    with fast.disabled():
        ref_dx, ref_dw, ref_db = C.conv2d_backward(dout, cache)
    assert dx.dtype == dtype and dx.shape == x.shape and dx.flags.c_contiguous
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(dx, ref_dx, rtol=tol, atol=tol * np.abs(ref_dx).max())
    # small planes: dw as one product over the batch (fast.conv2d_weight_grad), to rounding
    np.testing.assert_allclose(dw, ref_dw, rtol=tol, atol=tol * np.abs(ref_dw).max())
    np.testing.assert_array_equal(db, ref_db)


@pytest.mark.parametrize("c_in, c_out, kw", [
    (4, 4, dict(stride=2, padding=1)),                  # stride 2
    (4, 4, dict(padding=1, groups=2)),                  # groups
    (2, 4, dict(padding=1)),                            # more output than input channels
    (4, 4, dict(padding=3)),                            # padding beyond the kernel's reach
], ids=["stride2", "groups", "c_out>c_in", "p3"])
def test_input_grad_by_conv_does_not_apply(c_in, c_out, kw, rng):
    x = rng.standard_normal((2, c_in, 8, 8))
    w = rng.standard_normal((c_out, c_in // kw.get("groups", 1), 3, 3))
    _, cache = C.conv2d_forward(x, w, **kw)
    g = C._cache_window(cache)
    assert not fast.conv2d_input_grad_by_conv_applies(cache.w.shape, g, cache.groups)


def test_input_grad_by_conv_off_when_disabled(rng):
    _, cache = C.conv2d_forward(rng.standard_normal((2, 3, 6, 6)),
                                rng.standard_normal((3, 3, 3, 3)), padding=1)
    g = C._cache_window(cache)
    assert fast.conv2d_input_grad_by_conv_applies(cache.w.shape, g, 1)
    with fast.disabled():
        assert not fast.conv2d_input_grad_by_conv_applies(cache.w.shape, g, 1)


def test_input_grad_by_conv_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((4, 4, 3, 3))
    out, cache = C.conv2d_forward(x, w, padding=1, dilation=(2, 1))
    dout = rng.standard_normal(out.shape)
    dx = C.conv2d_backward(dout, cache)[0]
    tx = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.conv2d(tx, torch.from_numpy(w), padding=1, dilation=(2, 1)).backward(
        torch.from_numpy(dout))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


# (N, C_in, C_out, H, W, KH, KW, keyword arguments): more output than input channels
WIDE_GRID = [
    (3, 6, 16, 14, 14, 5, 5, dict()),                                # LeNet-5's second layer
    (2, 3, 5, 9, 8, 3, 3, dict(padding=1)),
    (2, 2, 4, 10, 9, 4, 2, dict(padding="same")),
    (2, 2, 3, 11, 12, 3, 3, dict(padding=(2, 1), dilation=(2, 2))),
    (2, 3, 4, 8, 8, 3, 3, dict(padding=1, flip=True)),
    (2, 1, 6, 12, 12, 5, 5, dict(padding=2)),                        # LeNet-5's first layer
]
WIDE_IDS = ["lenet-c3", "p1", "same-even", "d2", "flip", "lenet-c1"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N, c_in, c_out, H, W, KH, KW, kw", WIDE_GRID, ids=WIDE_IDS)
def test_input_grad_wide_equals_reference(N, c_in, c_out, H, W, KH, KW, kw, dtype, rng):
    x = rng.standard_normal((N, c_in, H, W)).astype(dtype)
    w = rng.standard_normal((c_out, c_in, KH, KW)).astype(dtype)
    out, cache = C.conv2d_forward(x, w, **kw)
    g = C._cache_window(cache)
    assert not fast.conv2d_input_grad_by_conv_applies(cache.w.shape, g, 1)
    assert fast.conv2d_input_grad_wide_applies(cache.w.shape, g, 1)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, _ = C.conv2d_backward(dout, cache)
    with fast.disabled():
        ref_dx, ref_dw, _ = C.conv2d_backward(dout, cache)
    assert dx.dtype == dtype and dx.shape == x.shape and dx.flags.c_contiguous
    # the same products, added in the same order (the zero columns add exact zeros)
    np.testing.assert_array_equal(dx, ref_dx)
    if fast.conv2d_matmul_applies(out.shape[2] * out.shape[3], 1):   # dw: one product
        tol = 1e-12 if dtype == np.float64 else 2e-5
        np.testing.assert_allclose(dw, ref_dw, rtol=tol, atol=tol * np.abs(ref_dw).max())
    else:
        np.testing.assert_array_equal(dw, ref_dw)


def test_input_grad_wide_needs_output_at_least_half_the_padded_width(rng):
    _, cache = C.conv2d_forward(rng.standard_normal((2, 2, 6, 6)),
                                rng.standard_normal((4, 2, 5, 5)))     # W_out 2, padded 6
    g = C._cache_window(cache)
    assert not fast.conv2d_input_grad_wide_applies(cache.w.shape, g, 1)
    with fast.disabled():
        assert not fast.conv2d_input_grad_wide_applies((4, 2, 3, 3), g._replace(
            kernel=(3, 3), out=(4, 4)), 1)


# Small planes (at most 4x4 outputs): the forward as one product for the batch with the columns
# batch-last, the input gradient as one product and col2im on batch-last rows, the weight
# gradient as one product over examples and positions: equal to the reference to rounding (the
# same dot products; BLAS may block a product of another shape differently).
SMALL = [
    (4, 8, 8, 4, 4, 3, 3, dict(padding=1)),                      # ResNet's 4x4 stage
    (3, 6, 10, 2, 2, 3, 3, dict(padding=1)),                     # 2x2, more out than in
    (3, 5, 7, 8, 8, 3, 3, dict(stride=2, padding=1)),            # stride 2 into 4x4
    (2, 4, 6, 7, 5, 3, 2, dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    (3, 6, 4, 4, 4, 1, 1, dict(stride=2)),                       # 1x1 downsampling
    (2, 3, 5, 4, 4, 3, 3, dict(padding=1, flip=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N, c_in, c_out, H, W, KH, KW, kw", SMALL,
                         ids=["4x4", "2x2", "s2", "rect-d12", "1x1s2", "flip"])
def test_small_planes_equal_reference(N, c_in, c_out, H, W, KH, KW, kw, dtype, rng):
    x = rng.standard_normal((N, c_in, H, W)).astype(dtype)
    w = rng.standard_normal((c_out, c_in, KH, KW)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    out, cache = C.conv2d_forward(x, w, b, **kw)
    assert fast.conv2d_matmul_applies(out.shape[2] * out.shape[3], 1)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = C.conv2d_backward(dout, cache)
    with fast.disabled():
        ref_out, ref_cache = C.conv2d_forward(x, w, b, **kw)
        ref_dx, ref_dw, ref_db = C.conv2d_backward(dout, ref_cache)
    np.testing.assert_array_equal(cache.cols, ref_cache.cols)     # the same columns (a view)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for a, ref in [(out, ref_out), (dx, ref_dx), (dw, ref_dw)]:
        np.testing.assert_allclose(a, ref, rtol=tol, atol=tol * np.abs(ref).max())
    np.testing.assert_array_equal(db, ref_db)
    assert out.flags.c_contiguous and dx.flags.c_contiguous and dx.dtype == dtype


def test_small_planes_not_for_groups_or_large_planes(rng):
    assert not fast.conv2d_matmul_applies(17, 1)          # more than 4x4
    assert not fast.conv2d_matmul_applies(16, 2)          # groups keep their own products
    assert not fast.conv2d_matmul_applies(0, 1)           # nothing to multiply
    with fast.disabled():
        assert not fast.conv2d_matmul_applies(16, 1)


def test_keep_freed_memory_only_on_glibc(monkeypatch):
    monkeypatch.setenv("CNNBOOK_KEEP_MEMORY", "0")
    assert fast.keep_freed_memory() is False
    monkeypatch.delenv("CNNBOOK_KEEP_MEMORY")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000")     # the user's own choice stays
    assert fast.keep_freed_memory() is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    import platform
    if platform.libc_ver()[0] == "glibc":
        assert fast.keep_freed_memory() is True


FAULTS_OF_A_SECOND_ARRAY = """
import resource, numpy as np
import cnnbook
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(1 << 24, np.float32); del a         # 64 MiB, every page written, then freed
before = faults()
b = np.ones(1 << 24, np.float32)                # the same size again
print(faults() - before)
"""


def test_keep_freed_memory_reuses_a_large_array(monkeypatch):
    """A 64 MiB array freed and asked for again: on glibc its pages are reused (no fault),
    where without `keep_freed_memory` (CNNBOOK_KEEP_MEMORY=0) they are mapped afresh."""
    import platform
    import subprocess
    import sys
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_"):
        monkeypatch.delenv(name, raising=False)

    def faults(keep: str) -> int:
        monkeypatch.setenv("CNNBOOK_KEEP_MEMORY", keep)
        run = subprocess.run([sys.executable, "-c", FAULTS_OF_A_SECOND_ARRAY],
                             capture_output=True, text=True, check=True)
        return int(run.stdout)
    assert faults("1") < 8                        # the freed pages, written again
    assert faults("0") >= 32                      # 2 MiB huge pages at best: 32 of them
