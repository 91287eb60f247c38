"""Simulators: `compile(instance, device)` returns the cheapest exact Evaluator (evaluator.py)."""

from qnntraps.simulators.evaluator import Evaluator, compile  # noqa: A004

__all__ = ["Evaluator", "compile"]
