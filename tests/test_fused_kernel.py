"""Arithmetic 2: the compiled fused kernel, its torch mirror, and their agreement with the
references (NumPy from the definitions, the torch closed form, libm's sin and cos)."""

import json

import numpy as np
import pytest
import torch

from qnntraps.harness import results
from qnntraps.harness.runner import RunSettings, RunSettingsError, run
from qnntraps.oracles.budget import Budget
from qnntraps.simulators import compile, fused_product, native, torch_product
from qnntraps.simulators.product_form import product_form_loss
from tests.test_simulators import random_product_instance

# one of each input kind and structure: plain and coupled constructions (S = 1 and 3), label
# noise, and encoded features (one term over all p parameters)
PRODUCT_IDS = (
    "construction-p8-v1",
    "construction-coupled-p12-v1",
    "construction-coupled-p8-noise0.1-v1",
    "separable-p8-v1",
    "separable-p12-v1",  # S = 12: two samples at a time in the kernel
    "separable-p4-flip0.1-v1",
)

needs_kernel = pytest.mark.skipif(native.library() is None, reason="no C compiler here")


def angles(rng) -> np.ndarray:
    """theta where sin 2 theta and cos 2 theta are hard: quadrant edges, zeros, the fmod switch."""
    edges = np.pi / 4 * np.arange(-40, 41)
    return np.concatenate(
        [
            rng.uniform(-10, 10, 20_000),
            rng.uniform(-2.6e5, 2.6e5, 2000),
            rng.uniform(-1e12, 1e12, 2000),
            edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),
            [0.0, -0.0, 5e-324, 1e-300, 262143.9, 262144.0, 262144.1, -262144.1, 1e300],
        ]
    )  # fmt: skip


@needs_kernel
def test_kernel_and_mirror_compute_the_same_sines_and_cosines_bit_for_bit(rng):
    theta = angles(rng)
    sin, cos = fused_product.native_sincos2(theta)
    mirror_sin, mirror_cos = fused_product.sincos2(torch.from_numpy(theta))
    assert np.array_equal(sin, mirror_sin.numpy())
    assert np.array_equal(cos, mirror_cos.numpy())


def test_sines_and_cosines_are_libms_to_an_ulp_of_one_and_nan_beyond_the_finite(rng):
    theta = angles(rng)
    sin, cos = (v.numpy() for v in fused_product.sincos2(torch.from_numpy(theta)))
    x = 2.0 * theta
    reduced = np.abs(x) <= fused_product.LARGE  # Cody-Waite: as good as libm
    assert np.abs(sin - np.sin(x))[reduced].max() <= 2.3e-16
    assert np.abs(cos - np.cos(x))[reduced].max() <= 2.3e-16
    # beyond: fmod by the double nearest 2 pi, exact, then the same; the angle is off by at
    # most |x| * (2 pi - TWO_PI) / (2 pi) < ulp(x) / 2, so the error stays below x's own ulp
    far = ~reduced
    bound = np.abs(x[far]) * 4e-17 + 2.3e-16
    assert np.all(np.abs(sin - np.sin(x))[far] <= bound)
    assert np.all(np.abs(cos - np.cos(x))[far] <= bound)
    special = torch.tensor([np.inf, -np.inf, np.nan], dtype=torch.float64)
    assert all(torch.isnan(v).all() for v in fused_product.sincos2(special))


@pytest.mark.parametrize("instance_id", PRODUCT_IDS)
def test_fused_values_are_the_references_to_1e_13(load, rng, instance_id):
    instance = load(instance_id)
    form = compile(instance, "cpu", arithmetic=1).form
    fused = fused_product.fuse(form)
    theta = rng.uniform(-np.pi, np.pi, (257, instance.num_parameters))
    batch = torch.from_numpy(theta)
    value, grad = fused_product.loss_and_grad(fused, batch)
    reference = product_form_loss(form, theta)  # NumPy, from the definitions
    assert np.allclose(value.numpy(), reference, rtol=1e-13, atol=1e-300)
    torch_value, torch_grad = torch_product.loss_and_grad(torch_product.to_torch(form), batch)
    scale = torch_grad.abs().max(dim=1, keepdim=True).values
    assert torch.all((grad - torch_grad).abs() <= 1e-13 * scale)
    assert torch.allclose(value, torch_value, rtol=1e-13, atol=0)
    yhat = fused_product.predictions(fused, batch)
    assert torch.allclose(yhat, torch_product.predictions(torch_product.to_torch(form), batch),
                          rtol=1e-13, atol=1e-15)  # fmt: skip


@needs_kernel
@pytest.mark.parametrize("instance_id", PRODUCT_IDS)
def test_kernel_and_mirror_agree_bit_for_bit_on_every_output(load, rng, instance_id):
    instance = load(instance_id)
    fused = fused_product.fuse(compile(instance, "cpu", arithmetic=1).form)
    theta = torch.from_numpy(rng.uniform(-7, 7, (203, instance.num_parameters)))
    yhat, value, grad = fused_product._native(native.library(), fused, theta, True, True)
    mirror = fused_product._mirror(fused, theta, True, torch_product.DEFAULT_CHUNK_BYTES)
    assert torch.equal(yhat, mirror[0]) and torch.equal(value, mirror[1])
    assert torch.equal(grad, mirror[2])


