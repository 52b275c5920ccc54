"""A numpy forward pass for Keras 1 models: the reference a migrated Keras 1 model is checked
against.

It reads the config and the weights exactly as Keras 1 stored them (per-gate RNN weights found
by their names, ``th``/``tf`` kernels as stored) and computes with Keras 1's formulas (Theano
convolves with the flipped kernel; ``hard_sigmoid`` is ``clip(0.2x + 0.5, 0, 1)``). It shares
nothing with ``formats.migrate`` or ``formats.dialects``, so a mistake there shows up as a
difference here. Layers it does not know raise ``Keras1ReferenceError`` naming them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

Arrays = dict[str, np.ndarray]


class Keras1ReferenceError(Exception):
    """The model uses something this reference does not compute."""


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x * np.float32(0.2) + np.float32(0.5), 0.0, 1.0)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": _hard_sigmoid,
    "softmax": _softmax,
    "softplus": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
}


def _activation(name: Any) -> Callable[[np.ndarray], np.ndarray]:
    if name not in _ACTIVATIONS:
        raise Keras1ReferenceError(f"activation {name!r}")
    return _ACTIVATIONS[str(name)]


def read_keras1_weights(path: str | os.PathLike[str]) -> dict[str, Arrays]:
    """``{layer: {short weight name: array}}`` as stored (``dense_1_W:0`` -> ``W``)."""
    with h5py.File(path, "r") as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        found: dict[str, Arrays] = {}
        for raw in root.attrs["layer_names"]:
            layer = raw.decode() if isinstance(raw, bytes) else str(raw)
            group = root[layer]
            arrays: Arrays = {}
            for raw_name in group.attrs.get("weight_names", []):
                name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
                arrays[name.split(":")[0]] = np.asarray(group[name], dtype=np.float32)
            found[layer] = arrays
        return found


def _pick(arrays: Arrays, suffix: str) -> np.ndarray:
    """The array whose stored name ends in ``_<suffix>`` (``forward_lstm_1_W_i`` for W_i)."""
    hits = [v for k, v in arrays.items() if re.search(rf"(^|_){re.escape(suffix)}$", k)]
    if len(hits) != 1:
        raise Keras1ReferenceError(f"weight {suffix} not found once among {sorted(arrays)}")
    return hits[0]


def _subset(arrays: Arrays, prefix: str) -> Arrays:
    return {k: v for k, v in arrays.items() if k.startswith(prefix)}


class Keras1Model:
    """A Keras 1 model config and its stored weights, evaluated with numpy."""

    def __init__(self, config: dict[str, Any], weights: dict[str, Arrays], *,
                 theano: bool) -> None:
        self.config = config
        self.weights = weights
        self.theano = theano

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The outputs for ``inputs`` (in the model's input order)."""
        if self.config.get("class_name") == "Sequential":
            layers = self.config["config"]
            if isinstance(layers, dict):
                layers = layers["layers"]
            x = inputs[0].astype(np.float32) if inputs[0].dtype.kind == "f" else inputs[0]
            for layer in layers:
                x = self._layer(layer, [x])
            return [x]
        return self._functional(inputs)

    def _functional(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        inner = self.config["config"]
        values: dict[str, np.ndarray] = {}
        for ref, value in zip(inner["input_layers"], inputs):
            values[ref[0]] = value
        pending = [layer for layer in inner["layers"] if layer["class_name"] != "InputLayer"]
        while pending:
            progressed = False
            for layer in list(pending):
                nodes = layer.get("inbound_nodes") or []
                if len(nodes) != 1:
                    raise Keras1ReferenceError(f"layer {layer['name']!r} called "
                                               f"{len(nodes)} times")
                refs = nodes[0]
                if all(ref[0] in values for ref in refs):
                    values[layer["name"]] = self._layer(layer, [values[r[0]] for r in refs])
                    pending.remove(layer)
                    progressed = True
            if not progressed:
                raise Keras1ReferenceError("the graph has a cycle or a missing input")
        return [values[ref[0]] for ref in inner["output_layers"]]

    def _layer(self, layer: dict[str, Any], xs: list[np.ndarray]) -> np.ndarray:
        kind = layer["class_name"]
        cfg = layer.get("config") or {}
        name = cfg.get("name") or layer.get("name")
        weights = self.weights.get(str(name), {})
        if kind in ("Dropout", "GaussianNoise", "GaussianDropout", "SpatialDropout1D",
                    "SpatialDropout2D", "SpatialDropout3D", "InputLayer"):
            return xs[0]
        if kind == "Activation":
            return _activation(cfg["activation"])(xs[0])
        if kind == "Flatten":
            return xs[0].reshape(xs[0].shape[0], -1)
        if kind == "Dense":
            return self._dense(cfg, weights, xs[0])
        if kind == "Embedding":
            return _pick(weights, "W")[xs[0].astype(np.int64)]
        if kind == "Convolution2D":
            return self._conv2d(cfg, weights, xs[0])
        if kind in ("MaxPooling2D", "AveragePooling2D"):
            return self._pool2d(kind, cfg, xs[0])
        if kind in ("LSTM", "GRU", "SimpleRNN"):
            return self._rnn(kind, cfg, weights, xs[0])
        if kind == "Bidirectional":
            return self._bidirectional(cfg, weights, xs[0])
        if kind == "TimeDistributed" and cfg["layer"]["class_name"] == "Dense":
            return self._dense(cfg["layer"]["config"], weights, xs[0])
        if kind == "Merge":
            return self._merge(cfg, xs)
        if kind == "Highway":
            return self._highway(cfg, weights, xs[0])
        if kind in ("LocallyConnected1D", "LocallyConnected2D"):
            return self._locally_connected(kind, cfg, weights, xs[0])
        raise Keras1ReferenceError(f"layer class {kind}")

    @staticmethod
    def _dense(cfg: dict[str, Any], weights: Arrays, x: np.ndarray) -> np.ndarray:
        out = x @ _pick(weights, "W")
        if cfg.get("bias", True):
            out = out + _pick(weights, "b")
        return _activation(cfg.get("activation", "linear"))(out)

    def _conv2d(self, cfg: dict[str, Any], weights: Arrays, x: np.ndarray) -> np.ndarray:
        kernel = _pick(weights, "W")
        th = cfg.get("dim_ordering", "th") == "th"
        if th:  # stored (filters, in, rows, cols)
            kernel = kernel.transpose(2, 3, 1, 0)
            x = x.transpose(0, 2, 3, 1)
        if self.theano:  # Theano computes a true convolution
            kernel = kernel[::-1, ::-1]
        rows, cols = kernel.shape[:2]
        sr, sc = cfg.get("subsample", (1, 1))
        if cfg.get("border_mode", "valid") == "same":
            if rows % 2 == 0 or cols % 2 == 0:
                raise Keras1ReferenceError("'same' padding with an even kernel")
            x = np.pad(x, ((0, 0), (rows // 2, rows // 2), (cols // 2, cols // 2), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(x, (rows, cols), axis=(1, 2))
        windows = windows[:, ::sr, ::sc]  # (batch, out_r, out_c, in, rows, cols)
        out = np.einsum("bhwirc,rcio->bhwo", windows, kernel)
        if cfg.get("bias", True):
            out = out + _pick(weights, "b")
        out = _activation(cfg.get("activation", "linear"))(out)
        return out.transpose(0, 3, 1, 2) if th else out

    @staticmethod
    def _pool2d(kind: str, cfg: dict[str, Any], x: np.ndarray) -> np.ndarray:
        th = cfg.get("dim_ordering", "th") == "th"
        if cfg.get("border_mode", "valid") != "valid":
            raise Keras1ReferenceError(f"{kind} with border_mode {cfg.get('border_mode')!r}")
        if th:
            x = x.transpose(0, 2, 3, 1)
        pr, pc = cfg.get("pool_size", (2, 2))
        sr, sc = cfg.get("strides") or (pr, pc)
        windows = np.lib.stride_tricks.sliding_window_view(x, (pr, pc), axis=(1, 2))
        windows = windows[:, ::sr, ::sc]
        out = windows.max(axis=(-2, -1)) if kind == "MaxPooling2D" \
            else windows.mean(axis=(-2, -1))
        return out.transpose(0, 3, 1, 2) if th else out

    def _rnn(self, kind: str, cfg: dict[str, Any], weights: Arrays,
             x: np.ndarray) -> np.ndarray:
        act = _activation(cfg.get("activation", "tanh"))
        inner = _activation(cfg.get("inner_activation", "hard_sigmoid"))
        units = int(cfg["output_dim"])
        gates = {"LSTM": "ifco", "GRU": "zrh", "SimpleRNN": ""}[kind]
        if gates and any(k.endswith(f"_W_{gates[0]}") for k in weights):
            per_gate = {g: tuple(_pick(weights, f"{p}_{g}") for p in "WUb") for g in gates}
        elif len(weights) == 3:  # one fused kernel in Keras 2 gate order (consume_less=gpu)
            w, u, b = (_pick(weights, p) for p in "WUb")
            order = {"LSTM": "ifco", "GRU": "zrh", "SimpleRNN": "s"}[kind]
            per_gate = {g: (w[:, i * units:(i + 1) * units], u[:, i * units:(i + 1) * units],
                            b[i * units:(i + 1) * units]) for i, g in enumerate(order)}
        else:
            raise Keras1ReferenceError(f"{kind} weights {sorted(weights)}")
        steps = range(x.shape[1])
        if cfg.get("go_backwards"):
            steps = range(x.shape[1] - 1, -1, -1)
        h = np.zeros((x.shape[0], units), np.float32)
        c = np.zeros_like(h)
        outputs = []
        for t in steps:
            xt = x[:, t]

            def lin(g: str, state: np.ndarray, xt: np.ndarray = xt) -> np.ndarray:
                w, u, b = per_gate[g]
                return xt @ w + state @ u + b

            if kind == "LSTM":
                i, f, o = inner(lin("i", h)), inner(lin("f", h)), inner(lin("o", h))
                c = f * c + i * act(lin("c", h))
                h = o * act(c)
            elif kind == "GRU":
                z, r = inner(lin("z", h)), inner(lin("r", h))
                w, u, b = per_gate["h"]
                hh = act(xt @ w + (r * h) @ u + b)
                h = z * h + (1 - z) * hh
            else:
                w, u, b = per_gate.get("s") or (_pick(weights, "W"), _pick(weights, "U"),
                                                _pick(weights, "b"))
                h = act(xt @ w + h @ u + b)
            outputs.append(h)
        if cfg.get("return_sequences"):
            return np.stack(outputs, axis=1)
        return h

    def _bidirectional(self, cfg: dict[str, Any], weights: Arrays,
                       x: np.ndarray) -> np.ndarray:
        layer = cfg["layer"]
        inner_cfg = dict(layer["config"])
        forward = self._rnn(layer["class_name"], inner_cfg, _subset(weights, "forward_"), x)
        backward_cfg = {**inner_cfg, "go_backwards": not inner_cfg.get("go_backwards")}
        backward = self._rnn(layer["class_name"], backward_cfg, _subset(weights, "backward_"),
                             x)
        if inner_cfg.get("return_sequences"):
            backward = backward[:, ::-1]
        mode = cfg.get("merge_mode", "concat")
        if mode == "concat":
            return np.concatenate([forward, backward], axis=-1)
        merged = {"sum": forward + backward, "mul": forward * backward,
                  "ave": (forward + backward) / 2}
        if mode not in merged:
            raise Keras1ReferenceError(f"Bidirectional merge_mode {mode!r}")
        return merged[mode]

    @staticmethod
    def _highway(cfg: dict[str, Any], weights: Arrays, x: np.ndarray) -> np.ndarray:
        """Keras 1: ``T = sigmoid(x.W_carry + b_carry)``, ``T * act(x.W + b) + (1 - T) * x``."""
        carry = x @ _pick(weights, "W_carry")
        hidden = x @ _pick(weights, "W")
        if cfg.get("bias", True):
            carry = carry + _pick(weights, "b_carry")
            hidden = hidden + _pick(weights, "b")
        gate = 1 / (1 + np.exp(-carry))
        return _activation(cfg.get("activation") or "linear")(hidden) * gate + (1 - gate) * x

    @staticmethod
    def _locally_connected(kind: str, cfg: dict[str, Any], weights: Arrays,
                           x: np.ndarray) -> np.ndarray:
        """Keras 1: each output position multiplies its own window, flattened in the input's
        axis order, by its own kernel ``W[position]``; the bias ``b`` (positions..., filters)
        is added after a reshape to the output's layout (a reshape also under ``th``)."""
        if cfg.get("border_mode", "valid") != "valid":
            raise Keras1ReferenceError(f"{kind} with border_mode {cfg.get('border_mode')!r}")
        kernel = _pick(weights, "W")
        th = kind == "LocallyConnected2D" and cfg.get("dim_ordering", "th") == "th"
        if kind == "LocallyConnected1D":
            sizes = [int(cfg["filter_length"])]
            strides = [int(cfg.get("subsample_length", 1))]
        else:
            sizes = [int(cfg["nb_row"]), int(cfg["nb_col"])]
            strides = [int(s) for s in cfg.get("subsample", (1, 1))]
        spatial = x.shape[2:] if th else x.shape[1:-1]
        counts = [(n - k) // s + 1 for n, k, s in zip(spatial, sizes, strides)]
        filters = kernel.shape[-1]
        columns = []
        for position, starts in enumerate(np.ndindex(*counts)):
            window = tuple(slice(p * s, p * s + k) for p, s, k in zip(starts, strides, sizes))
            patch = x[(slice(None), slice(None), *window)] if th \
                else x[(slice(None), *window, slice(None))]
            columns.append(patch.reshape(x.shape[0], -1) @ kernel[position])
        out = np.stack(columns, axis=1).reshape(x.shape[0], *counts, filters)
        if th:
            out = np.moveaxis(out, -1, 1)
        if cfg.get("bias", True):
            bias = _pick(weights, "b")
            out = out + (bias.reshape(1, filters, *counts) if th else bias[None])
        return _activation(cfg.get("activation") or "linear")(out)

    @staticmethod
    def _merge(cfg: dict[str, Any], xs: list[np.ndarray]) -> np.ndarray:
        mode = cfg.get("mode", "sum")
        if mode == "cos":
            if len(xs) != 2 or xs[0].ndim != 2 or xs[1].ndim != 2:
                raise Keras1ReferenceError("Merge mode 'cos' of other than two vectors")
            a, b = (v.astype(np.float32) for v in xs)
            dot = (a * b).sum(axis=1, keepdims=True)
            norms = np.sqrt((a * a).sum(axis=1, keepdims=True) * (b * b).sum(axis=1,
                                                                           keepdims=True))
            return dot / np.maximum(norms, np.float32(1e-7))  # Keras 1's K.epsilon()
        if mode == "concat":
            return np.concatenate(xs, axis=cfg.get("concat_axis", -1))
        stacked = np.stack(xs)
        table = {"sum": stacked.sum(0), "mul": np.prod(stacked, axis=0),
                 "ave": stacked.mean(0), "max": stacked.max(0)}
        if mode not in table:
            raise Keras1ReferenceError(f"Merge mode {mode!r}")
        return table[mode]


def keras1_model(config_text: str | dict[str, Any], weights_path: str | os.PathLike[str], *,
                 theano: bool) -> Keras1Model:
    """The reference for a Keras 1 config (JSON text or decoded) and its stored weights."""
    config = json.loads(config_text) if isinstance(config_text, str) else config_text
    return Keras1Model(config, read_keras1_weights(weights_path), theano=theano)
