"""Architecture YAML, read with a safe loader only.

Keras 2 wrote YAML with ``yaml.dump``, so old files carry Python tags that only hold data:
``!!python/tuple`` (read as a list), ``!!python/unicode`` and ``!!python/str`` (Python 2 era,
read as the string) and TensorFlow's ``ListWrapper`` (tf.keras list arguments, read as the
list). They are matched by exact tag: nothing is imported or constructed. Any other Python tag
could construct objects or run code when loaded unsafely: it is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..artifact import ModelArtifact
from ..errors import CorruptFileError, UnsafeContentError
from ..io import atomic_path, check_output
from ..kinds import Kind
from .config_json import artifact_from_raw, config_for_file, load_text

KIND = Kind.YAML
EXTENSIONS = (".yaml", ".yml")

#: Tags Keras wrote for plain sequences (``yaml.dump`` of a tuple).
_LIST_TAGS = ("tag:yaml.org,2002:python/tuple",)

#: Python 2 era string tags: the scalar is the string.
_STRING_TAGS = ("tag:yaml.org,2002:python/unicode", "tag:yaml.org,2002:python/str")

#: tf.keras list attributes (a BatchNormalization axis) dumped as TensorFlow's ListWrapper:
#: ``!!python/object/apply:<module>.ListWrapper`` whose single argument is the list itself.
#: Matched by exact tag; nothing is imported or constructed.
_LIST_WRAPPER_TAGS = tuple(
    f"tag:yaml.org,2002:python/object/{how}:tensorflow.python.{where}.data_structures."
    "ListWrapper"
    for how in ("apply", "new")
    for where in ("training.tracking", "trackable"))


class _KerasYamlLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader plus the data-only tags old Keras wrote; nothing that builds objects."""


def _as_list(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(loader.construct_sequence(node, deep=True))
    raise yaml.constructor.ConstructorError(None, None, f"unexpected tag {node.tag}",
                                            node.start_mark)


def _as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(loader.construct_scalar(node))
    raise yaml.constructor.ConstructorError(None, None, f"unexpected tag {node.tag}",
                                            node.start_mark)


def _wrapped_list(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    """The list a ListWrapper holds: its one constructor argument (sequence form), or ``args``
    / ``listitems`` (mapping form)."""
    args: Any = None
    if isinstance(node, yaml.SequenceNode):
        args = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        fields = loader.construct_mapping(node, deep=True)
        if set(fields) <= {"args", "listitems"}:
            args = fields.get("args") or [fields.get("listitems") or []]
    if isinstance(args, list) and len(args) == 1 and isinstance(args[0], list):
        return list(args[0])
    if isinstance(args, list) and not args:
        return []
    raise yaml.constructor.ConstructorError(None, None, f"unexpected form of tag {node.tag}",
                                            node.start_mark)


for _tag in _LIST_TAGS:
    _KerasYamlLoader.add_constructor(_tag, _as_list)
for _tag in _STRING_TAGS:
    _KerasYamlLoader.add_constructor(_tag, _as_string)
for _tag in _LIST_WRAPPER_TAGS:
    _KerasYamlLoader.add_constructor(_tag, _wrapped_list)


def sniff_kind(path: str | os.PathLike[str]) -> str | None:
    """``yaml`` when the head of the text has a ``class_name:`` key."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if b"\x00" in head or head.lstrip().startswith(b"{"):
        return None
    if b"class_name:" in head:
        return KIND
    return None


def read_config_yaml(path: str | os.PathLike[str]) -> ModelArtifact:
    """Read an architecture YAML file through a safe loader.

    Raises:
        UnsafeContentError: the YAML asks to construct a Python object.

    Example:
        >>> art = read_config_yaml("model.yaml")  # doctest: +SKIP
    """
    display = os.fspath(path)
    text = load_text(path)
    try:
        raw = yaml.load(text, Loader=_KerasYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.constructor.ConstructorError as err:
        tag = str(getattr(err, "problem", "") or err)
        if "python/" in tag or "!!python" in text:
            raise UnsafeContentError(f"YAML uses a Python object tag ({_first_line(tag)})",
                                     path=display,
                                     hint="modeltool never constructs objects from YAML") from err
        raise CorruptFileError(f"YAML cannot be read ({_first_line(tag)})", path=display) from err
    except yaml.YAMLError as err:
        raise CorruptFileError(f"not valid YAML ({_first_line(str(err))})", path=display) from err
    except RecursionError as err:
        raise CorruptFileError("YAML is nested too deeply", path=display) from err
    return artifact_from_raw(raw, KIND, Path(path))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:160] if text.strip() else "unknown error"


def write_config_yaml(artifact: ModelArtifact, path: str | os.PathLike[str], *,
                      force: bool = False) -> Path:
    """Write the architecture as YAML with ``yaml.safe_dump`` (plain lists and maps only)."""
    out = check_output(path, force=force)
    text = dump_config_yaml(config_for_file(artifact))
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def dump_config_yaml(config: dict[str, Any]) -> str:
    """A config as YAML text: ``yaml.safe_dump`` (plain lists and maps only), keys in order."""
    return str(yaml.safe_dump(config, sort_keys=False))
