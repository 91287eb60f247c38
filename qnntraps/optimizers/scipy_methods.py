"""scipy-style baselines: COBYLA, Nelder-Mead, scipy's L-BFGS-B and random-restart basin hopping.

Each is a ``minimize(fun, x0, jac=..., **hyper)`` callable run by the scipy adapter.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize


def cobyla(fun, x0, jac=None, rhobeg: float = 0.5, tol: float = 1e-10, maxiter: int = 100000):
    options = {"rhobeg": rhobeg, "maxiter": maxiter}
    return scipy.optimize.minimize(fun, x0, method="COBYLA", tol=tol, options=options)


def nelder_mead(
    fun,
    x0,
    jac=None,
    xatol: float = 1e-10,
    fatol: float = 1e-12,
    adaptive: bool = True,
    initial_step: float = 0.5,
    maxfev: int = 10**9,
):
    simplex = np.vstack([x0, x0 + initial_step * np.eye(x0.size)])
    options = {
        "xatol": xatol,
        "fatol": fatol,
        "adaptive": adaptive,
        "initial_simplex": simplex,
        "maxfev": maxfev,
        "maxiter": maxfev,
    }
    return scipy.optimize.minimize(fun, x0, method="Nelder-Mead", options=options)


def scipy_lbfgs(
    fun, x0, jac, memory: int = 10, gtol: float = 1e-8, ftol: float = 2.22e-9, maxiter: int = 15000
):
    options = {"maxcor": memory, "gtol": gtol, "ftol": ftol, "maxiter": maxiter}
    return scipy.optimize.minimize(
        _with_gradient(fun, jac), x0, jac=True, method="L-BFGS-B", options=options
    )


def basin_hopping(
    fun,
    x0,
    jac,
    rng: np.random.Generator,
    hops: int = 20,
    stepsize: float = np.pi / 2,
    temperature: float = 0.05,
    gtol: float = 1e-8,
):
    """Basin hopping: L-BFGS-B local searches joined by uniform random jumps of size stepsize.

    Metropolis acceptance at `temperature`; `hops` jumps after the first local search.
    """
    local = {"method": "L-BFGS-B", "jac": True, "options": {"gtol": gtol}}
    return scipy.optimize.basinhopping(
        _with_gradient(fun, jac),
        x0,
        niter=hops,
        T=temperature,
        stepsize=stepsize,
        minimizer_kwargs=local,
        rng=rng,
    )


def _with_gradient(fun, jac):
    def value_and_gradient(x):
        gradient = jac(x)  # one gradient evaluation; the loss at x is then cached by the adapter
        return fun(x), gradient

    return value_and_gradient
