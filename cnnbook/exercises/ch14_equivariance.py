"""Self-checks for chapter 14, equivariance, invariance and aliasing. Every answer is computed
with the library."""
import numpy as np

from . import exercise


@exercise("ch14-stride-period", "A network downsamples three times by 2 (three 2x2 max pools). "
          "What is the smallest nonzero input shift, in pixels, that moves its output by a whole "
          "number of output pixels?")
def shift_period_of_three_pools():
    from ..arithmetic import receptive_field
    layers = [(3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0)]
    return receptive_field(layers).stride


@exercise("ch14-maxpool-impulse", "An impulse on a 1x8 row is max-pooled with a (1, 2) window and "
          "stride 2. How many of the 4 outputs change when the impulse moves from column 3 to "
          "column 4?")
def max_pool_outputs_changed_by_a_shift():
    from ..functional import max_pool2d
    a = np.zeros((1, 1, 1, 8))
    b = np.zeros((1, 1, 1, 8))
    a[..., 3] = 1.0
    b[..., 4] = 1.0
    return int(np.sum(max_pool2d(a, (1, 2)) != max_pool2d(b, (1, 2))))


@exercise("ch14-blur-center", "The blur of BlurPool is the outer product of [1, 2, 1] with itself, "
          "divided by its sum. What weight does it give the centre pixel?")
def blurpool_centre_weight():
    from ..functional import conv2d
    f = np.array([1.0, 2.0, 1.0])
    k = np.outer(f, f) / np.outer(f, f).sum()
    impulse = np.zeros((1, 1, 3, 3))
    impulse[..., 1, 1] = 1.0
    return float(conv2d(impulse, k[None, None])[0, 0, 0, 0])


@exercise("ch14-zero-pad-columns", "A 3x3 convolution with zero padding 1 acts on a 10x10 random "
          "image. Shift the image 2 columns to the right by filling with zeros (not wrapping). "
          "How many output columns differ from the original output shifted by 2 columns the same way?")
def columns_changed_by_a_zero_filled_shift():
    from ..functional import conv2d
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 10, 10))
    w = rng.standard_normal((1, 1, 3, 3))
    xs = np.zeros_like(x)
    xs[..., 2:] = x[..., :-2]
    ys = np.zeros((1, 1, 10, 10))
    y = conv2d(x, w, padding=1)
    ys[..., 2:] = y[..., :-2]
    differs = ~np.isclose(conv2d(xs, w, padding=1), ys).all(axis=(0, 1, 2))
    return int(differs.sum())
