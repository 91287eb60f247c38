"""Adam, RMSProp and gradient descent as fused loops over a chunk of restarts.

The update rules are torch.optim's (Adam, RMSprop and SGD with their defaults: no weight decay,
no amsgrad, not centered, no Nesterov, no dampening), written out operation by operation in
float64, each operation rounded on its own (no fused multiply-add), so a restart's path is the
same bits whatever its position in the batch, the batch size or the machine:

    Adam      m <- m + (1 - b1) (g - m)
              v <- v b2 + ((1 - b2) g) g
              x <- x + ((-lr / (1 - b1^t)) m) / (sqrt(v) / sqrt(1 - b2^t) + eps)
    RMSProp   v <- v a + ((1 - a) g) g
              x <- x + ((-lr) g) / (sqrt(v) + eps)
    SGD       b <- g at t = 1, b <- b mu + g after (momentum mu > 0; b = g when mu = 0)
              x <- x + (-lr) b

t counts the steps a restart has taken (1 at its first). torch.optim computes the same
expressions but its kernels fuse some multiply-adds depending on where an element lies in the
tensor (the vectorized body or the tail), so its own results depend on the batch; the tests
compare the two to rounding and this module to a NumPy transcription of the rules to the bit.

One step of the loop: every live restart's loss and gradient in one oracle call; a restart whose
largest gradient component is below `gtol` stops where it is (that point was evaluated), every
other one takes its step; a restart stops for good once it has stopped or its budget cannot pay
for another gradient. The chunk's final points are the restarts' current points: a restart that
stepped after its last evaluation ends at a point the oracle evaluates once more to score it
(docs/scoring.md). The per-step Python work is a constant number of tensor operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

METHODS = ("adam", "rmsprop", "sgd")


@dataclass(frozen=True)
class FirstOrder:
    """A fused first-order method; `method` is one of METHODS, the rest its hyper-parameters."""

    method: str
    lr: float
    gtol: float = 1e-8
    betas: tuple[float, float] = (0.9, 0.999)  # adam
    eps: float = 1e-8  # adam, rmsprop
    alpha: float = 0.99  # rmsprop
    momentum: float = 0.0  # sgd

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        for name in ("lr", "gtol", "eps"):
            value = getattr(self, name)
            _check(
                isinstance(value, int | float) and math.isfinite(value) and value >= 0,
                f"{name} must be a finite number >= 0, not {value!r}",
            )
        _check(0 <= self.alpha < 1, f"alpha must lie in [0, 1), not {self.alpha!r}")
        _check(0 <= self.momentum < 1, f"momentum must lie in [0, 1), not {self.momentum!r}")
        betas = tuple(self.betas)
        _check(
            len(betas) == 2 and all(isinstance(b, int | float) and 0 <= b < 1 for b in betas),
            f"betas must be two numbers in [0, 1), not {self.betas!r}",
        )
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        for name in ("lr", "gtol", "eps", "alpha", "momentum"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def __call__(self, oracle, x0: torch.Tensor, generators) -> torch.Tensor:
        x = x0.detach().clone()
        restarts = x.shape[0]
        device = x.device
        first = torch.zeros_like(x)  # m (adam), the momentum buffer (sgd)
        second = torch.zeros_like(x)  # v (adam, rmsprop)
        all_rows = torch.arange(restarts)
        live = oracle.can_evaluate_grad(all_rows).cpu()
        step = 0
        while bool(live.any()):
            rows = all_rows[live]
            rows = rows[oracle.can_evaluate_grad(rows).cpu()]
            if rows.numel() == 0:
                break
            whole = rows.numel() == restarts  # every row evaluated: no gather
            on_device = rows.to(device)
            _, grad = oracle.loss_and_grad(x if whole else x[on_device], rows)
            moving = ~(grad.abs().amax(dim=1) < self.gtol)  # a NaN gradient moves (to NaN)
            step += 1
            if whole and bool(moving.all()):
                self._step(x, first, second, grad.to(device), step)  # in place
            else:
                movers = on_device[moving.to(device)]
                rows_x, rows_first, rows_second = x[movers], first[movers], second[movers]
                self._step(rows_x, rows_first, rows_second, grad[moving].to(device), step)
                x[movers], first[movers], second[movers] = rows_x, rows_first, rows_second
            live = torch.zeros(restarts, dtype=torch.bool)
            live[rows[moving.cpu()]] = True
            live &= oracle.can_evaluate_grad(all_rows).cpu()
        return x

    def _step(self, x, first, second, g, t: int) -> None:
        """One step of the rule at step t, in place on these rows' x, first and second (each
        operation as in the module docstring, in the same order)."""
        if self.method == "adam":
            beta1, beta2 = self.betas
            first.add_(torch.sub(g, first).mul_(1.0 - beta1))
            second.mul_(beta2).add_(torch.mul(g, 1.0 - beta2).mul_(g))
            step_size = self.lr / (1.0 - beta1 ** float(t))
            root = math.sqrt(1.0 - beta2 ** float(t))
            denominator = torch.sqrt(second).div_(root).add_(self.eps)
            x.add_(torch.mul(first, -step_size).div_(denominator))
        elif self.method == "rmsprop":
            second.mul_(self.alpha).add_(torch.mul(g, 1.0 - self.alpha).mul_(g))
            x.add_(torch.mul(g, -self.lr).div_(torch.sqrt(second).add_(self.eps)))
        elif self.momentum == 0.0:
            x.add_(torch.mul(g, -self.lr))
        else:
            if t == 1:
                first.copy_(g)
            else:
                first.mul_(self.momentum).add_(g)
            x.add_(torch.mul(first, -self.lr))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
