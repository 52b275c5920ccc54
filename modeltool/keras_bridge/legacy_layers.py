"""Layers Keras 1/2 shipped and Keras 3 dropped, as small registered Keras 3 layers.

=====================  ==========================================================================
``modeltool>Highway``  Keras 1 / Keras 2.0-2.2 ``Highway``: ``y = T * act(x.W + b) + (1 - T) * x``
                       with ``T = sigmoid(x.W_carry + b_carry)``; variables ``kernel``,
                       ``carry_kernel``, ``bias``, ``carry_bias`` in Keras 1's order
``modeltool>LocallyConnected1D``, ``modeltool>LocallyConnected2D``
                       Keras 1 and Keras 2 / tf.keras ``LocallyConnected*``: the variables of
                       tf.keras' ``implementation`` 1, 2 or 3 (Keras 1 stored implementation 1's)
``modeltool>CosineMerge``
                       Keras 1 ``Merge(mode="cos")``: ``a.b / max(sqrt((a.a) (b.b)), 1e-7)``
=====================  ==========================================================================

They compute with ``keras.ops`` only, so every backend and the ONNX export trace them. Importing
this module registers them (and the legacy activations) with Keras::

    import modeltool.keras_bridge.legacy_layers  # noqa: F401  (registers them)
    model = keras.models.load_model("migrated.keras")

modeltool itself registers them before it builds a model.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

import numpy as np

#: The module Keras records for these classes (``formats.dialects.legacy_layers`` knows it too).
MODULE = __name__
PACKAGE = "modeltool"


def _output_length(length: int, kernel: int, padding: str, stride: int) -> int:
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1


def _window(position: int, length: int, kernel: int, padding: str, stride: int) -> range:
    """The input positions output ``position`` reads: ``[p*s, p*s + k)`` for "valid"; for
    "same" the window centred on ``p*s`` (left half ``k // 2``), cut at the edges."""
    start = position * stride
    if padding == "same":
        start -= kernel // 2
    return range(max(start, 0), min(start + kernel, length))


def connectivity(inputs: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                 padding: str) -> np.ndarray:
    """``mask[in_1.., out_1..]``: True where an input position feeds an output position."""
    outputs = tuple(_output_length(n, k, padding, s)
                    for n, k, s in zip(inputs, kernel, strides))
    mask = np.zeros(inputs + outputs, dtype=bool)
    for out in itertools.product(*(range(n) for n in outputs)):
        windows = [_window(p, n, k, padding, s)
                   for p, n, k, s in zip(out, inputs, kernel, strides)]
        for where in itertools.product(*windows):
            mask[where + out] = True
    return mask


@lru_cache(maxsize=1)
def _classes() -> dict[str, type]:
    """Define the layer classes (Keras is imported here, never at module level)."""
    import keras
    from keras import ops

    class Highway(keras.layers.Layer):
        """Keras 1's Highway layer (Srivastava et al.): a gated mix of ``act(x.W + b)`` and
        ``x``; the gate is ``sigmoid(x.W_carry + b_carry)``."""

        def __init__(self, activation: Any = "linear", use_bias: bool = True,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.activation = keras.activations.get(activation)
            self.use_bias = use_bias

        def build(self, input_shape: Any) -> None:
            dim = int(input_shape[-1])
            # Keras 1 created W, W_carry, b, b_carry in this order: a file's weights fit by
            # position.
            self.kernel = self.add_weight(shape=(dim, dim), name="kernel")
            self.carry_kernel = self.add_weight(shape=(dim, dim), name="carry_kernel")
            if self.use_bias:
                self.bias = self.add_weight(shape=(dim,), name="bias", initializer="zeros")
                self.carry_bias = self.add_weight(shape=(dim,), name="carry_bias",
                                                  initializer="ones")

        def call(self, x: Any) -> Any:
            carry = ops.matmul(x, self.carry_kernel)
            hidden = ops.matmul(x, self.kernel)
            if self.use_bias:
                carry = ops.add(carry, self.carry_bias)
                hidden = ops.add(hidden, self.bias)
            gate = ops.sigmoid(carry)
            return ops.add(ops.multiply(self.activation(hidden), gate),
                           ops.multiply(ops.subtract(1.0, gate), x))

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(),
                    "activation": keras.activations.serialize(self.activation),
                    "use_bias": self.use_bias}

    class _LocallyConnected(keras.layers.Layer):
        """A convolution whose weights differ at every output position (rank 1 or 2)."""

        rank = 0

        def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                     padding: str = "valid", data_format: str = "channels_last",
                     activation: Any = "linear", use_bias: bool = True,
                     implementation: int = 1, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.filters = int(filters)
            self.kernel_size = _ints(kernel_size, self.rank)
            self.strides = _ints(strides, self.rank)
            self.padding = str(padding).lower()
            self.data_format = data_format or "channels_last"
            self.activation = keras.activations.get(activation)
            self.use_bias = use_bias
            self.implementation = int(implementation)
            if self.implementation not in (1, 2, 3):
                raise ValueError(f"implementation must be 1, 2 or 3, not {implementation}")
            if self.padding != "valid" and self.implementation == 1:
                raise ValueError("implementation 1 supports padding='valid' only")

        def _split(self, shape: Any) -> tuple[tuple[int, ...], int]:
            dims = [int(d) for d in shape[1:]]
            if self.data_format == "channels_first":
                return tuple(dims[1:]), dims[0]
            return tuple(dims[:-1]), dims[-1]

        def _join(self, spatial: tuple[int, ...], channels: int) -> tuple[int, ...]:
            if self.data_format == "channels_first":
                return (channels, *spatial)
            return (*spatial, channels)

        def build(self, input_shape: Any) -> None:
            spatial, channels = self._split(input_shape)
            self.in_spatial = spatial
            self.out_spatial = tuple(_output_length(n, k, self.padding, s) for n, k, s
                                     in zip(spatial, self.kernel_size, self.strides))
            if min(self.out_spatial) <= 0:
                raise ValueError(f"input {spatial} is smaller than the kernel "
                                 f"{self.kernel_size}")
            positions = int(np.prod(self.out_spatial))
            window = int(np.prod(self.kernel_size))
            if self.implementation == 1:
                shape: tuple[int, ...] = (positions, window * channels, self.filters)
            elif self.implementation == 2:
                first = self.data_format == "channels_first"
                shape = (*self._join(spatial, channels),
                         *((self.filters, *self.out_spatial) if first
                           else (*self.out_spatial, self.filters)))
            mask = connectivity(spatial, self.kernel_size, self.strides, self.padding)
            if self.implementation == 2:
                self._mask = _broadcast_mask(mask, self.rank, self.data_format)
            if self.implementation == 3:
                self._indices = _sparse_indices(mask, self.rank, channels, self.filters,
                                                self.data_format)
                self._dense_shape = (positions * self.filters,
                                     int(np.prod(spatial)) * channels)
                shape = (len(self._indices),)
            self.kernel = self.add_weight(shape=shape, name="kernel")
            if self.use_bias:
                self.bias = self.add_weight(shape=(*self.out_spatial, self.filters),
                                            name="bias", initializer="zeros")

        def call(self, x: Any) -> Any:
            if self.implementation == 1:
                out = self._patches_matmul(x)
            else:
                if self.implementation == 2:
                    size = int(np.prod(self.kernel.shape[:self.rank + 1]))
                    dense = ops.reshape(ops.multiply(self.kernel, self._mask), (size, -1))
                else:
                    dense = ops.transpose(ops.scatter(self._indices, self.kernel,
                                                      self._dense_shape))
                flat = ops.matmul(ops.reshape(x, (ops.shape(x)[0], -1)), dense)
                out = ops.reshape(flat, (-1, *self._join(self.out_spatial, self.filters)))
            if self.use_bias:
                if self.data_format == "channels_first":
                    # tf.keras (backend.bias_add) and Keras 1 reshape the (positions...,
                    # filters) bias in memory order, not transpose it: kept as they computed.
                    out = ops.add(out, ops.reshape(self.bias,
                                                   (1, self.filters, *self.out_spatial)))
                else:
                    out = ops.add(out, self.bias)
            return self.activation(out)

        def _patches_matmul(self, x: Any) -> Any:
            """Implementation 1: the window at each output position, times its own kernel."""
            first = self.data_format == "channels_first"
            for d in range(self.rank):
                starts = np.arange(self.out_spatial[d]) * self.strides[d]
                index = starts[:, None] + np.arange(self.kernel_size[d])[None, :]
                x = ops.take(x, index.astype("int32"), axis=(2 if first else 1) + 2 * d)
            # x: (batch, [C,] o1, k1, o2, k2, ..., [C])
            outs = [(2 if first else 1) + 2 * d for d in range(self.rank)]
            kernels = [o + 1 for o in outs]
            channel = [1] if first else [1 + 2 * self.rank]
            features = channel + kernels if first else kernels + channel
            x = ops.transpose(x, (*outs, 0, *features))
            x = ops.reshape(x, (self.kernel.shape[0], -1, self.kernel.shape[1]))
            out = ops.matmul(x, self.kernel)  # (positions, batch, filters)
            out = ops.reshape(out, (*self.out_spatial, -1, self.filters))
            spatial_axes = tuple(range(self.rank))
            order = (self.rank, self.rank + 1, *spatial_axes) if first \
                else (self.rank, *spatial_axes, self.rank + 1)
            return ops.transpose(out, order)

        def compute_output_shape(self, input_shape: Any) -> Any:
            spatial, _ = self._split([1 if d is None else d for d in input_shape])
            out = tuple(_output_length(n, k, self.padding, s)
                        for n, k, s in zip(spatial, self.kernel_size, self.strides))
            return (input_shape[0], *self._join(out, self.filters))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "filters": self.filters,
                    "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                    "padding": self.padding, "data_format": self.data_format,
                    "activation": keras.activations.serialize(self.activation),
                    "use_bias": self.use_bias, "implementation": self.implementation}

    class LocallyConnected1D(_LocallyConnected):
        """Keras 1/2 ``LocallyConnected1D``."""

        rank = 1

    class LocallyConnected2D(_LocallyConnected):
        """Keras 1/2 ``LocallyConnected2D``."""

        rank = 2

    class CosineMerge(keras.layers.Dot):
        """Keras 1 ``Merge(mode="cos")``: ``batch_dot(a, b) / max(sqrt(batch_dot(a, a) *
        batch_dot(b, b)), epsilon)``, in that order (Keras' ``Dot(normalize=True)`` normalizes
        each input first, with another epsilon)."""

        def __init__(self, axes: Any = -1, epsilon: float = 1e-7, **kwargs: Any) -> None:
            kwargs.pop("normalize", None)
            super().__init__(axes=axes, normalize=False, **kwargs)
            self.epsilon = float(epsilon)

        def _merge_function(self, inputs: Any) -> Any:
            a, b = inputs
            dot = super()._merge_function
            denominator = ops.sqrt(ops.multiply(dot([a, a]), dot([b, b])))
            return ops.divide(dot([a, b]), ops.maximum(denominator, self.epsilon))

        def get_config(self) -> dict[str, Any]:
            config = super().get_config()
            config.pop("normalize", None)
            return {**config, "epsilon": self.epsilon}

    classes: dict[str, type] = {}
    for cls in (Highway, LocallyConnected1D, LocallyConnected2D, CosineMerge):
        cls.__module__ = MODULE
        cls.__qualname__ = cls.__name__
        classes[cls.__name__] = cls
    return classes


