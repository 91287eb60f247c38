"""Optimizers the harness can run: built-in baselines and adapters for the three plug-in kinds."""
