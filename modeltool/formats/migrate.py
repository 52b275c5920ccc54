"""Weight layouts that changed between Keras generations, migrated to the Keras 2/3 layout.

- Keras 1 stored recurrent weights per gate (``W_i``, ``U_i``, ``b_i``, ...); Keras 2+ fuses them
  (LSTM gates i, f, c, o; GRU gates z, r, h).
- Keras 1 stored channels-first convolution kernels as ``(filters, in, rows, cols)`` and 1D
  kernels as 4D arrays; Keras 2+ uses ``(rows, cols, in, filters)``.
- Theano computes a true convolution, TensorFlow a correlation: a kernel trained with Theano is
  flipped along its spatial axes.
- cuDNN RNN layers store input kernels in Fortran order per gate and a doubled bias.

Each migrated tensor stays lazy: its shape is known up front and its bytes are read (and
transformed) only when asked. Every change is recorded in the artifact's notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any

import numpy as np

from ..artifact import ModelArtifact, WeightEntry
from ..layer_classes import RNN_CLASSES
from .dialects.walk import inner_model, layer_configs, layer_name

Transform = Callable[[list[np.ndarray]], list[np.ndarray]]
_CONV = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "ConvLSTM2D")


def _transpose(axes: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda array: np.transpose(array, axes)


def _flip_spatial(array: np.ndarray) -> np.ndarray:
    """Theano's convolution flips the kernel: reverse every axis but the last two."""
    index = tuple([slice(None, None, -1)] * (array.ndim - 2) + [slice(None)] * 2)
    return np.ascontiguousarray(array[index])


def _keras1_steps(class_name: str, config: dict[str, Any],
                  shapes: list[tuple[int, ...]]) -> tuple[list[Transform], list[str]]:
    steps: list[Transform] = []
    notes: list[str] = []
    channels_first = config.get("data_format") == "channels_first"
    kernel_transpose: tuple[int, ...] | None = None
    if class_name == "Conv1D" and shapes and len(shapes[0]) == 4:
        kernel_size = config.get("kernel_size")
        length = kernel_size[0] if isinstance(kernel_size, list) else kernel_size
        shape = shapes[0]
        if shape[:2] != (length, 1) or shape[3] != config.get("filters"):
            steps.append(lambda ws: [np.transpose(ws[0], (2, 3, 1, 0)), *ws[1:]])
        steps.append(lambda ws: [ws[0][:, 0, :, :], *ws[1:]])
        notes.append("Keras 1 Conv1D kernel reshaped to (length, in, filters)")
    elif class_name == "Conv2D" and channels_first:
        kernel_transpose = (2, 3, 1, 0)
    elif class_name == "Conv2DTranspose":
        kernel_transpose = (2, 3, 0, 1) if channels_first else (0, 1, 3, 2)
    elif class_name == "Conv3D" and channels_first:
        kernel_transpose = (2, 3, 4, 1, 0)
    if kernel_transpose is not None:
        axes = kernel_transpose
        steps.append(lambda ws: [np.transpose(ws[0], axes), *ws[1:]])
        notes.append(f"Keras 1 {class_name} kernel transposed {axes} to the Keras 2+ layout")
    if class_name == "GRU" and len(shapes) == 9:
        steps.append(lambda ws: [np.concatenate([ws[i], ws[i + 3], ws[i + 6]], axis=-1)
                                 for i in range(3)])
        notes.append("Keras 1 GRU per-gate weights (z, r, h) fused into kernel, "
                     "recurrent_kernel, bias")
    if class_name in ("LSTM", "ConvLSTM2D") and len(shapes) == 12:
        # stored gate order i, c, f, o; fused order i, f, c, o
        steps.append(lambda ws: [np.concatenate([ws[i], ws[i + 6], ws[i + 3], ws[i + 9]],
                                                axis=-1) for i in range(3)])
        notes.append(f"Keras 1 {class_name} per-gate weights (i, c, f, o) fused into kernel, "
                     "recurrent_kernel, bias (i, f, c, o)")
    return steps, notes


