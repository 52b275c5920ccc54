"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

#: ``--custom-objects FILE.py``: the user's own layers, run only when given (like Keras'
#: ``custom_objects``).
custom_objects_option: Callable[[Any], Any] = click.option(
    "--custom-objects", "custom_objects", type=click.Path(path_type=str), default=None,
    metavar="FILE.py",
    help="Python file defining (and registering) the model's custom layers and functions; "
         "it is run (trusted code only). Without it nothing is ever imported.")
