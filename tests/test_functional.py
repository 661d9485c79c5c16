"""cnnbook.functional re-exports the operation modules' public names, read from their __all__."""
import cnnbook.functional as F
from cnnbook import activations, conv, linear, losses, norm, pool, spatial


def test_functional_is_every_operation_modules_public_function():
    for m in (conv, pool, activations, linear, losses, norm, spatial):
        for name in m.__all__:
            assert getattr(F, name) is getattr(m, name), name
    assert len(set(F.__all__)) == len(F.__all__)
    assert {"conv2d", "max_pool2d_backward", "cross_entropy_forward"} <= set(F.__all__)


def test_functional_has_the_loop_versions_of_conv2d():
    assert F.conv2d_naive is conv.conv2d_naive
    assert F.conv2d_backward_naive is conv.conv2d_backward_naive
