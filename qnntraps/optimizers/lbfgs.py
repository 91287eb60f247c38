"""Batched L-BFGS with a More-Thuente line search, every restart an independent run.

The R rows of x0 are R independent runs of the unconstrained L-BFGS iteration, written so that
they advance together in one loop while sharing nothing but the oracle calls:

* Direction. Each row keeps its own curvature memory: the last `memory` pairs
  s = x_{k+1} - x_k, y = g_{k+1} - g_k (oldest first, with a per-row count) and the scale
  gamma = s.y / y.y of its newest pair. The direction d = -H g comes from the two-loop
  recursion with H_0 = gamma I; a row without pairs (the first iteration, or after a reset)
  steps along -g. A pair is stored only if s.y > eps * (-g_k.s) (eps the float64 machine
  epsilon); otherwise the update is skipped and the memory kept, as in L-BFGS-B.
* Line search. Each row runs its own search along d: the More-Thuente algorithm of MINPACK-2
  (dcsrch/dcstep: bracketing, then safeguarded cubic/quadratic/secant interpolation) for the
  strong Wolfe conditions f(a) <= f(0) + C1 a f'(0), |f'(a)| <= C2 |f'(0)| with C1 = 1e-3,
  C2 = 0.9 and interval tolerance 0.1, as in L-BFGS-B (C1 is MINPACK's "ftol", not the
  `ftol` below). The first trial step is 1 / |d|_2 on a row's first iteration and 1 after
  that. A trial step that meets both conditions, or at which dcsrch reports that it cannot
  make further progress (its warnings, as in L-BFGS-B), is accepted provided its loss is not
  above the loss at the start of the search.
* Line-search failure: the row's search direction is not a descent direction, dcsrch asks for
  more than `max_line_search` trial points, a new trial step is not finite, or a warning
  point has a higher loss. The row keeps its previous iterate. If its memory held pairs it is
  cleared and the iteration is retried along -g with step 1; a row with an empty memory stops
  (L-BFGS-B's "ABNORMAL_TERMINATION_IN_LNSRCH").

Stopping rules, tested per row in this order after each accepted step (the first only, also at
the start point): max_i |g_i| <= gtol; (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol;
a line-search failure with an empty memory (above); or the row's budget: a row for which
`oracle.can_evaluate_grad` is False when it needs its next trial point stops where it is, at
its last accepted iterate (its start point if even x0 could not be evaluated). A stopped row
never changes again, and its final point is its last accepted iterate. With the default
tolerances this is scipy's L-BFGS-B without bounds (its maxiter/maxfun limits aside), up to
rounding: L-BFGS-B builds the same direction through the compact representation.

Evaluations. Every trial point is one `oracle.loss_and_grad` call covering exactly the rows
that need a point at that moment, so each row is charged one gradient evaluation per point:
one for x0 and one per line-search trial. No loss-only evaluations are made, and no row is
evaluated once `oracle.can_evaluate_grad` says it is spent. There is no iteration limit: each
accepted step lowers the loss by the relative amount `ftol`, which bounds the run for a loss
that is bounded below; the budget bounds it in any case.

Row independence. All per-row arithmetic is elementwise or a reduction over the parameter axis
(sum/amax over dim=-1, batch-size independent on the CPU), rows are selected with masks and
index gathers, and there are no cross-row reductions (bmm/matmul). On the CPU the final point
of a restart is therefore bit-identical whether it runs alone or in any batch, given an oracle
that is row-independent too, and bit-identical from run to run. CUDA tensors work the same way
(the oracle's device is used), without the bit-exactness guarantee across batch sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.oracles.protocol import OracleView as Oracle

C1 = 1e-3  # sufficient-decrease constant of the line search (L-BFGS-B's dcsrch ftol)
C2 = 0.9  # curvature constant (L-BFGS-B's dcsrch gtol)
XTOL = 0.1  # relative width below which dcsrch gives up on the bracket
STEP_MAX = 1e10  # largest trial step (L-BFGS-B's stpmx for an unconstrained problem)
_EPS = float(np.finfo(np.float64).eps)

Tensor = torch.Tensor


@dataclass(frozen=True)
class LBFGS:
    """Batched L-BFGS (see the module docstring); defaults match scipy's L-BFGS-B."""

    memory: int = 10
    gtol: float = 1e-8
    ftol: float = 2.220446049250313e-09
    max_line_search: int = 20

    def __post_init__(self) -> None:
        if self.memory < 1 or self.max_line_search < 1:
            raise ValueError("LBFGS needs memory >= 1 and max_line_search >= 1")

    def __call__(
        self, oracle: Oracle, x0: torch.Tensor, generators: list | None = None
    ) -> torch.Tensor:
        """Final points (R, p) of the R restarts starting at x0 (R, p); generators are unused."""
        del generators  # deterministic method
        return _Run(self, oracle, x0).solve().to(x0.device)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise dot products (k,) of (k, p) tensors, summed over the last axis only."""
    return (a * b).sum(dim=-1)


# Rows of 2-D and 3-D state are read and written with index_select/index_copy_: bit-exact
# copies like advanced indexing, which on the CPU may start a thread pool even for tiny tensors.
def _take(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return t.index_select(0, idx)


def _put(t: torch.Tensor, idx: torch.Tensor, value: torch.Tensor) -> None:
    t.index_copy_(0, idx, value)


def _indices(mask: torch.Tensor) -> torch.Tensor:
    return mask.nonzero().squeeze(1)


class _History:
    """Per-row curvature pairs, oldest first in slot 0, newest in slot m-1."""

    def __init__(self, rows: int, memory: int, dimension: int, device: torch.device):
        kind = {"dtype": torch.float64, "device": device}
        self.memory = memory
        self.s = torch.zeros(rows, memory, dimension, **kind)
        self.y = torch.zeros(rows, memory, dimension, **kind)
        self.rho = torch.zeros(rows, memory, **kind)  # 1 / s.y
        self.count = torch.zeros(rows, dtype=torch.int64, device=device)
        self.gamma = torch.ones(rows, **kind)  # H_0 = gamma I

    def push(self, idx: Tensor, s: Tensor, y: Tensor, sy: Tensor, yy: Tensor) -> None:
        """Append the pair (s, y) with s.y = sy, y.y = yy to rows idx, dropping their oldest."""
        _put(self.s, idx, torch.cat([_take(self.s, idx)[:, 1:], s[:, None]], dim=1))
        _put(self.y, idx, torch.cat([_take(self.y, idx)[:, 1:], y[:, None]], dim=1))
        _put(self.rho, idx, torch.cat([_take(self.rho, idx)[:, 1:], (1.0 / sy)[:, None]], dim=1))
        self.count[idx] = torch.clamp(self.count[idx] + 1, max=self.memory)
        self.gamma[idx] = sy / yy

    def reset(self, idx: torch.Tensor) -> None:
        self.count[idx] = 0
        self.gamma[idx] = 1.0

    def direction(self, idx: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """d = -H g for rows idx (two-loop recursion; g is (k, p))."""
        s, y, rho = _take(self.s, idx), _take(self.y, idx), _take(self.rho, idx)
        first_valid = self.memory - self.count[idx]  # slots >= this hold pairs
        q = g
        alphas = []
        for j in reversed(range(self.memory)):  # newest to oldest
            valid = (j >= first_valid)[:, None]
            alpha = rho[:, j] * _dot(s[:, j], q)
            q = torch.where(valid, q - alpha[:, None] * y[:, j], q)
            alphas.append(alpha)
        r = self.gamma[idx, None] * q
        for j in range(self.memory):  # oldest to newest
            valid = (j >= first_valid)[:, None]
            beta = rho[:, j] * _dot(y[:, j], r)
            r = torch.where(valid, r + s[:, j] * (alphas[self.memory - 1 - j] - beta)[:, None], r)
        return -r


def _cubic_gamma(theta: Tensor, da: Tensor, db: Tensor, s: Tensor, clip: bool = False) -> Tensor:
    """s sqrt((theta/s)^2 - (da/s)(db/s)), the discriminant term of dcstep's cubic step."""
    t, a, b = theta / s, da / s, db / s
    radicand = t * t - a * b
    if clip:
        radicand = torch.clamp(radicand, min=0.0)
    return s * torch.sqrt(radicand)


