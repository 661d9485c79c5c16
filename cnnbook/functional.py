"""The layer function pairs, NumPy in and NumPy out (``import cnnbook.functional as F``).

Every operation has three entry points: ``op(...)`` returns the output; ``op_forward(...)``
returns ``(out, cache)``; ``op_backward(dout, cache)`` returns the gradients. Semantics and
argument names follow ``torch.nn.functional``; see each module for references. The loop versions
(``conv2d_naive``, ``conv2d_backward_naive``, ``max_pool2d_naive``, ...) compute the same numbers
one output position at a time, to be read next to the formulas.
"""
from .conv import (
    conv2d, conv2d_forward, conv2d_backward, conv2d_naive, conv2d_backward_naive, conv1d,
    conv1d_forward, conv1d_backward, conv_transpose2d, conv_transpose2d_forward,
    conv_transpose2d_backward, im2col, col2im,
)
from .pool import (
    max_pool2d, max_pool2d_forward, max_pool2d_backward, max_pool2d_naive, avg_pool2d,
    avg_pool2d_forward, avg_pool2d_backward, avg_pool2d_naive, max_pool2d_backward_naive,
    avg_pool2d_backward_naive, lp_pool2d, lp_pool2d_forward,
    lp_pool2d_backward, adaptive_avg_pool2d, adaptive_avg_pool2d_forward,
    adaptive_avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_forward,
    global_avg_pool2d_backward, roi_pool, roi_pool_forward, roi_pool_backward,
)
from .activations import (
    relu, relu_forward, relu_backward, leaky_relu, leaky_relu_forward, leaky_relu_backward,
    sigmoid, sigmoid_forward, sigmoid_backward, tanh, tanh_forward, tanh_backward, softplus,
    softplus_forward, softplus_backward,
)
from .linear import (
    linear, linear_forward, linear_backward, flatten, flatten_forward, flatten_backward,
)
from .losses import (
    softmax, softmax_forward, softmax_backward, log_softmax, log_softmax_forward,
    log_softmax_backward, cross_entropy, cross_entropy_forward, cross_entropy_backward,
    binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_forward,
    binary_cross_entropy_with_logits_backward, mse_loss, mse_loss_forward, mse_loss_backward,
)
from .norm import (
    batch_norm2d, batch_norm2d_forward, batch_norm2d_backward, dropout, dropout_forward,
    dropout_backward, local_response_norm, local_response_norm_forward,
    local_response_norm_backward,
)

__all__ = [
    "conv2d", "conv2d_forward", "conv2d_backward", "conv2d_naive", "conv2d_backward_naive",
    "conv1d", "conv1d_forward", "conv1d_backward", "conv_transpose2d",
    "conv_transpose2d_forward", "conv_transpose2d_backward", "im2col", "col2im", "max_pool2d",
    "max_pool2d_forward", "max_pool2d_backward", "max_pool2d_naive", "avg_pool2d",
    "avg_pool2d_forward", "avg_pool2d_backward", "avg_pool2d_naive", "max_pool2d_backward_naive",
    "avg_pool2d_backward_naive", "lp_pool2d",
    "lp_pool2d_forward", "lp_pool2d_backward", "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward", "global_avg_pool2d",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward", "roi_pool", "roi_pool_forward",
    "roi_pool_backward", "relu", "relu_forward", "relu_backward", "leaky_relu",
    "leaky_relu_forward", "leaky_relu_backward", "sigmoid", "sigmoid_forward",
    "sigmoid_backward", "tanh", "tanh_forward", "tanh_backward", "softplus",
    "softplus_forward", "softplus_backward", "linear", "linear_forward", "linear_backward",
    "flatten", "flatten_forward", "flatten_backward", "softmax", "softmax_forward",
    "softmax_backward", "log_softmax", "log_softmax_forward", "log_softmax_backward",
    "cross_entropy", "cross_entropy_forward", "cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_forward",
    "binary_cross_entropy_with_logits_backward", "mse_loss", "mse_loss_forward",
    "mse_loss_backward", "batch_norm2d", "batch_norm2d_forward", "batch_norm2d_backward",
    "dropout", "dropout_forward", "dropout_backward", "local_response_norm",
    "local_response_norm_forward", "local_response_norm_backward",
]

from .activations import (  # noqa: E402
    gelu, gelu_forward, gelu_backward, silu, silu_forward, silu_backward,
)
from .norm import (  # noqa: E402
    batch_norm1d, batch_norm1d_forward, batch_norm1d_backward, layer_norm, layer_norm_forward,
    layer_norm_backward, group_norm, group_norm_forward, group_norm_backward,
)
from .spatial import (  # noqa: E402
    interpolate, interpolate_forward, interpolate_backward, pad, pad_forward, pad_backward,
)
from .losses import one_hot  # noqa: E402

__all__ += [
    "gelu", "gelu_forward", "gelu_backward", "silu", "silu_forward", "silu_backward",
    "batch_norm1d", "batch_norm1d_forward", "batch_norm1d_backward", "layer_norm",
    "layer_norm_forward", "layer_norm_backward", "group_norm", "group_norm_forward",
    "group_norm_backward", "interpolate", "interpolate_forward", "interpolate_backward", "pad",
    "pad_forward", "pad_backward", "one_hot",
]
