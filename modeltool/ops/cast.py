"""Casting a model's float weights to float16, bfloat16 or float32, with the matching Keras
dtype policies.

What is cast: every floating-point weight (float16/32/64, bfloat16); integer weights and the
layers of a quantized dtype policy (``int8``, ``float8``, ``int4`` ...) are left as they are.
Each layer's dtype policy becomes the target dtype (``float16``: weights and computation in
float16). BatchNormalization is the exception for float16 and bfloat16: its weights (gamma,
beta and the moving statistics) stay float32 and its policy becomes ``mixed_float16`` /
``mixed_bfloat16`` (float32 variables, low-precision output), as Keras' mixed precision keeps
them: the moving variance of a trained network routinely leaves float16's range and loses all
precision in bfloat16. Recurrent layers (any layer with an Orthogonal initializer) stay float32
under ``mixed_bfloat16`` for bfloat16: TensorFlow has no bfloat16 QR decomposition, so Keras
cannot even build them with a bfloat16 policy. 3D pooling computes in float32 for float16
(TensorFlow has no float16 CPU kernel for it; it has no weights). Input layers keep their dtype
(Keras casts inputs in the first layer). Keras 3 cannot load bfloat16 weights from a legacy
``.h5`` (its loader does not convert HDF5's opaque bfloat16); modeltool writes and reads them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_dtypes
import numpy as np

from ..artifact import ModelArtifact, WeightEntry, WeightStore
from ..errors import UnsupportedError
from ..layer_classes import BATCHNORM_CLASSES

#: The dtypes ``convert --dtype`` casts to.
CAST_DTYPES = ("float16", "bfloat16", "float32")
_FLOATS = frozenset({"float16", "float32", "float64", "bfloat16"})
_KEEP_FLOAT32 = BATCHNORM_CLASSES
#: TensorFlow has no float16 CPU kernel for these (weightless) layers: they compute in float32.
_NO_HALF_ON_CPU = frozenset({"MaxPooling3D", "AveragePooling3D"})
_QUANTIZED_PREFIXES = ("int8", "int4", "float8", "gptq", "awq")


def _numpy(dtype: str) -> np.dtype[Any]:
    return np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)


def _policy_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = (value.get("config") or {}).get("name")
        return str(name) if name is not None else None
    return None


def _quantized(value: Any) -> bool:
    name = _policy_name(value) or ""
    cls = value.get("class_name", "") if isinstance(value, dict) else ""
    return "Quantized" in str(cls) or name.startswith(_QUANTIZED_PREFIXES)


def _mentions(value: Any, class_name: str) -> bool:
    if isinstance(value, dict):
        return value.get("class_name") == class_name or any(
            _mentions(v, class_name) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, class_name) for v in value)
    return False


def _policy(name: str) -> dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def cast_config(config: Any, dtype: str) -> tuple[Any, set[str], set[str]]:
    """A copy of ``config`` with every float dtype policy set for ``dtype``.

    Returns:
        (new config, paths of layers kept float32, paths of quantized layers left alone).
    """
    kept: set[str] = set()
    quantized: set[str] = set()

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, list):
            return [walk(item, path) for item in value]
        if not isinstance(value, dict):
            return value
        inner = value.get("config")
        here = path
        if "class_name" in value and isinstance(inner, dict):
            name = value.get("name") or inner.get("name")
            if isinstance(name, str) and name:
                here = f"{path}/{name}" if path else name
        out = {k: walk(v, here) for k, v in value.items()}
        inner = out.get("config")
        cls = out.get("class_name")
        if isinstance(inner, dict) and "dtype" in inner \
                and cls not in ("InputLayer", "__keras_tensor__"):
            current = inner["dtype"]
            if _quantized(current):
                quantized.add(here)
            elif current is None or (_policy_name(current) or "").removeprefix("mixed_") \
                    in _FLOATS:
                if cls in _NO_HALF_ON_CPU and dtype == "float16":
                    out["config"] = {**inner, "dtype": _policy("float32")}
                elif (cls in _KEEP_FLOAT32 and dtype != "float32") or (
                        dtype == "bfloat16" and _mentions(inner, "Orthogonal")):
                    kept.add(here)
                    out["config"] = {**inner, "dtype": _policy(f"mixed_{dtype}")}
                else:
                    out["config"] = {**inner, "dtype": _policy(dtype)}
        return out

    return walk(config, ""), kept, quantized


def cast_artifact(artifact: ModelArtifact, dtype: str) -> ModelArtifact:
    """A new artifact whose float weights read as ``dtype`` and whose config asks Keras for the
    matching dtype policies (see the module docstring for what is left as it is).

    Example:
        >>> half = cast_artifact(modeltool.open("model.keras"), "float16")  # doctest: +SKIP
    """
    if dtype not in CAST_DTYPES:
        raise UnsupportedError(f"cannot cast to {dtype!r}", hint=f"choose one of: "
                                                                  f"{', '.join(CAST_DTYPES)}")
    config = artifact.config
    kept: set[str] = set()
    quantized: set[str] = set()
    if config is not None:
        top_name = (config.get("config") or {}).get("name")
        config, kept, quantized = cast_config(config, dtype)
        prefix = f"{top_name}/" if top_name else ""
        kept = {p.removeprefix(prefix) for p in kept}
        quantized = {p.removeprefix(prefix) for p in quantized}
    layers: dict[str, list[WeightEntry]] = {}
    cast_count = 0
    for name, entries in artifact.weights.layers.items():
        bn_like = any(e.short_name == "moving_variance" for e in entries)
        new_entries = []
        for entry in entries:
            under_kept = any(k == entry.path or k.startswith(f"{entry.path}/") for k in kept)
            keep = (under_kept or (config is None and bn_like and dtype != "float32")
                    or entry.path in quantized or entry.dtype not in _FLOATS)
            if keep or entry.dtype == dtype:
                new_entries.append(entry)
                continue
            cast_count += 1
            new_entries.append(dataclasses.replace(entry, dtype=dtype,
                                                   loader=_caster(entry, _numpy(dtype))))
        layers[name] = new_entries
    result = dataclasses.replace(artifact, config=config,
                                 weights=WeightStore(layers), notes=list(artifact.notes))
    result.notes.append(f"{cast_count} float weight tensors cast to {dtype}")
    if kept:
        result.notes.append(f"kept float32 (policy mixed_{dtype}): {', '.join(sorted(kept))}")
    if quantized:
        result.notes.append(f"quantized layers left as they are: {', '.join(sorted(quantized))}")
    return result


def _caster(entry: WeightEntry, target: np.dtype[Any]) -> Any:
    from ..formats.blocks import CastLoader

    return CastLoader(entry, target)
