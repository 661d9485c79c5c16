"""Self-checks for chapter 9, fully connected layers, softmax and losses. Every answer is
computed with the library."""
import numpy as np

from . import exercise


@exercise("ch09-fc-params-400-120", "Learnable parameters (weights and biases) of a fully "
          "connected layer from a flattened 16x5x5 volume to 120 units")
def parameters_of_fc_400_to_120():
    from ..nn import Linear
    from ..arithmetic import count_parameters
    return count_parameters(Linear(16 * 5 * 5, 120))


@exercise("ch09-softmax-1000", "Probability of the first class for the scores [1000, 1000]")
def softmax_of_large_equal_scores():
    from ..functional import softmax
    return float(softmax(np.array([1000.0, 1000.0]))[0])


@exercise("ch09-ce-07", "Cross-entropy loss when the true class receives probability 0.7")
def cross_entropy_at_probability_0_7():
    from ..functional import cross_entropy
    # logits whose softmax is (0.1, 0.1, 0.7, 0.1): the log-probabilities themselves
    return float(cross_entropy(np.log([[0.1, 0.1, 0.7, 0.1]]), np.array([2])))


@exercise("ch09-half-sum-factor", "For one example with 10 outputs, the total error "
          "1/2 * sum (t - o)^2 equals c * mse_loss(o, t). What is c?")
def half_sum_to_mse_factor():
    from ..functional import mse_loss
    rng = np.random.default_rng(0)
    o, t = rng.uniform(size=10), rng.uniform(size=10)
    return float(0.5 * np.sum((t - o) ** 2) / mse_loss(o, t))


@exercise("ch09-ce-grad", "Gradient of the cross-entropy with respect to the logits [2, 1, 0] "
          "of one example whose true class is 0 (three numbers)")
def cross_entropy_gradient():
    from ..functional import cross_entropy_backward, cross_entropy_forward
    _, cache = cross_entropy_forward(np.array([[2.0, 1.0, 0.0]]), np.array([0]))
    return cross_entropy_backward(1.0, cache)[0]
