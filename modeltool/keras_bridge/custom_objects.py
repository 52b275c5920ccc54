"""The user's own layers and functions, loaded only when asked (``--custom-objects FILE.py``).

Keras takes ``custom_objects={"Name": cls}`` when it loads a model; modeltool takes the Python
file that defines (and usually registers) those classes, runs it once, and makes what it
defines visible to every Keras load of the command through ``keras.saving.
custom_object_scope``. Nothing is ever imported implicitly: without the option, a class
Keras 3 lacks is refused as before.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import _optional
from ..errors import InputNotFoundError, KerasError, UnsupportedError

#: Files already run in this process: (path, mtime) -> what they defined.
_LOADED: dict[tuple[str, int], dict[str, Any]] = {}

#: What the ``custom_objects`` argument of the API accepts.
CustomObjects = str | os.PathLike[str] | Mapping[str, Any] | None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:240]


def load_custom_objects(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Run the Python file ``path`` (the user's code, on the user's request) and return what it
    defines: every class and function whose ``__module__`` is that file, by name, plus every
    object it registered with ``keras.saving.register_keras_serializable`` (by its registered
    name, ``package>Name``)."""
    keras = _optional.require("keras", "loading custom objects")
    source = Path(path)
    if not source.is_file():
        raise InputNotFoundError("custom objects file not found", path=os.fspath(path))
    if source.suffix != ".py":
        raise UnsupportedError("custom objects must be a Python file (.py)", path=os.fspath(path))
    stamp = (os.fspath(source.resolve()), source.stat().st_mtime_ns)
    if stamp in _LOADED:  # the same file, unchanged: run it once per process
        return dict(_LOADED[stamp])
    digest = hashlib.sha1(os.fsencode(source.resolve())).hexdigest()[:12]
    name = f"modeltool_custom_objects_{digest}"
    registry = keras.saving.get_custom_objects()
    before = dict(registry)
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise UnsupportedError("cannot load this file as Python", path=os.fspath(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's code may raise anything
        sys.modules.pop(name, None)
        raise KerasError(f"custom objects file failed to run: {type(err).__name__}: "
                         f"{_first_line(err)}", path=os.fspath(path)) from err
    found: dict[str, Any] = {}
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) \
                and getattr(value, "__module__", None) == name:
            found[attr] = value
    for key, value in registry.items():
        if before.get(key) is not value:
            found[key] = value
    _LOADED[stamp] = found
    return dict(found)


@contextmanager
def custom_objects_scope(objects: CustomObjects) -> Iterator[dict[str, Any]]:
    """Within the block, Keras loads see ``objects`` (a ``.py`` path or a name -> object map);
    None does nothing and imports nothing."""
    if objects is None:
        yield {}
        return
    keras = _optional.require("keras", "loading custom objects")
    found = dict(objects) if isinstance(objects, Mapping) else load_custom_objects(objects)
    aliases = {}
    for key, value in found.items():
        # A config may name a registered class by its bare name (a legacy .h5 has no
        # registered_name) or by its registered name.
        aliases[key.split(">", 1)[-1]] = value
        if getattr(value, "__name__", None):
            aliases.setdefault(value.__name__, value)
    with keras.saving.custom_object_scope({**aliases, **found}):
        yield found


def known_names(objects: Mapping[str, Any]) -> set[str]:
    """Every name a config may use for these objects: the keys, ``Name`` of ``package>Name``,
    and each class's own ``__name__``."""
    names = set(objects)
    names |= {key.split(">", 1)[1] for key in objects if ">" in key}
    names |= {getattr(value, "__name__", "") for value in objects.values()}
    return {name for name in names if name}
