"""``custom_objects`` of the verbs: the user's classes, loaded only when given (see
``keras_bridge.custom_objects``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

#: A ``.py`` file defining (and registering) the classes, or a ``{name: object}`` map.
CustomObjects = str | os.PathLike[str] | Mapping[str, Any] | None


@contextmanager
def custom_scope(objects: CustomObjects) -> Iterator[set[str]]:
    """Within the block Keras sees ``objects``; yields the class names they provide. None
    imports nothing and provides nothing."""
    if objects is None:
        yield set()
        return
    from ..keras_bridge.custom_objects import custom_objects_scope, known_names

    with custom_objects_scope(objects) as found:
        yield known_names(found)
