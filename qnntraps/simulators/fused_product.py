"""The exact track's product-form arithmetic (arithmetic 2): a fused C kernel and its torch mirror.

Both compute the loss, gradient and predictions of product_form.py's closed form with the same
operations in the same order, so they agree bit for bit (the tests check it on every product
instance): sin and cos of 2 theta by one fixed polynomial (fused_product.c's qn_sincos), sums
in a fixed order from 0.0 (over terms, over samples, and the gradient's contributions in the order
of the flattened (sample, term, slot) index), no fused multiply-add. The compiled kernel
(native.py) runs on the CPU when it could be built; the mirror runs otherwise, and on CUDA
(where cumsum's order is the device's, so results agree with the CPU's to rounding only).

Every restart's numbers depend on its own parameter vector only, never on the batch it came in,
its size or position, the SIMD width or the number of processes.

Arithmetic 1 is torch_product.py (torch's own sin, cos and reductions): the arithmetic of runs
(and their scores) recorded before arithmetic 2, which verification repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.simulators import native
from qnntraps.simulators.product_form import ProductForm
from qnntraps.simulators.torch_product import (
    DEFAULT_CHUNK_BYTES,
    TorchProductForm,
    _chunks,
    _exclusive_products,
    _scatter_to_parameters,
    to_torch,
)

# The constants of fused_product.c, digit for digit.
TWO_OVER_PI = 6.36619772367581382433e-01
PIO2_1 = 1.57079632673412561417e00
PIO2_2 = 6.07710050630396597660e-11
PIO2_3 = 2.02226624879595063154e-21
LARGE = 524288.0
TWO_PI = 6.28318530717958623200e00
S1, S2, S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
S4, S5, S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
C1, C2, C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
C4, C5, C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11

assert TWO_PI == 2.0 * math.pi


def sincos2(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sin 2 theta and cos 2 theta, as qn_sincos computes them (within 1 ulp of libm's)."""
    x = 2.0 * theta
    large = torch.abs(x) > LARGE
    if bool(large.any()):
        x = torch.where(large, torch.fmod(x, TWO_PI), x)
    k = torch.round(x * TWO_OVER_PI)
    r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3
    z = r * r
    v = z * r
    sin_r = r + v * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))))
    cos_poly = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))))
    half = 0.5 * z
    w = 1.0 - half
    cos_r = w + (((1.0 - w) - half) + z * cos_poly)
    quadrant = k - 4.0 * torch.floor(k * 0.25)
    odd = (quadrant == 1.0) | (quadrant == 3.0)
    sin_value = torch.where(odd, cos_r, sin_r)
    cos_value = torch.where(odd, sin_r, cos_r)
    sin_value = torch.where((quadrant == 2.0) | (quadrant == 3.0), -sin_value, sin_value)
    cos_value = torch.where((quadrant == 1.0) | (quadrant == 2.0), -cos_value, cos_value)
    return sin_value, cos_value


