"""cnnbook.gradcheck on inputs of any memory layout."""
import numpy as np

from cnnbook.gradcheck import numerical_gradient


def test_numerical_gradient_of_a_transposed_view():
    # x.T is Fortran-ordered: a probe that reshapes a copy of it would never move x and would
    # return zeros. The gradient of sum(x**2 * g) is 2 x g whatever the layout.
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 4))
    x = base.T
    g = rng.standard_normal(x.shape)
    before = x.copy()
    num = numerical_gradient(lambda v: v ** 2, x, g)
    np.testing.assert_allclose(num, 2 * x * g, rtol=1e-6, atol=1e-8)
    assert np.array_equal(x, before)                      # the input is not modified
