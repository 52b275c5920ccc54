"""The layer tree ``freeze`` plans on (``graph.layer_tree``) built from a stored config, and the
plan: which layers' own flags change.

The tree comes from a stored config of any dialect (``formats.dialects.trainable`` says where each
flag lives) or from a live model (``keras_bridge.trainable``). Selection follows Keras' setter:
freezing a layer that holds a model freezes everything inside it; unfreezing a layer inside a
frozen model makes the enclosing models trainable and freezes their other layers.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from ...errors import ModelToolError
from ...formats.dialects.trainable import (
    flag_holders,
    stored_flag,
    stored_layer_name,
    stored_layers,
)
from ...graph.layer_tree import LayerNode

_REGEX_PREFIX = "re:"


# ---------------------------------------------------------------------------------------------
# The layer tree (from a stored config of any dialect; keras_bridge builds it for a live model)
# ---------------------------------------------------------------------------------------------


def config_tree(layer: dict[str, Any], path: str, parent: LayerNode | None) -> LayerNode:
    """The tree of a stored config (any dialect), flags where the file keeps them."""
    holders, weight_class, model = flag_holders(layer)
    own = stored_flag(holders[0]) if holders else True
    node = LayerNode(path, str(layer.get("class_name")), weight_class, holders, own, parent)
    if model is not None:
        for inner_layer in stored_layers(model):
            name = stored_layer_name(inner_layer)
            node.children.append(config_tree(inner_layer, f"{path}/{name}" if path else name,
                                              node))
    return node


def top_layers(root: LayerNode, sequential: bool) -> list[LayerNode]:
    """``model.layers``: a Sequential hides its InputLayer."""
    return [n for n in root.children if not (sequential and n.class_name == "InputLayer")]


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


def _select(nodes: list[LayerNode], patterns: Iterable[str], option: str,
            display: str | None) -> list[LayerNode]:
    found: list[LayerNode] = []
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


def plan_flags(root: LayerNode, top: list[LayerNode], layers: Iterable[str], until: str | None,
                all_but_last: int | None, unfreeze: Iterable[str], except_: Iterable[str],
                display: str | None) -> tuple[dict[LayerNode, bool], list[str]]:
    """Each node's new own flag, and notes (raises ModelToolError on a bad selection)."""
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
    protected: set[LayerNode] = set()
    for node in excluded:
        protected.update(node.walk())
        protected.update(node.ancestors())
    new = {n: n.own for n in root.walk()}
    for node in selected:
        for inner in node.walk():
            if inner not in protected:
                new[inner] = False
    notes: list[str] = []
    thawed: set[LayerNode] = set()
    on_path: set[LayerNode] = set()
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


def effective_flags(root: LayerNode, flags: dict[LayerNode, bool]) -> dict[LayerNode, bool]:
    """Whether each layer trains: its own flag and every enclosing model's."""
    result: dict[LayerNode, bool] = {}

    def walk(node: LayerNode, parent_on: bool) -> None:
        result[node] = parent_on and flags[node]
        for child in node.children:
            walk(child, result[node])

    walk(root, True)
    return result