def _ordered_sum(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum along dim from 0.0, left to right (cumsum's order on the CPU)."""
    return torch.cumsum(values, dim=dim).select(dim, -1)


FORM_ARRAYS = ("offset", "weights", "support", "a", "b", "c", "labels")  # the kernel's order


@dataclass(frozen=True, eq=False)
class FusedProductForm:
    """A ProductForm for arithmetic 2: C-contiguous NumPy arrays for the kernel, tensors for the
    mirror (on the evaluator's device). `addresses` are the kernel's pointers to the form's
    seven arrays (offset, weights, support, a, b, c, labels), taken once when it is made: they
    stay valid while `form` holds the arrays."""

    form: ProductForm
    tensors: TorchProductForm
    addresses: tuple[int, ...]

    @property
    def device(self) -> torch.device:
        return self.tensors.device


def fuse(form: ProductForm, device: str | torch.device = "cpu") -> FusedProductForm:
    arrays = {name: np.ascontiguousarray(getattr(form, name)) for name in FORM_ARRAYS}
    contiguous = ProductForm(num_parameters=form.num_parameters, **arrays)
    addresses = tuple(arrays[name].ctypes.data for name in FORM_ARRAYS)
    return FusedProductForm(contiguous, to_torch(contiguous, device), addresses)


def _mirror_chunk(form: TorchProductForm, theta: torch.Tensor, want_grad: bool):
    sin, cos = sincos2(theta)
    cos_s, sin_s = cos[:, form.support], sin[:, form.support]
    factors = (form.a + form.b * cos_s) + form.c * sin_s
    prefix, suffix = _exclusive_products(factors)
    terms = (form.weights * prefix[..., -1]) * factors[..., -1]  # (R, m, J)
    yhat = form.offset + _ordered_sum(terms, 2)
    residual = yhat - form.labels
    m = residual.shape[1]
    loss = _ordered_sum(residual * residual, 1) / m
    if not want_grad:
        return yhat, loss, None
    dfactors = 2.0 * (form.c * cos_s - form.b * sin_s)
    per_slot = (2.0 / m) * residual[:, :, None, None] * form.weights[..., None] * prefix * suffix
    return yhat, loss, _scatter_to_parameters(form, per_slot * dfactors)


def _mirror(fused: FusedProductForm, theta: torch.Tensor, want_grad: bool, chunk_bytes: int):
    parts = [
        _mirror_chunk(fused.tensors, t, want_grad)
        for t in _chunks(fused.tensors, theta, chunk_bytes)
    ]
    yhat = torch.cat([part[0] for part in parts])
    loss = torch.cat([part[1] for part in parts])
    grad = torch.cat([part[2] for part in parts]) if want_grad else None
    return yhat, loss, grad


def _native(lib, fused: FusedProductForm, theta: torch.Tensor, want_grad: bool, want_yhat: bool):
    form = fused.form
    batch = theta.detach().contiguous()
    rows, (m, terms, slots) = batch.shape[0], form.a.shape
    loss = torch.empty(rows, dtype=torch.float64)
    grad = torch.empty(rows, form.num_parameters, dtype=torch.float64) if want_grad else None
    yhat = torch.empty(rows, m, dtype=torch.float64) if want_yhat else None
    code = lib.qn_product_form(
        rows, m, terms, slots, form.num_parameters, *fused.addresses, batch.data_ptr(),
        loss.data_ptr(), None if grad is None else grad.data_ptr(),
        None if yhat is None else yhat.data_ptr(),
    )  # fmt: skip
    if code != 0:
        raise MemoryError("the fused product-form kernel could not allocate its work area")
    return yhat, loss, grad


def _evaluate(fused: FusedProductForm, theta: torch.Tensor, want_grad: bool, want_yhat: bool,
              chunk_bytes: int):  # fmt: skip
    if theta.dtype != torch.float64:
        raise TypeError(f"theta must be float64, not {theta.dtype}")
    lib = native.library() if theta.device.type == "cpu" else None
    if lib is not None:
        return _native(lib, fused, theta, want_grad, want_yhat)
    return _mirror(fused, theta, want_grad, chunk_bytes)


def predictions(fused: FusedProductForm, theta: torch.Tensor,
                chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> torch.Tensor:  # fmt: skip
    """y_hat (R, m) for theta (R, p)."""
    return _evaluate(fused, theta, False, True, chunk_bytes)[0]


def loss(fused: FusedProductForm, theta: torch.Tensor,
         chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> torch.Tensor:  # fmt: skip
    """Mean square loss (R,) for theta (R, p)."""
    return _evaluate(fused, theta, False, False, chunk_bytes)[1]


def loss_and_grad(fused: FusedProductForm, theta: torch.Tensor,
                  chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Loss (R,) and gradient (R, p) for theta (R, p)."""
    _, value, grad = _evaluate(fused, theta, True, False, chunk_bytes)
    return value, grad


def native_sincos2(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The kernel's own sin 2 theta and cos 2 theta (None without the kernel); for the tests."""
    lib = native.library()
    if lib is None:
        return None
    values = np.ascontiguousarray(theta, dtype=np.float64).reshape(-1)
    sin, cos = np.empty_like(values), np.empty_like(values)
    lib.qn_sincos2(values.size, values.ctypes.data, sin.ctypes.data, cos.ctypes.data)
    return sin.reshape(np.shape(theta)), cos.reshape(np.shape(theta))
