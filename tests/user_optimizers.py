"""Third-party-style optimizers used by the harness tests (loaded as module:callable)."""

import numpy as np

SEEN_ARGUMENTS: list = []


def random_search(fun, x0, jac=None, rng=None, samples: int = 30, radius: float = 0.3):
    """scipy-style: best of `samples` Gaussian perturbations around x0."""
    SEEN_ARGUMENTS.append((fun, x0, jac, rng))
    best_x, best_y = np.array(x0), fun(x0)
    for _ in range(samples):
        x = best_x + radius * rng.standard_normal(best_x.size)
        y = fun(x)
        if y < best_y:
            best_x, best_y = x, y
    return best_x


class LocalSearch:
    """ask/tell: Gaussian (1+4) search; recommend() is the best point told."""

    def __init__(self, x0, rng, sigma: float = 0.3):
        self.rng, self.sigma = rng, sigma
        self.best_x, self.best_y = np.array(x0), np.inf

    def ask(self, n):
        k = min(4, n)
        return self.best_x + self.sigma * self.rng.standard_normal((k, self.best_x.size))

    def tell(self, X, y):
        i = int(np.argmin(y))
        if y[i] < self.best_y:
            self.best_x, self.best_y = np.array(X[i]), float(y[i])

    def recommend(self):
        return self.best_x
