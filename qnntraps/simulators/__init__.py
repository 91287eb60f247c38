"""Exact simulators: a dense NumPy reference (checks only) and the fast product-form backend."""
