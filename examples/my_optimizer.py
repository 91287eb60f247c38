"""A plug-in optimizer of the scipy kind, as a user would write one (the README runs it):

    qnntraps run --instance construction-p4-v1 --optimizer examples.my_optimizer:minimize \
        --param steps=100 --budget grad=200 --restarts 100 --out runs/mine

`module:callable` is found as `python -m` finds modules: from the folder you run qnntraps in,
here the repository root. The harness calls `minimize(fun, x0, jac=..., rng=..., **params)`:
`fun(x)` costs one loss evaluation, `jac(x)` one gradient evaluation, and the harness scores the
exact loss at the point returned. It runs sealed, in its own process, by default.
"""

import numpy as np


def minimize(fun, x0, jac=None, rng=None, steps: int = 200, lr: float = 0.2):
    """Gradient descent with step halving: a step that does not lower the loss is retried at
    half the length (the loss at the new point comes free with its gradient)."""
    x = np.array(x0, dtype=np.float64)
    value, grad = fun(x), jac(x)
    for _ in range(steps):
        candidate = x - lr * grad
        new_value = fun(candidate)
        if new_value < value:
            x, value, grad = candidate, new_value, jac(candidate)
        else:
            lr /= 2
            if lr < 1e-12:
                break
    return x
