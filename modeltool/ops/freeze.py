"""``freeze``: set ``trainable`` in a model's architecture, without touching its weight bytes.

A ``.keras`` archive is rewritten member by member: ``config.json`` is replaced and every other
member (the weights) is copied as raw bytes. A legacy ``.h5`` file is copied and only attributes
are rewritten in the copy: ``model_config``, and the ``weight_names`` order of a layer holding a
model when its trainable weights change (Keras lists those first). Both go through a temporary
file beside the output, so a failure leaves nothing behind and the input is never modified
(``--in-place`` replaces it atomically).

The flags are edited in the file's own config dialect (Keras 1, 2 or 3), as Keras' setter would
leave them: freezing a layer that holds a model freezes every layer inside it; unfreezing a layer
inside a frozen model makes the enclosing models trainable again and freezes their other layers,
so nothing else starts training. A frozen BatchNormalization runs in inference mode in Keras, so
the report flags those layers.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shutil
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import h5py
import numpy as np

from ..artifact import MODEL_CLASSES, ModelArtifact, WeightEntry
from ..errors import CorruptFileError, IntegrityError, ModelToolError, UnsupportedError
from ..formats import _zip
from ..formats._layout import NON_TRAINABLE_CLASSES, NON_TRAINABLE_WEIGHT_NAMES
from ..io import atomic_path, check_output, check_space, wrote
from ..kinds import Kind

if TYPE_CHECKING:  # pragma: no cover
    import keras

PathLike = str | os.PathLike[str]

_REGEX_PREFIX = "re:"
_WRAPPERS = frozenset({"Bidirectional", "TimeDistributed"})
_BATCHNORM = frozenset({"BatchNormalization", "SyncBatchNormalization"})
_CONFIG_MEMBER = "config.json"
_COPY_CHUNK = 16 << 20
_DATA_DESCRIPTOR_FLAG = 0x08
SUPPORTED_KINDS = (Kind.KERAS, Kind.H5)


@dataclass(frozen=True)
class ParamCounts:
    """Trainable and non-trainable parameter totals."""

    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


@dataclass(frozen=True)
class FreezeRow:
    """One layer whose ``trainable`` flag changed (``trainable_*`` are effective: a layer
    inside a frozen model is frozen whatever its own flag says)."""

    path: str
    class_name: str
    trainable_before: bool
    trainable_after: bool
    params: int
    batchnorm: bool


@dataclass
class FreezeReport:
    """What ``freeze`` changed.

    Attributes:
        source: the input file (``<keras.Model NAME>`` for a live model).
        kind: the file kind (also the output's).
        output: the file written (the input itself with ``in_place``; None for a live model).
        rows: every layer whose own flag changed, in model order.
        before, after: parameter totals.
        notes: what else the user should know (BatchNormalization, unfrozen enclosing models).
    """

    source: str
    kind: str
    output: str | None
    in_place: bool
    rows: list[FreezeRow]
    before: ParamCounts
    after: ParamCounts
    notes: list[str] = field(default_factory=list)

    @property
    def frozen(self) -> list[str]:
        return [r.path for r in self.rows if r.trainable_before and not r.trainable_after]

    @property
    def unfrozen(self) -> list[str]:
        return [r.path for r in self.rows if r.trainable_after and not r.trainable_before]

    @property
    def batchnorm(self) -> list[str]:
        """BatchNormalization layers frozen by this run (they now run in inference mode)."""
        return [r.path for r in self.rows if r.batchnorm and not r.trainable_after]


# ---------------------------------------------------------------------------------------------
# The layer tree (from a config of any dialect, or from a live model)
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Node:
    path: str
    class_name: str
    weight_class: str
    holders: list[Any]
    own: bool
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)

    def walk(self) -> Iterator[_Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def ancestors(self) -> list[_Node]:
        found = []
        node = self.parent
        while node is not None:
            found.append(node)
            node = node.parent
        return found[::-1]


def _layer_name(layer: dict[str, Any]) -> str:
    config = layer.get("config")
    name = layer.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return str(name or "")


def _model_layers(model: dict[str, Any]) -> list[dict[str, Any]]:
    config = model.get("config")
    layers = config if isinstance(config, list) else (
        config.get("layers") if isinstance(config, dict) else None)
    return [layer for layer in layers or [] if isinstance(layer, dict)
            and not str(layer.get("module") or "").startswith(("keras.src.ops", "keras.ops"))]


def _flag(holder: dict[str, Any]) -> bool:
    return bool(holder.get("trainable", True))


def _config_node(layer: dict[str, Any], path: str, parent: _Node | None) -> _Node:
    class_name = str(layer.get("class_name"))
    config = layer.get("config")
    holders = [config] if isinstance(config, dict) else []
    weight_class = class_name
    model = layer if class_name in MODEL_CLASSES else None
    if class_name in _WRAPPERS and isinstance(config, dict):
        for key in ("layer", "backward_layer"):
            inner = config.get(key)
            if isinstance(inner, dict):
                if isinstance(inner.get("config"), dict):
                    holders.append(inner["config"])
                if key == "layer":
                    weight_class = str(inner.get("class_name"))
                    if inner.get("class_name") in MODEL_CLASSES:
                        model = inner
    own = _flag(holders[0]) if holders else True
    node = _Node(path, class_name, weight_class, holders, own, parent)
    if model is not None:
        for inner_layer in _model_layers(model):
            child_path = f"{path}/{_layer_name(inner_layer)}" if path else _layer_name(inner_layer)
            node.children.append(_config_node(inner_layer, child_path, node))
    return node


def _top_layers(root: _Node, sequential: bool) -> list[_Node]:
    """``model.layers``: a Sequential hides its InputLayer."""
    return [n for n in root.children if not (sequential and n.class_name == "InputLayer")]


def _live_node(layer: Any, path: str, parent: _Node | None) -> _Node:
    wrapped = getattr(layer, "layer", None)
    weight_class = type(wrapped).__name__ if wrapped is not None and \
        type(layer).__name__ in _WRAPPERS else type(layer).__name__
    node = _Node(path, type(layer).__name__, weight_class, [layer], bool(layer.trainable),
                 parent)
    inner = getattr(layer, "layers", None)
    if inner is None and wrapped is not None and hasattr(wrapped, "layers"):
        inner = wrapped.layers
    for sub in inner or []:
        node.children.append(_live_node(sub, f"{path}/{sub.name}" if path else sub.name, node))
    return node


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------


def match_pattern(pattern: str, path: str) -> bool:
    """NAME (exact), GLOB (``*``, ``?``, ``[...]``; ``*`` also crosses ``/``) or ``re:REGEX``
    (the whole path must match), against a layer path such as ``vision_model/conv2d_1``."""
    if pattern.startswith(_REGEX_PREFIX):
        return re.fullmatch(pattern[len(_REGEX_PREFIX):], path) is not None
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(path, pattern)
    return pattern == path


def _select(nodes: list[_Node], patterns: Iterable[str], option: str,
            display: str | None) -> list[_Node]:
    found: list[_Node] = []
    for pattern in patterns:
        if pattern.startswith(_REGEX_PREFIX):
            try:
                re.compile(pattern[len(_REGEX_PREFIX):])
            except re.error as err:
                raise ModelToolError(f"{option} {pattern!r}: invalid regular expression ({err})",
                                     path=display) from err
        hits = [n for n in nodes if match_pattern(pattern, n.path)]
        if not hits:
            names = [n.path for n in nodes if n.parent is not None and n.parent.parent is None]
            shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            raise ModelToolError(f"{option} {pattern!r} matched no layer", path=display,
                                 hint=f"layers: {shown}; reach inside a nested model with "
                                      "MODEL/LAYER, or use a glob (*) or re:REGEX")
        found += [n for n in hits if n not in found]
    return found


def _plan_flags(root: _Node, top: list[_Node], layers: Iterable[str], until: str | None,
                all_but_last: int | None, unfreeze: Iterable[str], except_: Iterable[str],
                display: str | None) -> tuple[dict[_Node, bool], list[str]]:
    """Each node's new own flag, and notes."""
    nodes = [n for n in root.walk() if n is not root]
    selected = _select(nodes, layers, "--layers", display)
    if until is not None:
        hits = _select(nodes, [until], "--until", display)
        if len(hits) > 1:
            raise ModelToolError(f"--until {until!r} matches {len(hits)} layers", path=display,
                                 hint="name exactly one layer")
        stop = hits[0]
        order = list(root.walk())
        ancestors = set(stop.ancestors())
        selected += [n for n in order[1:order.index(stop) + 1]
                     if n not in ancestors and n not in selected]
    if all_but_last is not None:
        if all_but_last < 0:
            raise ModelToolError(f"--all-but-last {all_but_last}: expected 0 or more",
                                 path=display)
        keep = len(top) - all_but_last
        selected += [n for n in top[:max(keep, 0)] if n not in selected]
    excluded = _select(nodes, except_, "--except", display)
    to_unfreeze = _select(nodes, unfreeze, "--unfreeze", display)
    both = [n.path for n in _select(nodes, layers, "--layers", display) if n in to_unfreeze]
    if both:
        raise ModelToolError(f"--layers and --unfreeze both name {', '.join(both[:5])}",
                             path=display, hint="a layer is either frozen or unfrozen; "
                                                "pass it to one of them")
    if not selected and not to_unfreeze:
        raise ModelToolError("nothing to freeze or unfreeze", path=display,
                             hint="pass --layers, --until, --all-but-last or --unfreeze")
    protected: set[_Node] = set()
    for node in excluded:
        protected.update(node.walk())
        protected.update(node.ancestors())
    new = {n: n.own for n in root.walk()}
    for node in selected:
        for inner in node.walk():
            if inner not in protected:
                new[inner] = False
    notes: list[str] = []
    thawed: set[_Node] = set()
    on_path: set[_Node] = set()
    for node in to_unfreeze:
        thawed.update(node.walk())
        on_path.update(node.ancestors())
    for node in to_unfreeze:
        for inner in node.walk():
            new[inner] = True
        for ancestor in node.ancestors():
            if new[ancestor]:
                continue
            # Keras: a frozen model freezes all it holds. Make it trainable and freeze what
            # else it holds, so only the unfrozen layers start training.
            new[ancestor] = True
            for inner in ancestor.walk():
                if inner is not ancestor and inner not in thawed and inner not in on_path:
                    new[inner] = False
            if ancestor is not root and not ancestor.own:
                notes.append(f"{ancestor.path} set trainable so that {node.path} can train; "
                             "its other layers stay frozen")
    for node in root.walk():
        if node.class_name == "InputLayer" or not node.holders:
            # An InputLayer has nothing to train (and Keras 2 refuses a trainable argument on
            # it); a Keras 1/2.0 Sequential stored as a bare list has no place for its own
            # flag: its layers carry the state instead.
            new[node] = node.own
    return new, notes


def _effective(root: _Node, flags: dict[_Node, bool]) -> dict[_Node, bool]:
    result: dict[_Node, bool] = {}

    def walk(node: _Node, parent_on: bool) -> None:
        result[node] = parent_on and flags[node]
        for child in node.children:
            walk(child, result[node])

    walk(root, True)
    return result


# ---------------------------------------------------------------------------------------------
# Parameter counts from weight shapes
# ---------------------------------------------------------------------------------------------


def _owner(by_path: dict[str, _Node], entry: WeightEntry) -> _Node | None:
    path = entry.path
    while path:
        if path in by_path:
            return by_path[path]
        path = path.rpartition("/")[0]
    return by_path.get(entry.layer)


def _weights_by_node(root: _Node, artifact: ModelArtifact) -> dict[_Node, list[WeightEntry]]:
    by_path = {n.path: n for n in root.walk() if n is not root}
    grouped: dict[_Node, list[WeightEntry]] = {}
    for entry in artifact.weights:
        owner = _owner(by_path, entry) or root
        grouped.setdefault(owner, []).append(entry)
    return grouped


def _stat_flags(node: _Node, entries: list[WeightEntry]) -> list[bool]:
    """Which of a layer's weights Keras never trains (BatchNormalization statistics)."""
    if node.weight_class in NON_TRAINABLE_CLASSES:
        return [True] * len(entries)
    flags = [e.short_name in NON_TRAINABLE_WEIGHT_NAMES for e in entries]
    if node.weight_class in _BATCHNORM and len(entries) >= 2 and not any(flags):
        # Names were not recorded (Keras 3 weights): the statistics are the last two.
        flags[-2:] = [True, True]
    return flags


def _count(grouped: dict[_Node, list[WeightEntry]], effective: dict[_Node, bool]
           ) -> ParamCounts:
    trainable = non_trainable = 0
    for node, entries in grouped.items():
        for entry, stat in zip(entries, _stat_flags(node, entries)):
            if effective[node] and not stat:
                trainable += entry.size
            else:
                non_trainable += entry.size
    return ParamCounts(trainable, non_trainable)


def _params_under(node: _Node, grouped: dict[_Node, list[WeightEntry]]) -> int:
    return sum(e.size for inner in node.walk() for e in grouped.get(inner, []))


def _rows(root: _Node, new: dict[_Node, bool], before: dict[_Node, bool],
          after: dict[_Node, bool], params: dict[_Node, int]) -> list[FreezeRow]:
    return [FreezeRow(n.path or "(model)", n.class_name, before[n], after[n], params.get(n, 0),
                      n.weight_class in _BATCHNORM)
            for n in root.walk() if new[n] != n.own]


def _optimizer_note(artifact: ModelArtifact, rows: list[FreezeRow]) -> list[str]:
    """A compiled model's optimizer state is kept as bytes, but its variables follow the
    trainable weights: once those change, Keras does not restore it (it warns and starts the
    optimizer afresh). Say so rather than let it go quietly."""
    if not artifact.optimizer_weights or not rows:
        return []
    return ["the file holds optimizer state (a compiled model): with the trainable weights "
            "changed, Keras will not restore it on load and the optimizer starts afresh"]


def _batchnorm_note(rows: list[FreezeRow]) -> list[str]:
    frozen = [r.path for r in rows if r.batchnorm and not r.trainable_after]
    if not frozen:
        return []
    shown = ", ".join(frozen[:5]) + (", ..." if len(frozen) > 5 else "")
    note = (f"{len(frozen)} BatchNormalization layer(s) frozen ({shown}): in Keras a frozen "
            "BatchNormalization runs in inference mode (its moving statistics), even when "
            "called with training=True")
    return [note]


# ---------------------------------------------------------------------------------------------
# The verb
# ---------------------------------------------------------------------------------------------


def freeze(path_or_model: PathLike | keras.Model, layers: Iterable[str] = (),
           until: str | None = None, all_but_last: int | None = None,
           unfreeze: Iterable[str] = (), except_: Iterable[str] = (),
           output: PathLike | None = None, in_place: bool = False,
           force: bool = False) -> FreezeReport:
    """Freeze (and unfreeze) layers: set ``trainable`` in the architecture.

    Layers are chosen by the union of ``layers``, ``until`` and ``all_but_last``, minus
    ``except_``; then ``unfreeze`` makes layers trainable. Patterns are NAME, GLOB or
    ``re:REGEX`` against layer paths; nested models are reached as ``MODEL/LAYER``.

    Args:
        path_or_model: a ``.keras`` or legacy ``.h5`` file, or a live ``keras.Model`` (then the
            flags are set through Keras, in memory).
        layers: patterns of layers to freeze (a model: everything inside it).
        until: freeze every layer up to and including this one, in model order.
        all_but_last: freeze all top-level layers but the last N (``model.layers[:-N]``).
        unfreeze: patterns of layers to make trainable.
        except_: patterns of layers the freezing selection leaves alone.
        output: the file to write (a file input only).
        in_place: replace the input file (atomically) instead of writing ``output``.
        force: replace an existing ``output``.

    Returns:
        A FreezeReport: changed layers, trainable / non-trainable totals before and after,
        BatchNormalization layers flagged.

    Raises:
        ModelToolError: a pattern matching nothing, nothing selected, a file kind without an
            architecture, an existing output without ``force`` (exit 2).

    Example:
        >>> report = modeltool.freeze("model.keras", until="conv5_block3_out",  # doctest: +SKIP
        ...                           output="frozen.keras")
        >>> print(report.after.trainable)  # doctest: +SKIP
    """
    layers, unfreeze, except_ = list(layers), list(unfreeze), list(except_)
    if isinstance(path_or_model, (str, os.PathLike)):
        return _freeze_file(Path(path_or_model), layers, until, all_but_last, unfreeze,
                            except_, output, in_place, force)
    return _freeze_model(path_or_model, layers, until, all_but_last, unfreeze, except_)


def _freeze_file(path: Path, layers: list[str], until: str | None, all_but_last: int | None,
                 unfreeze: list[str], except_: list[str], output: PathLike | None,
                 in_place: bool, force: bool) -> FreezeReport:
    from ..formats import open_artifact

    if in_place and output is not None and Path(output).resolve() != path.resolve():
        raise ModelToolError("pass either -o OUT or --in-place, not both", path=path)
    if not in_place and output is None:
        raise ModelToolError("no output given", path=path,
                             hint="pass -o OUT, or --in-place to replace the input")
    with open_artifact(path) as artifact:
        if artifact.kind not in SUPPORTED_KINDS:
            from .hints import to_keras_archive

            raise UnsupportedError(f"freeze works on .keras and full-model .h5 files, not "
                                   f"{artifact.kind}", path=path,
                                   hint=to_keras_archive(artifact, path))
        raw = artifact.source_config
        if artifact.config is None or not isinstance(raw, dict):
            problem = artifact.config_error or "this file has no architecture"
            raise UnsupportedError(problem, path=path,
                                   hint="trainable flags live in the architecture")
        raw = copy.deepcopy(raw)
        root = _config_node(raw, "", None)
        top = _top_layers(root, raw.get("class_name") == "Sequential")
        new, notes = _plan_flags(root, top, layers, until, all_but_last, unfreeze, except_,
                                 os.fspath(path))
        before, after = _effective(root, {n: n.own for n in root.walk()}), _effective(root, new)
        grouped = _weights_by_node(root, artifact)
        params = {n: _params_under(n, grouped) for n in root.walk()}
        rows = _rows(root, new, before, after, params)
        report = FreezeReport(
            source=os.fspath(path), kind=artifact.kind, output=None, in_place=in_place,
            rows=rows, before=_count(grouped, before), after=_count(grouped, after),
            notes=[*notes, *_batchnorm_note(rows), *_optimizer_note(artifact, rows)])
        for node, flag in new.items():
            if flag != node.own:
                for holder in node.holders:
                    holder["trainable"] = flag
        orders = _legacy_orders(artifact, raw) if artifact.kind == "h5" else {}
        if artifact.kind == "h5":
            _verify_checksummed(path)
    target = path if in_place else Path(output)  # type: ignore[arg-type]
    out = check_output(target, force=force or in_place, inputs=() if in_place else (path,))
    check_space(out, path.stat().st_size + (64 << 10))
    if artifact.kind == "keras":
        _rewrite_keras(path, out, raw)
    else:
        _rewrite_h5(path, out, raw, orders)
    report.output = os.fspath(out)
    return report


def _rewrite_keras(source: Path, out: Path, config: dict[str, Any]) -> None:
    """A copy of the archive with a new config.json; every other member's bytes unchanged.

    Unchanged members are copied as raw byte ranges of the archive (local header and stored
    data, no decompressing or CRC pass), so a 1 GB archive costs about what ``cp`` costs.
    """
    from ..formats import _zip

    text = json.dumps(config)
    archive = _zip.open_zip(source)
    try:
        with atomic_path(out, suffix=".keras") as tmp, open(source, "rb") as raw, \
                ThreadPoolExecutor(max_workers=1) as checker:
            checks = []
            with zipfile.ZipFile(tmp, "w") as new:
                for info in archive.infolist():
                    if info.filename == _CONFIG_MEMBER:
                        fresh = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                        fresh.compress_type = info.compress_type
                        fresh.external_attr = info.external_attr
                        new.writestr(fresh, text)
                    else:
                        # The copy runs in the kernel; the CRC-32 of the same bytes is computed
                        # beside it (zlib releases the GIL), so damage is never copied.
                        checks.append(checker.submit(_member_crc_problem, archive, info, source))
                        _append_raw(new, raw, info, source)
            for check in checks:
                problem = check.result()
                if problem is not None:
                    raise IntegrityError(problem, path=source,
                                         hint="the file is damaged; Keras refuses it too")
            shutil.copymode(source, tmp)  # as cp does (the temporary file is private)
    except (zipfile.BadZipFile, EOFError, OSError, struct.error) as err:
        raise ModelToolError(f"cannot rewrite the archive ({err})", path=source) from err
    finally:
        archive.close()


def _member_crc_problem(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                        source: Path) -> str | None:
    """None when ``info``'s bytes match the CRC-32 the archive records, else the problem."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & _DATA_DESCRIPTOR_FLAG:
        try:
            with archive.open(info) as member:  # zipfile checks the CRC at the end
                while member.read(_COPY_CHUNK):
                    pass
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
            return f"archive member {info.filename} is damaged ({err})"
        return None
    crc = 0
    with open(source, "rb") as raw:
        offset = _zip.stored_data_offset(raw, info, source)
        left = info.compress_size
        while left > 0:
            chunk = os.pread(raw.fileno(), min(left, _zip.CRC_CHUNK), offset)
            if not chunk:
                return f"archive member {info.filename} is cut short"
            crc = zlib.crc32(chunk, crc)
            offset, left = offset + len(chunk), left - len(chunk)
    if crc != info.CRC:
        if info.filename == "model.weights.h5":
            from ..formats.keras_archive import locate_damage

            return locate_damage(source, info.CRC, crc, info.compress_size)
        return _zip.crc_problem(info.filename, info.compress_size, info.CRC, crc)
    return None


def _append_raw(new: zipfile.ZipFile, raw: BinaryIO, info: zipfile.ZipInfo,
                display: Path) -> None:
    """Append ``info``'s local header and data to ``new`` as they are in ``raw``.

    zipfile has no public way to add an already-compressed member; its writer keeps the end of
    the data in ``start_dir`` and the central directory in ``filelist``/``NameToInfo``, which
    ``close()`` writes (with zip64 records wherever the new offsets need them).
    """
    if info.flag_bits & _DATA_DESCRIPTOR_FLAG:
        # Sizes trail the data in a descriptor: copy through zipfile instead.
        copy_info = zipfile.ZipInfo(info.filename, date_time=info.date_time)
        copy_info.compress_type = info.compress_type
        copy_info.external_attr = info.external_attr
        copy_info.file_size = info.file_size
        with zipfile.ZipFile(raw) as archive, archive.open(info) as src, new.open(
                copy_info, "w", force_zip64=info.file_size > zipfile.ZIP64_LIMIT) as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
        return
    end = _zip.stored_data_offset(raw, info, display) + info.compress_size
    copied = copy.copy(info)
    out = cast(BinaryIO, new.fp)
    out.seek(new.start_dir)
    copied.header_offset = out.tell()
    _copy_range(raw, out, info.header_offset, end - info.header_offset)
    wrote(end - info.header_offset)
    new.start_dir = out.tell()
    new.filelist.append(copied)
    new.NameToInfo[copied.filename] = copied


def _copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> None:
    """Copy ``length`` bytes of ``src`` from ``offset`` to ``dst``'s position, in the kernel
    when it can (``copy_file_range``), else through a buffer."""
    dst.flush()
    position = dst.tell()
    try:
        while length > 0:
            done = os.copy_file_range(src.fileno(), dst.fileno(), length, offset, position)
            if done == 0:
                break
            offset, position, length = offset + done, position + done, length - done
    except (AttributeError, OSError):
        pass  # no copy_file_range here (or across these file systems): copy the rest below
    dst.seek(position)
    src.seek(offset)
    while length > 0:
        chunk = src.read(min(length, _COPY_CHUNK))
        if not chunk:
            raise EOFError("archive ends inside a member")
        dst.write(chunk)
        length -= len(chunk)


def _verify_checksummed(path: Path) -> None:
    """Read every dataset that carries a Fletcher32 checksum (HDF5 verifies it on read), so
    the byte copy below never carries damage HDF5 can see. Files without checksums (what Keras
    writes) cost nothing here."""
    from ..formats import _h5

    display = os.fspath(path)
    with _h5.open_h5(path, display) as handle:
        checksummed: list[h5py.Dataset] = []
        try:
            handle.visititems(lambda _name, obj: checksummed.append(obj)
                              if isinstance(obj, h5py.Dataset) and obj.fletcher32 else None)
        except _h5.READ_ERRORS as err:
            raise CorruptFileError(f"damaged HDF5 structure ({_h5.short(err)})", path=display,
                                   hint="the file may be truncated or damaged") from err
        for ds in checksummed:
            layer = ds.parent.name.rsplit("/", 1)[-1] if ds.parent is not None else None
            _h5.read_array(ds, display, layer)


def _legacy_orders(artifact: ModelArtifact, raw: dict[str, Any]) -> dict[str, list[str]]:
    """Dataset paths, per layer holding a model, in the order Keras will expect on load.

    A legacy file lists a nested model's weights as its trainable weights, then the others
    (``_legacy_weights``), so changing flags inside it changes the order Keras expects: the
    layer's ``weight_names`` list is rewritten to match (the datasets stay as they are).
    """
    from ..formats._dialects import canonical_model_config
    from ..formats._layout import inner_model, layer_configs, layer_name, legacy_order

    config, _, _ = canonical_model_config(raw, keras_version=artifact.keras_version,
                                          path=os.fspath(artifact.path or ""))
    configs = {layer_name(c): c for c in layer_configs(config)}
    orders = {}
    for name, entries in artifact.weights.layers.items():
        cfg = configs.get(name)
        if cfg is not None and inner_model(cfg) is not None and entries:
            orders[name] = [e.location for e in legacy_order(cfg, entries)]
    return orders


def _rewrite_weight_names(handle: h5py.File, orders: dict[str, list[str]],
                          display: str) -> None:
    from ..formats import _h5

    root = _h5.group(handle, "model_weights", display) if "model_weights" in handle else handle
    for name, locations in orders.items():
        group = _h5.group(root, name, display)
        stored = _h5.read_str_list(group, "weight_names", display) or []
        prefix = group.name.rstrip("/") + "/"
        wanted = [loc[len(prefix):] for loc in locations if loc.startswith(prefix)]
        if sorted(wanted) != sorted(stored) or wanted == stored:
            continue  # not a plain listing of this group's datasets: leave it as it is
        for key in [k for k in group.attrs if re.fullmatch(r"weight_names\d*", k)]:
            del group.attrs[key]
        _h5.write_str_list(group, "weight_names", wanted)


def _rewrite_h5(source: Path, out: Path, config: dict[str, Any],
                orders: dict[str, list[str]]) -> None:
    """A byte copy of the file whose ``model_config`` attribute (and, for nested models, the
    ``weight_names`` order) alone is rewritten."""
    text = json.dumps(config)
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
        wrote(tmp.stat().st_size)
        shutil.copymode(source, tmp)
        try:
            with h5py.File(tmp, "r+", locking=False) as handle:
                _rewrite_weight_names(handle, orders, os.fspath(source))
                old = handle.attrs.get("model_config")
                del handle.attrs["model_config"]
                if isinstance(old, (bytes, np.bytes_)):
                    try:
                        handle.attrs["model_config"] = text.encode("utf-8")
                        return
                    except (OSError, ValueError):
                        pass  # too long for a fixed-length attribute: store it as Keras 3 does
                handle.attrs["model_config"] = text
        except (OSError, ValueError, KeyError) as err:
            raise ModelToolError(f"cannot rewrite model_config ({err})", path=source) from err


def _freeze_model(model: Any, layers: list[str], until: str | None, all_but_last: int | None,
                  unfreeze: list[str], except_: list[str]) -> FreezeReport:
    if not hasattr(model, "layers"):
        raise UnsupportedError(f"expected a path or a Keras model, got {type(model).__name__}")
    root = _live_node(model, "", None)
    top = list(root.children)
    new, notes = _plan_flags(root, top, layers, until, all_but_last, unfreeze, except_, None)
    before, after = _effective(root, {n: n.own for n in root.walk()}), _effective(root, new)
    params: dict[_Node, int] = {}
    for node in root.walk():
        params[node] = sum(int(np.prod(w.shape)) for h in node.holders[:1]
                           for w in getattr(h, "weights", []))
    counts_before = _live_counts(model)
    # Keras' setter recurses into what a layer holds: set the flags top-down so each ends as
    # planned.
    if any(new[n] != n.own for n in root.walk()):
        for node in root.walk():
            for holder in node.holders:
                holder.trainable = new[node]
    rows = _rows(root, new, before, after, params)
    return FreezeReport(source=f"<keras.Model {getattr(model, 'name', '?')}>",
                        kind=Kind.KERAS_MODEL, output=None, in_place=True, rows=rows,
                        before=counts_before, after=_live_counts(model),
                        notes=[*notes, *_batchnorm_note(rows)])


def _live_counts(model: Any) -> ParamCounts:
    def total(weights: Iterable[Any]) -> int:
        return sum(int(np.prod(w.shape)) for w in weights)

    return ParamCounts(total(model.trainable_weights), total(model.non_trainable_weights))
