"""Self-checks for chapter 7, activations. Every answer is computed with the library."""
from . import exercise


@exercise("ch07-leaky", "leaky_relu([-2, 0, 3], negative_slope=0.1), as a list of three numbers")
def leaky_relu_values():
    import numpy as np
    from ..activations import leaky_relu
    return leaky_relu(np.array([-2.0, 0.0, 3.0]), negative_slope=0.1).tolist()


@exercise("ch07-softplus-grad-0", "The derivative of softplus at x = 0")
def softplus_derivative_at_0():
    import numpy as np
    from ..activations import softplus_backward, softplus_forward
    _, cache = softplus_forward(np.zeros(1))
    return float(softplus_backward(np.ones(1), cache)[0])


@exercise("ch07-sigmoid-10-layers", "The largest factor by which ten stacked sigmoids can multiply a "
          "gradient (the product of ten maximal sigmoid derivatives)")
def sigmoid_gradient_through_10_layers():
    import numpy as np
    from ..activations import sigmoid_backward, sigmoid_forward
    x = np.linspace(-5, 5, 1001)                  # contains 0, where the derivative peaks
    _, cache = sigmoid_forward(x)
    return float(sigmoid_backward(np.ones_like(x), cache).max()) ** 10


@exercise("ch07-relu-grad-0", "The gradient that relu_backward passes to an input exactly equal to 0, "
          "for an upstream gradient of 1")
def relu_gradient_at_0():
    import numpy as np
    from ..activations import relu_backward, relu_forward
    _, cache = relu_forward(np.zeros(1))
    return float(relu_backward(np.ones(1), cache)[0])
