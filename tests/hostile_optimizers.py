"""Optimizers that cheat, crash or hang: the attacks sealed execution must defeat.

Each cheater makes a few honest evaluations (so that a stolen answer does not look free), tries
its trick to find the global minimizer, and returns it if the trick worked, else its start. Run
in the harness's own process (--in-process), several of these tricks work: that is why plug-ins
run sealed by default. Sealed, none may score a hit, or the restart must carry a flag.
"""

from __future__ import annotations

import gc
import itertools
import os
import signal
import sys
import threading
import time

import numpy as np

HONEST_EVALUATIONS = 5
LATE_THREAD = "hostile-late-caller"  # thread_after_return's thread; a test joins it when done


def _honest(fun, x0) -> None:
    for k in range(HONEST_EVALUATIONS):
        fun(np.asarray(x0) + 0.01 * k)


def _minimizer_of(obj, p: int):
    """A global minimizer of the right size reachable from obj, or None."""
    certificate = getattr(obj, "certificate", obj)
    theta = getattr(certificate, "global_minimizer", None)
    if isinstance(theta, np.ndarray) and theta.shape == (p,):
        return np.array(theta)
    return None


def _cheat(fun, x0, trick) -> np.ndarray:
    _honest(fun, x0)
    try:
        found = trick(np.asarray(x0).size)
    except Exception:
        found = None
    return np.array(x0) if found is None else found


# --- the attacks -------------------------------------------------------------------------------
def stack_walk(fun, x0, jac=None):
    """Walk up the call stack to a frame that holds the instance."""

    def trick(p):
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                found = _minimizer_of(value, p)
                if found is not None:
                    return found
            frame = frame.f_back
        return None

    return _cheat(fun, x0, trick)


def heap_scan(fun, x0, jac=None):
    """Scan every object the garbage collector knows for a Certificate; other instances loaded in
    the same process hold certificates too, so keep the one whose claimed L* the loss confirms."""

    def trick(p):
        seen = set()
        for obj in gc.get_objects():
            if type(obj).__name__ != "Certificate":
                continue
            found = _minimizer_of(obj, p)
            if found is None or found.tobytes() in seen or len(seen) >= 20:
                continue
            seen.add(found.tobytes())
            if abs(float(fun(found)) - float(obj.global_min_value)) <= 1e-9:
                return found
        return None

    return _cheat(fun, x0, trick)


def argv_load(fun, x0, jac=None):
    """Read the instance ID from the command line or the environment and load the instance."""

    def trick(p):
        import qnntraps

        for token in [*sys.argv, *os.environ.values()]:
            for word in token.replace("=", " ").split():
                try:
                    return _minimizer_of(qnntraps.load(word), p)
                except Exception:
                    continue
        return None

    return _cheat(fun, x0, trick)


def patch_scoring(fun, x0, jac=None):
    """Replace the harness's scoring with one that calls every restart a hit."""
    import qnntraps.harness.runner as runner

    original = runner.score_chunk

    def everything_hits(*args, **kwargs):
        records = original(*args, **kwargs)
        for record in records:
            record.update(hit=True, gap=0.0, flags=[])
        return records

    runner.score_chunk = everything_hits
    _honest(fun, x0)
    return np.array(x0)


def _closure_oracle(fun):
    for cell in fun.__closure__ or ():
        value = cell.cell_contents
        if hasattr(value, "loss") and hasattr(value, "budget"):
            return value
    return None


def _vertices(p: int) -> np.ndarray:
    return np.array(list(itertools.product((np.pi / 4, 3 * np.pi / 4), repeat=p)))


def closure_free_evaluations(fun, x0, jac=None):
    """Reach the oracle through fun's closure and evaluate every vertex through its private,
    uncounted evaluation."""

    def trick(p):
        import torch

        oracle = _closure_oracle(fun)
        points = torch.as_tensor(_vertices(p))
        values = oracle._evaluate_loss(points, torch.zeros(len(points), dtype=torch.int64))
        return points[int(torch.argmin(values))].numpy()

    return _cheat(fun, x0, trick)


def reset_counters(fun, x0, jac=None):
    """Reset the oracle's counters and raise its budget, then search every vertex."""
    import torch

    from qnntraps.oracles.budget import Budget

    oracle = _closure_oracle(fun)
    _honest(fun, x0)
    best, best_value = np.array(x0), np.inf
    try:
        for vertex in _vertices(np.asarray(x0).size):
            oracle.loss_evals.zero_()
            oracle.budget = Budget(loss_evals=10**9, grad_evals=10**9)
            value = fun(vertex)
            if value < best_value:
                best, best_value = vertex, value
    except Exception:
        pass
    oracle.loss_evals.copy_(torch.zeros_like(oracle.loss_evals))
    return best


def thread_after_return(fun, x0, jac=None):
    """Return at once, then keep searching in a background thread — calling the oracle found in
    fun's closure directly, past the adapter's checks — and move the returned point to the best
    vertex found."""
    import torch

    point = np.array(x0, dtype=np.float64)
    oracle = _closure_oracle(fun)
    row = next(v for v in fun.__defaults__ if isinstance(v, torch.Tensor))  # fun(x, row=...)

    def search():
        best_value = np.inf
        for vertex in _vertices(point.size):
            try:
                value = float(oracle.loss(torch.as_tensor(vertex[None, :]), row)[0])
            except BaseException:
                time.sleep(0.001)
                continue
            if value < best_value:
                best_value = value
                point[:] = vertex

    _honest(fun, x0)
    threading.Thread(target=search, name=LATE_THREAD, daemon=True).start()
    time.sleep(0.05)  # let it start before this restart ends
    return point


def unevaluated_target(fun, x0, jac=None, target=None, honest: int = 0):
    """Return a point given as a hyper-parameter (say, a stolen minimizer) after `honest`
    evaluations, never evaluating the point itself."""
    for k in range(honest):
        fun(np.asarray(x0) + 0.01 * k)
    return np.asarray(target, dtype=np.float64)


# --- broken, not cheating ----------------------------------------------------------------------
def raises(fun, x0, jac=None):
    fun(x0)
    raise RuntimeError("this optimizer is broken")


def nan_sometimes(fun, x0, jac=None):
    """NaN for starts whose first coordinate is below pi, else the start."""
    fun(x0)
    return np.full_like(np.asarray(x0), np.nan) if x0[0] < np.pi else np.array(x0)


def wrong_shape(fun, x0, jac=None):
    fun(x0)
    return np.zeros(np.asarray(x0).size + 1)


def exits(fun, x0, jac=None, status: int = 3):
    fun(x0)
    sys.exit(status)


def killed(fun, x0, jac=None):
    fun(x0)
    os.kill(os.getpid(), signal.SIGKILL)


def hangs(fun, x0, jac=None):
    fun(x0)
    time.sleep(3600)
    return np.array(x0)


def dies(fun, x0, jac=None):
    """Ends its process at once, as a kill or the out-of-memory killer would."""
    import os

    os._exit(9)
