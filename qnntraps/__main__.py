"""`python -m qnntraps` is the `qnntraps` command."""

from qnntraps.cli import main

main()
