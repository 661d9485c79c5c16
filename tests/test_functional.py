"""cnnbook.functional lists its names explicitly: they must be every layer module's public names."""
import cnnbook.functional as F
from cnnbook import activations, conv, linear, losses, norm, pool, spatial


def test_functional_exports_every_public_layer_function():
    modules = (conv, pool, activations, linear, losses, norm, spatial)
    expected = [name for m in modules for name in m.__all__]
    assert sorted(F.__all__) == sorted(expected)
    assert len(set(F.__all__)) == len(F.__all__)
    for m in modules:
        for name in m.__all__:
            assert getattr(F, name) is getattr(m, name), name


def test_functional_has_the_loop_versions_of_conv2d():
    assert F.conv2d_naive is conv.conv2d_naive
    assert F.conv2d_backward_naive is conv.conv2d_backward_naive
