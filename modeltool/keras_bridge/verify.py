"""Predictions of two artifacts of one architecture, compared through Keras 3 (used by
``convert --dtype`` to measure what casting the weights cost)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..artifact import ModelArtifact


def sample_inputs(model: Any, batch: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Deterministic inputs for ``model``: floats in [0, 1), integers in [0, 10)."""
    rng = np.random.default_rng(seed)
    values = []
    for tensor in model.inputs:
        shape = [batch, *[d if d is not None else 8 for d in tensor.shape[1:]]]
        dtype = np.dtype(str(getattr(tensor.dtype, "name", tensor.dtype)))
        if dtype.kind in "iub":
            values.append(rng.integers(0, 10, size=shape).astype(dtype))
        else:
            values.append(rng.random(shape, dtype=np.float32))
    return values


def predictions(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs (inference mode) as float64 arrays, in output order."""
    single = len(inputs) == 1
    out = model(inputs[0] if single else list(inputs), training=False)
    if isinstance(out, dict):
        out = list(out.values())
    if not isinstance(out, (list, tuple)):
        out = [out]
    return [np.asarray(o).astype(np.float64) for o in out]


def compare_predictions(reference: ModelArtifact, candidate: ModelArtifact) -> dict[str, float]:
    """Build both models with Keras 3 (``safe_mode`` on), run them on the same inputs, and
    return ``max_abs`` (largest absolute difference over every output) and ``max_rel`` (that
    difference relative to the largest absolute reference output)."""
    from . import model_from_artifact

    ref_model = model_from_artifact(reference)
    inputs = sample_inputs(ref_model)
    expected = predictions(ref_model, inputs)
    del ref_model
    got = predictions(model_from_artifact(candidate), inputs)
    max_abs = max((float(np.max(np.abs(e - g))) for e, g in zip(expected, got) if e.size),
                  default=0.0)
    scale = max((float(np.max(np.abs(e))) for e in expected if e.size), default=0.0)
    return {"max_abs": max_abs, "max_rel": max_abs / scale if scale else max_abs,
            "samples": float(inputs[0].shape[0]) if inputs else 0.0}
