"""``python -m modeltool``."""

from modeltool.cli import run

run()
