"""`python -m kfshell` runs the same entry point as the `kf` console script."""

from kfshell.cli import run

run()