def _cudnn_steps(class_name: str, config: dict[str, Any],
                 shapes: list[tuple[int, ...]]) -> tuple[list[Transform], list[str]]:
    if class_name not in ("LSTM", "GRU") or len(shapes) != 3 or len(shapes[1]) != 2:
        return [], []
    units = shapes[1][0]
    gates = 4 if class_name == "LSTM" else 3
    if shapes[2] != (2 * units * gates,):
        return [], []

    def per_gate(array: np.ndarray, func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        return np.hstack([func(part) for part in np.hsplit(array, gates)])

    def convert(ws: list[np.ndarray]) -> list[np.ndarray]:
        kernel = per_gate(ws[0], lambda k: k.T.reshape(k.shape, order="F"))
        recurrent = per_gate(ws[1], lambda k: k.T)
        if class_name == "LSTM":
            bias = np.sum(np.split(ws[2], 2, axis=0), axis=0)
        else:
            bias = ws[2].reshape((2, -1))
        return [kernel, recurrent, bias]

    return [convert], [f"cuDNN {class_name} weights converted to the standard {class_name} "
                       "layout (input kernels re-ordered, doubled bias "
                       f"{'summed' if class_name == 'LSTM' else 'split for reset_after'})"]


def _names_after(class_name: str, count: int, before: list[str]) -> list[str]:
    if class_name in RNN_CLASSES and count == 3:
        return ["kernel", "recurrent_kernel", "bias"]
    if class_name in RNN_CLASSES and count == 2:
        return ["kernel", "recurrent_kernel"]
    if count == len(before):
        return before
    return [str(i) for i in range(count)]


def _probe_shapes(steps: list[Transform], shapes: list[tuple[int, ...]],
                  dtypes: list[str]) -> list[tuple[tuple[int, ...], str]]:
    """Shapes after the transforms, computed on zero-stride stand-ins (no bytes read)."""
    arrays = [np.broadcast_to(np.zeros((), dtype=d), s) for s, d in zip(shapes, dtypes)]
    for step in steps:
        arrays = step(arrays)
    return [(tuple(int(d) for d in a.shape), str(a.dtype)) for a in arrays]


def _migrate_entries(entries: list[WeightEntry], steps: list[Transform],
                     class_name: str) -> list[WeightEntry]:
    shapes = [e.shape for e in entries]
    after = _probe_shapes(steps, shapes, [e.dtype for e in entries])

    @lru_cache(maxsize=1)
    def compute() -> tuple[np.ndarray, ...]:
        arrays = [np.asarray(e.read()) for e in entries]
        for step in steps:
            arrays = step(arrays)
        return tuple(np.ascontiguousarray(a) for a in arrays)

    prefix = entries[0].name.rsplit("/", 1)[0] + "/" if "/" in entries[0].name else ""
    names = _names_after(class_name, len(after), [e.name for e in entries])
    first = entries[0]
    return [replace(first, name=names[i] if "/" in names[i] else f"{prefix}{names[i]}",
                    shape=shape, dtype=dtype, location=f"{first.location} (migrated)",
                    loader=partial(_pick, compute, i))
            for i, (shape, dtype) in enumerate(after)]


def _pick(compute: Callable[[], tuple[np.ndarray, ...]], index: int) -> np.ndarray:
    return compute()[index]


def _layer_steps(layer: dict[str, Any], shapes: list[tuple[int, ...]], keras1: bool,
                 theano: bool) -> tuple[list[Transform], list[str]]:
    class_name = str(layer.get("class_name"))
    config = layer.get("config") or {}
    steps: list[Transform] = []
    notes: list[str] = []
    if keras1:
        more, text = _keras1_steps(class_name, config, shapes)
        steps += more
        notes += text
    if theano and class_name in _CONV:
        count = 2 if class_name == "ConvLSTM2D" else 1
        steps.append(lambda ws: [_flip_spatial(w) if i < count else w for i, w in enumerate(ws)])
        notes.append(f"{class_name} kernel flipped along its spatial axes (trained with Theano, "
                     "which convolves where TensorFlow correlates)")
    if not keras1:
        more, text = _cudnn_steps(class_name, config, shapes)
        steps += more
        notes += text
    return steps, notes


def _migrate_layer(layer: dict[str, Any], entries: list[WeightEntry], keras1: bool,
                   theano: bool, notes: list[str]) -> list[WeightEntry]:
    class_name = layer.get("class_name")
    config = layer.get("config") or {}
    if not entries:
        return entries
    if class_name == "Bidirectional" and isinstance(config.get("layer"), dict):
        half = len(entries) // 2
        backward = config.get("backward_layer") or config["layer"]
        forward_entries = _migrate_layer(config["layer"], entries[:half], keras1, theano, notes)
        backward_entries = _migrate_layer(backward, entries[half:], keras1, theano, notes)
        if {e.name for e in forward_entries} & {e.name for e in backward_entries}:
            # Keras 1 names (forward_lstm_1_W_i) became plain kernel/...: name them as Keras 2
            inner = str((config["layer"].get("config") or {}).get("name") or "layer")
            forward_entries = [replace(e, name=f"forward_{inner}/{e.name}")
                               for e in forward_entries]
            backward_entries = [replace(e, name=f"backward_{inner}/{e.name}")
                                for e in backward_entries]
        return forward_entries + backward_entries
    if class_name == "TimeDistributed" and isinstance(config.get("layer"), dict):
        return _migrate_layer(config["layer"], entries, keras1, theano, notes)
    if inner_model(layer) is not None:
        return entries
    steps, text = _layer_steps(layer, [e.shape for e in entries], keras1, theano)
    if not steps:
        return entries
    notes += [f"layer {entries[0].layer!r}: {line}" for line in text]
    return _migrate_entries(entries, steps, str(class_name))


def migrate_layer(layer: dict[str, Any], entries: list[WeightEntry], *, keras1: bool,
                  theano: bool) -> tuple[list[WeightEntry], list[str]]:
    """One layer's weights in the Keras 2+/TensorFlow layout (lazily), and what was changed."""
    notes: list[str] = []
    return _migrate_layer(layer, entries, keras1, theano, notes), notes


def needs_keras1_migration(artifact: ModelArtifact, weights_version: str | None) -> bool:
    """Keras 1 weights: the file says so, or it says nothing and the architecture is Keras 1."""
    if weights_version:
        return weights_version.strip().startswith("1")
    return artifact.dialect == 1


def migrate_weights(artifact: ModelArtifact, *, weights_version: str | None,
                    weights_backend: str | None) -> None:
    """Rewrite ``artifact.weights`` in place (lazily) into the Keras 2+/TensorFlow layout."""
    if artifact.config is None or not artifact.weights:
        return
    keras1 = needs_keras1_migration(artifact, weights_version)
    theano = assume_theano(keras1, weights_backend, artifact.source_config or artifact.config)
    if theano and weights_backend is None:
        artifact.notes.append(THEANO_ASSUMED)
    by_name = {layer_name(layer): layer for layer in layer_configs(artifact.config)}
    for name, entries in list(artifact.weights.layers.items()):
        layer = by_name.get(name)
        if layer is not None:
            artifact.weights.layers[name] = _migrate_layer(layer, entries, keras1, theano,
                                                           artifact.notes)


THEANO_ASSUMED = ("no backend recorded and the Keras 1 config uses 'th' dimension ordering: "
                  "assumed trained with Theano")


def assume_theano(keras1: bool, backend: str | None, config: Any) -> bool:
    """Whether weights were trained with Theano: the file says so, or a Keras 1 file says
    nothing and its architecture orders dimensions Theano's way (``th`` / channels_first).

    Every route that migrates weights (a full file, ``convert --weights``, ``load-weights``)
    decides with this one rule, so the same weights are migrated the same way.
    """
    if backend:
        return backend == "theano"
    return keras1 and _uses_th_ordering(config)


def _uses_th_ordering(config: Any) -> bool:
    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            if value.get("dim_ordering") == "th" or value.get("image_dim_ordering") == "th":
                return True
            if value.get("data_format") == "channels_first":
                return True
            return any(walk(item) for item in value.values())
        if isinstance(value, list):
            return any(walk(item) for item in value)
        return False

    return walk(config)