@pytest.mark.parametrize("encoded, n", [(False, 5), (True, 5), (True, 9)])
def test_random_product_models_with_several_terms_agree(rng, encoded, n):
    """Random rotation layers, observables and inputs: several terms per sample (J > 1),
    mixed supports, or one long term (S = 9 > 8: the kernel's paired samples, 7 of them, so
    one is left alone); kernel, mirror and torch closed form."""
    instance = random_product_instance(rng, n, encoded)
    form = compile(instance, "cpu", arithmetic=1).form
    fused = fused_product.fuse(form)
    theta = torch.from_numpy(rng.uniform(-4, 4, (37, instance.num_parameters)))
    value, grad = fused_product.loss_and_grad(fused, theta)
    mirror = fused_product._mirror(fused, theta, True, torch_product.DEFAULT_CHUNK_BYTES)
    assert torch.equal(value, mirror[1]) and torch.equal(grad, mirror[2])
    torch_value, torch_grad = torch_product.loss_and_grad(torch_product.to_torch(form), theta)
    assert torch.allclose(value, torch_value, rtol=1e-13, atol=1e-16)
    assert torch.allclose(grad, torch_grad, rtol=1e-12, atol=1e-14)


def test_a_restarts_numbers_do_not_depend_on_its_batch(load, rng):
    """Every batch size and position (lane tails, R = 1, R = 0) gives the same bits."""
    instance = load("construction-coupled-p12-v1")
    fused = fused_product.fuse(compile(instance, "cpu", arithmetic=1).form)
    theta = torch.from_numpy(rng.uniform(-3, 3, (23, 12)))
    value, grad = fused_product.loss_and_grad(fused, theta)
    for start, stop in ((0, 1), (5, 6), (3, 10), (7, 23), (1, 22)):
        part_value, part_grad = fused_product.loss_and_grad(fused, theta[start:stop])
        assert torch.equal(part_value, value[start:stop])
        assert torch.equal(part_grad, grad[start:stop])
    shuffled = torch.randperm(23, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fused_product.loss(fused, theta[shuffled]), value[shuffled])
    empty_value, empty_grad = fused_product.loss_and_grad(fused, theta[:0])
    assert empty_value.shape == (0,) and empty_grad.shape == (0, 12)
    with pytest.raises(TypeError, match="float64"):
        fused_product.loss(fused, theta.float())


def test_without_the_kernel_the_mirror_gives_the_same_numbers(load, rng, monkeypatch):
    instance = load("separable-p8-v1")
    evaluator = compile(instance, "cpu", arithmetic=2)
    theta = torch.from_numpy(rng.uniform(-3, 3, (19, 8)))
    value, grad = evaluator.loss_and_grad(theta)
    monkeypatch.setenv(native.ENVIRONMENT_SWITCH, "0")
    assert native.library() is None and native.status().startswith("torch mirror")
    mirror_value, mirror_grad = evaluator.loss_and_grad(theta)
    assert torch.equal(value, mirror_value) and torch.equal(grad, mirror_grad)


def test_a_failed_build_falls_back_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "LIBRARY_DIR", tmp_path / "native")
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    with pytest.raises(native.NativeBuildError, match="false failed"):
        native.build()
    assert native.library() is None
    assert "cannot be built" in native.status()
    assert not any((tmp_path / "native").glob("*.so*"))  # no partial library left behind


def test_arithmetics_are_named_and_checked(load):
    instance = load("construction-p4-v1")
    assert compile(instance, "cpu").arithmetic == 1  # compile's default: plain torch
    assert compile(instance, "cpu", arithmetic=2).arithmetic == 2
    with pytest.raises(ValueError, match="arithmetic must be one of 1, 2"):
        compile(instance, "cpu", arithmetic=3)


def test_runs_record_their_arithmetic_and_resume_only_in_it(load, tmp_path):
    instance = load("construction-coupled-p6-v1")

    def settings(arithmetic):
        return RunSettings("adam", {}, Budget(grad_evals=30), 4, arithmetic=arithmetic)

    run(instance, settings(2), tmp_path / "two")
    run(instance, settings(1), tmp_path / "one")
    config = json.loads((tmp_path / "two" / results.CONFIG).read_text())
    assert config["arithmetic"] == 2 and config["format"] == "qnntraps-run/4"
    two = results.read_records(tmp_path / "two" / results.RECORDS)
    one = results.read_records(tmp_path / "one" / results.RECORDS)
    # the same trajectories to rounding, not to the bit: the arithmetic is part of the run
    for r in range(4):
        assert np.allclose(two[r]["x"], one[r]["x"], rtol=0, atol=1e-9)
    with pytest.raises(results.RunFolderError, match="arithmetic"):
        run(instance, settings(1), tmp_path / "two")
    with pytest.raises(RunSettingsError, match="--arithmetic"):
        run(instance, settings(0), tmp_path / "three")
    assert not (tmp_path / "three").exists()
