"""Instance families: generators that turn documented seeds into Instances.

docs/construction.md and docs/separable.md define them.
"""