def _dcstep(
    stx: Tensor,
    fx: Tensor,
    dx: Tensor,
    sty: Tensor,
    fy: Tensor,
    dy: Tensor,
    stp: Tensor,
    fp: Tensor,
    dp: Tensor,
    brackt: Tensor,
    stpmin: Tensor,
    stpmax: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """MINPACK-2 dcstep for (R,) tensors: new step and updated interval, all four cases at once.

    Every case is computed for every row (values for rows in other cases may be inf/NaN) and
    the row's case is then selected with torch.where, so rows never mix.
    """
    sgnd = torch.sign(dp) * torch.sign(dx)
    case1 = fp > fx
    case2 = ~case1 & (sgnd < 0)
    case3 = ~case1 & ~case2 & (dp.abs() < dx.abs())

    theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
    s = torch.maximum(torch.maximum(theta.abs(), dx.abs()), dp.abs())
    secant = stp + (dp / (dp - dx)) * (stx - stp)

    # Case 1: higher function value; the minimum is bracketed.
    gamma = _cubic_gamma(theta, dx, dp, s)
    gamma = torch.where(stp < stx, -gamma, gamma)
    r = ((gamma - dx) + theta) / (((gamma - dx) + gamma) + dp)
    stpc = stx + r * (stp - stx)
    stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
    step1 = torch.where((stpc - stx).abs() <= (stpq - stx).abs(), stpc, stpc + (stpq - stpc) / 2.0)

    # Case 2: lower function value, derivatives of opposite sign; bracketed.
    gamma = _cubic_gamma(theta, dx, dp, s)
    gamma = torch.where(stp > stx, -gamma, gamma)
    r = ((gamma - dp) + theta) / (((gamma - dp) + gamma) + dx)
    stpc = stp + r * (stx - stp)
    step2 = torch.where((stpc - stp).abs() > (secant - stp).abs(), stpc, secant)

    # Case 3: lower function value, same sign, derivative magnitude decreases.
    gamma = _cubic_gamma(theta, dx, dp, s, clip=True)
    gamma = torch.where(stp > stx, -gamma, gamma)
    r = ((gamma - dp) + theta) / ((gamma + (dx - dp)) + gamma)
    stpc = torch.where(
        (r < 0) & (gamma != 0), stp + r * (stx - stp), torch.where(stp > stx, stpmax, stpmin)
    )
    near = torch.where((stpc - stp).abs() < (secant - stp).abs(), stpc, secant)
    limit = stp + 0.66 * (sty - stp)
    near = torch.where(stp > stx, torch.minimum(limit, near), torch.maximum(limit, near))
    far = torch.where((stpc - stp).abs() > (secant - stp).abs(), stpc, secant)
    far = torch.maximum(stpmin, torch.minimum(stpmax, far))
    step3 = torch.where(brackt, near, far)

    # Case 4: lower function value, same sign, derivative magnitude does not decrease.
    theta4 = 3.0 * (fp - fy) / (sty - stp) + dy + dp
    s4 = torch.maximum(torch.maximum(theta4.abs(), dy.abs()), dp.abs())
    gamma = _cubic_gamma(theta4, dy, dp, s4)
    gamma = torch.where(stp > sty, -gamma, gamma)
    r = ((gamma - dp) + theta4) / (((gamma - dp) + gamma) + dy)
    step4 = torch.where(brackt, stp + r * (sty - stp), torch.where(stp > stx, stpmax, stpmin))

    new_step = torch.where(
        case1, step1, torch.where(case2, step2, torch.where(case3, step3, step4))
    )

    # Update the interval that contains a minimizer.
    move_y = case1 | (sgnd < 0)  # sty takes stp (case 1) or the old stx (otherwise)
    new_sty = torch.where(case1, stp, stx)
    new_fy = torch.where(case1, fp, fx)
    new_dy = torch.where(case1, dp, dx)
    sty = torch.where(move_y, new_sty, sty)
    fy = torch.where(move_y, new_fy, fy)
    dy = torch.where(move_y, new_dy, dy)
    stx = torch.where(case1, stx, stp)
    fx = torch.where(case1, fx, fp)
    dx = torch.where(case1, dx, dp)
    return stx, fx, dx, sty, fy, dy, new_step, brackt | case1 | case2


class _LineSearch:
    """MINPACK-2 dcsrch state for every row, as (R,) tensors updated under masks."""

    def __init__(self, rows: int, device: torch.device):
        def zeros():
            return torch.zeros(rows, dtype=torch.float64, device=device)

        self.stp, self.finit, self.ginit, self.gtest = zeros(), zeros(), zeros(), zeros()
        self.stx, self.fx, self.gx = zeros(), zeros(), zeros()
        self.sty, self.fy, self.gy = zeros(), zeros(), zeros()
        self.stmin, self.stmax, self.width, self.width1 = zeros(), zeros(), zeros(), zeros()
        self.brackt = torch.zeros(rows, dtype=torch.bool, device=device)
        self.stage2 = torch.zeros(rows, dtype=torch.bool, device=device)
        self.trials = torch.zeros(rows, dtype=torch.int64, device=device)

    def start(self, idx: Tensor, f: Tensor, g: Tensor, stp: Tensor) -> None:
        """Begin searches for rows idx from loss f, slope g < 0 and first trial step stp."""
        self.stp[idx], self.finit[idx], self.ginit[idx] = stp, f, g
        self.gtest[idx] = C1 * g
        self.brackt[idx], self.stage2[idx], self.trials[idx] = False, False, 0
        self.width[idx] = STEP_MAX
        self.width1[idx] = STEP_MAX / 0.5
        self.stx[idx], self.fx[idx], self.gx[idx] = 0.0, f, g
        self.sty[idx], self.fy[idx], self.gy[idx] = 0.0, f, g
        self.stmin[idx] = 0.0
        self.stmax[idx] = stp + 4.0 * stp

    def step(self, rows: Tensor, f: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        """One dcsrch call for the rows in mask `rows` (R,), given f, g (R,) at their trial stp.

        Returns (done, warned): masks of rows whose search ended (converged or warned). The other
        rows in `rows` get their next trial step in self.stp.
        """
        stp = self.stp
        ftest = self.finit + stp * self.gtest
        stage2 = self.stage2 | ((f <= ftest) & (g >= 0))
        warned = (self.brackt & ((stp <= self.stmin) | (stp >= self.stmax))) | (
            self.brackt & (self.stmax - self.stmin <= XTOL * self.stmax)
        )
        warned |= (stp == STEP_MAX) & (f <= ftest) & (g <= self.gtest)
        warned |= (stp == 0.0) & ((f > ftest) | (g >= self.gtest))
        converged = (f <= ftest) & (g.abs() <= C2 * -self.ginit)
        done = rows & (warned | converged)
        warned = done & ~converged
        go = rows & ~done

        # In stage 1, after a lower but not sufficiently lower value, step on the modified
        # function psi(a) = f(a) - f(0) - C1 a f'(0) (shifted by f(0)).
        modify = ~stage2 & (f <= self.fx) & (f > ftest)
        gt = torch.where(modify, self.gtest, torch.zeros_like(self.gtest))
        stx, fx, gx, sty, fy, gy, new, brackt = _dcstep(
            self.stx,
            self.fx - self.stx * gt,
            self.gx - gt,
            self.sty,
            self.fy - self.sty * gt,
            self.gy - gt,
            stp,
            f - stp * gt,
            g - gt,
            self.brackt,
            self.stmin,
            self.stmax,
        )
        fx, fy = torch.where(modify, fx + stx * gt, fx), torch.where(modify, fy + sty * gt, fy)
        gx, gy = torch.where(modify, gx + gt, gx), torch.where(modify, gy + gt, gy)

        width, width1 = self.width, self.width1
        bisect = brackt & ((sty - stx).abs() >= 0.66 * width1)
        new = torch.where(bisect, stx + 0.5 * (sty - stx), new)
        width1 = torch.where(brackt, width, width1)
        width = torch.where(brackt, (sty - stx).abs(), width)
        stmin = torch.where(brackt, torch.minimum(stx, sty), new + 1.1 * (new - stx))
        stmax = torch.where(brackt, torch.maximum(stx, sty), new + 4.0 * (new - stx))
        new = torch.clamp(new, min=0.0, max=STEP_MAX)
        stuck = brackt & ((new <= stmin) | (new >= stmax) | (stmax - stmin <= XTOL * stmax))
        new = torch.where(stuck, stx, new)

        for name, value in (
            ("stage2", stage2),
            ("stx", stx),
            ("fx", fx),
            ("gx", gx),
            ("sty", sty),
            ("fy", fy),
            ("gy", gy),
            ("brackt", brackt),
            ("width", width),
            ("width1", width1),
            ("stmin", stmin),
            ("stmax", stmax),
            ("stp", new),
        ):
            setattr(self, name, torch.where(go, value, getattr(self, name)))
        return done, warned


class _Run:
    """One batched run: state of every row and the evaluation loop."""

    def __init__(self, options: LBFGS, oracle: Oracle, x0: torch.Tensor):
        if x0.ndim != 2 or x0.shape[1] != oracle.dimension:
            raise ValueError(f"x0 must have shape (R, {oracle.dimension}), not {tuple(x0.shape)}")
        self.options, self.oracle = options, oracle
        device = self.device = oracle.device
        rows, p = x0.shape
        self.x = x0.detach().to(device=device, dtype=torch.float64).clone()
        self.f = torch.full((rows,), float("nan"), dtype=torch.float64, device=device)
        self.g = torch.zeros(rows, p, dtype=torch.float64, device=device)
        self.d = torch.zeros(rows, p, dtype=torch.float64, device=device)
        self.slope = torch.zeros(rows, dtype=torch.float64, device=device)  # g.d at line start
        self.active = torch.ones(rows, dtype=torch.bool, device=device)
        self.first = torch.ones(rows, dtype=torch.bool, device=device)  # no step accepted yet
        self.history = _History(rows, options.memory, p, device)
        self.search = _LineSearch(rows, device)

    def _evaluate(
        self, idx: Tensor, points: Callable[[Tensor], Tensor]
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Evaluate rows idx within budget; the others stop. Returns (idx, f, g) of those done."""
        oracle, oracle_rows = self.oracle, idx.cpu()
        ok = oracle.can_evaluate_grad(oracle_rows)
        ok_dev, ok_cpu = ok.to(self.device), ok.cpu()
        if not bool(ok_cpu.all()):
            self.active[idx[~ok_dev]] = False
            idx, oracle_rows = idx[ok_dev], oracle_rows[ok_cpu]  # 1-D: plain indexing
        if idx.numel() == 0:
            return idx, None, None
        f, g = oracle.loss_and_grad(points(idx), oracle_rows)
        return idx, f.to(self.device), g.to(self.device)

    def _trial_points(self, idx: torch.Tensor) -> torch.Tensor:
        return _take(self.x, idx) + self.search.stp[idx, None] * _take(self.d, idx)

    def solve(self) -> torch.Tensor:
        idx = torch.arange(self.x.shape[0], device=self.device)
        idx, f, g = self._evaluate(idx, lambda rows: _take(self.x, rows))
        if idx.numel():
            self.f[idx] = f
            _put(self.g, idx, g)
            converged = g.abs().amax(dim=-1) <= self.options.gtol
            self.active[idx[converged]] = False
            self._begin_searches(idx[~converged])
        while True:
            idx = self.active.nonzero().squeeze(1)  # active rows are always mid-search
            if idx.numel() == 0:
                break
            idx, f, g = self._evaluate(idx, self._trial_points)
            if idx.numel() == 0:
                break
            self._after_trial(idx, f, g)
        return self.x

    def _after_trial(self, idx: torch.Tensor, f: torch.Tensor, g: torch.Tensor) -> None:
        """Feed the trial values of rows idx to their line searches and act on the outcome."""
        search, rows = self.search, self.x.shape[0]
        slope = _dot(g, _take(self.d, idx))
        mask = torch.zeros(rows, dtype=torch.bool, device=self.device)
        mask[idx] = True
        f_all = torch.zeros(rows, dtype=torch.float64, device=self.device)
        g_all = torch.zeros(rows, dtype=torch.float64, device=self.device)
        f_all[idx], g_all[idx] = f, slope
        search.trials[idx] += 1
        done, warned = search.step(mask, f_all, g_all)
        done, warned = done[idx], warned[idx]
        worse = warned & ~(f <= self.f[idx])
        accept = done & ~worse
        going = ~done & (search.trials[idx] < self.options.max_line_search)
        going &= torch.isfinite(search.stp[idx])
        failed = ~accept & ~going
        accept = _indices(accept)
        self._accept(idx[accept], f[accept], _take(g, accept), slope[accept])
        self._fail(idx[failed])

    def _accept(self, idx: Tensor, f: Tensor, g: Tensor, slope: Tensor) -> None:
        """Take the accepted trial points of rows idx: stopping tests, memory update, next search."""
        if idx.numel() == 0:
            return
        options, stp = self.options, self.search.stp[idx]
        f_old, g_old, slope_old = self.f[idx], _take(self.g, idx), self.slope[idx]
        s = stp[:, None] * _take(self.d, idx)
        _put(self.x, idx, _take(self.x, idx) + s)
        self.f[idx] = f
        _put(self.g, idx, g)
        self.first[idx] = False
        scale = torch.maximum(torch.maximum(f_old.abs(), f.abs()), torch.ones_like(f))
        stop = (g.abs().amax(dim=-1) <= options.gtol) | (f_old - f <= options.ftol * scale)
        self.active[idx[stop]] = False
        # L-BFGS-B's curvature test: s.y = stp (g.d - g_old.d) > eps * (-g_old.s).
        sy = (slope - slope_old) * stp
        y = g - g_old
        keep = _indices(~stop & (sy > _EPS * (-slope_old * stp)))
        y = _take(y, keep)
        self.history.push(idx[keep], _take(s, keep), y, sy[keep], _dot(y, y))
        self._begin_searches(idx[~stop])

    def _fail(self, idx: torch.Tensor) -> None:
        """Line-search failure: keep the iterate; clear a non-empty memory and retry, else stop."""
        if idx.numel() == 0:
            return
        empty = self.history.count[idx] == 0
        self.active[idx[empty]] = False
        retry = idx[~empty]
        self.history.reset(retry)
        self._begin_searches(retry)

    def _begin_searches(self, idx: torch.Tensor) -> None:
        """New direction and line search for rows idx (at their current iterate)."""
        for _ in range(2):  # a non-descent direction is retried once along -g
            if idx.numel() == 0:
                return
            g = _take(self.g, idx)
            d = self.history.direction(idx, g)
            slope = _dot(g, d)
            descent = slope < 0
            good, bad = idx[descent], idx[~descent]
            d, slope = _take(d, _indices(descent)), slope[descent]
            first_step = torch.clamp(1.0 / torch.sqrt(_dot(d, d)), max=STEP_MAX)
            stp = torch.where(self.first[good], first_step, torch.ones_like(first_step))
            _put(self.d, good, d)
            self.slope[good] = slope
            self.search.start(good, self.f[good], slope, stp)
            empty = self.history.count[bad] == 0
            self.active[bad[empty]] = False
            idx = bad[~empty]
            self.history.reset(idx)
