"""CMA-ES (the `cma` package) as an ask/tell optimizer, seeded by the harness's generator.

`cma` draws its samples from numpy's global random state (it seeds it from the `seed` option).
To keep restarts independent of each other and of anything else in the process, every call into
`cma` runs with this restart's own saved global state swapped in, and the caller's state swapped
back afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


class CMAES:
    """Wraps cma.CMAEvolutionStrategy; sigma0 = pi/2 by default (a quarter of the start range).

    ask(n) returns one generation (the population size; an empty batch when the remaining budget
    n cannot pay for a whole generation), recommend() the best point evaluated.
    """

    def __init__(
        self,
        x0,
        rng: np.random.Generator,
        sigma0: float = np.pi / 2,
        popsize: int | None = None,
        tolfun: float = 1e-12,
        tolx: float = 1e-11,
    ):
        import cma

        seed = int(rng.integers(1, 2**31 - 1))
        options = {
            "seed": seed,
            "verbose": -9,
            "tolfun": tolfun,
            "tolx": tolx,
            "tolflatfitness": 10**9,
        }
        if popsize is not None:
            options["popsize"] = popsize
        self._state = np.random.RandomState(seed).get_state()
        with self._own_global_state():
            self._es = cma.CMAEvolutionStrategy(np.asarray(x0, dtype=np.float64), sigma0, options)
        self._best_x = np.asarray(x0, dtype=np.float64)
        self._best_y = np.inf
        self._asked = None

    @contextmanager
    def _own_global_state(self):
        caller = np.random.get_state()  # noqa: NPY002 - cma uses the global state
        np.random.set_state(self._state)  # noqa: NPY002
        try:
            yield
        finally:
            self._state = np.random.get_state()  # noqa: NPY002
            np.random.set_state(caller)  # noqa: NPY002

    def ask(self, n: int) -> np.ndarray:
        if n < self._es.popsize:
            return np.empty((0, self._best_x.size))
        with self._own_global_state():
            self._asked = self._es.ask()
        return np.array(self._asked)

    def tell(self, X, y) -> None:
        with self._own_global_state():
            self._es.tell(self._asked, list(np.asarray(y, dtype=np.float64)))
        best = int(np.argmin(y))
        if y[best] < self._best_y:
            self._best_x, self._best_y = np.array(X[best], dtype=np.float64), float(y[best])

    def stop(self) -> bool:
        return bool(self._es.stop())

    def recommend(self) -> np.ndarray:
        return self._best_x
