"""Exercises of the hyperparameter search chapter. Every answer is computed with the library."""
import numpy as np

from . import exercise


@exercise("hps-grid-values-81", "A grid over four hyperparameters with 81 runs: distinct values of "
          "the learning rate")
def grid_values_per_hyperparameter():
    from ..search import grid_search_space
    k = next(k for k in range(1, 10) if k ** 4 == 81)
    return len(grid_search_space(k)["lr"])


@exercise("hps-sha-epochs", "Successive halving, 27 trials, rungs at 1, 3, 9 epochs, reduction "
          "factor 3: epochs trained in all")
def successive_halving_epochs():
    from ..search import successive_halving_epochs
    return successive_halving_epochs(27, 9, reduction_factor=3, min_resource=1)


@exercise("hps-standard-error-400", "Standard error of an accuracy of 85 % measured on 400 images",
          rtol=1e-2)
def standard_error_on_400_images():
    # the spread of the accuracy of a fixed classifier over random 400-image validation sets
    p, n = 0.85, 400
    return float(np.sqrt(p * (1 - p) / n))


@exercise("hps-grid-middle-lr", "Middle learning rate of grid_search_space(3)", rtol=1e-6)
def grid_middle_learning_rate():
    from ..search import grid_search_space
    return grid_search_space(3)["lr"][1]