def _ints(value: Any, rank: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),) * rank


def _broadcast_mask(mask: np.ndarray, rank: int, data_format: str) -> np.ndarray:
    """The (in..., out...) mask shaped like implementation 2's kernel, channel axes of 1."""
    ins, outs = mask.shape[:rank], mask.shape[rank:]
    if data_format == "channels_first":
        shape = (1, *ins, 1, *outs)
    else:
        shape = (*ins, 1, *outs, 1)
    return mask.reshape(shape).astype("float32")


def _sparse_indices(mask: np.ndarray, rank: int, channels: int, filters: int,
                    data_format: str) -> np.ndarray:
    """Implementation 3's (output, input) index pairs: every connected pair of flat positions
    (channels included, in ``data_format`` order), sorted."""
    full = _broadcast_mask(mask, rank, data_format) > 0
    if data_format == "channels_first":
        full = np.broadcast_to(full, (channels, *mask.shape[:rank], filters,
                                      *mask.shape[rank:]))
    else:
        full = np.broadcast_to(full, (*mask.shape[:rank], channels, *mask.shape[rank:],
                                      filters))
    half = rank + 1
    axes = (*range(half, 2 * half), *range(half))
    by_output = np.transpose(full, axes)
    outputs = int(np.prod(by_output.shape[:half]))
    pairs = np.argwhere(by_output.reshape(outputs, -1))  # row-major: sorted
    return pairs.astype("int64")


def layer_classes() -> dict[str, type]:
    """``{class name: registered Keras 3 class}``."""
    return dict(_classes())


def register() -> None:
    """Register these layers and the legacy activations with Keras (idempotent)."""
    import keras

    from .legacy_activations import register as register_activations

    register_activations()
    for name, cls in _classes().items():
        if keras.saving.get_registered_object(f"{PACKAGE}>{name}") is not cls:
            keras.saving.register_keras_serializable(package=PACKAGE, name=name)(cls)


register()
