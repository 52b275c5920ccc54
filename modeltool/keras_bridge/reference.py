"""The library that wrote a file, run on the original file: what a migration is checked against.

- Keras 2 / tf.keras files: tf_keras (when installed) loads the original file (or JSON plus its
  weights) and predicts.
- Keras 1 files: ``keras1_reference``, a numpy forward pass over the stored config and weights
  that shares no code with modeltool's migration.
- Anything else (Keras 3 files, YAML, SavedModels, models with Lambda or custom layers that the
  original library would have to run as code): no reference; reports say the check was
  against Keras 3 only, and why.

Nothing here runs code from a model file: a model with a Lambda layer or a class Keras lacks is
never handed to tf_keras (its legacy loader would unmarshal Lambda bytecode).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _optional
from ..artifact import ModelArtifact
from ..kinds import Kind

PathLike = str | os.PathLike[str]
Predict = Callable[[list[np.ndarray]], list[np.ndarray]]

#: Tolerances of ``convert``'s check against the source (float32, max abs).
ATOL = 1e-5
RTOL = 1e-4
BATCH = 3
OPEN_DIM = 24
SEED = 1601


@dataclass
class SourceReference:
    """How a migrated model can be checked against its source."""

    label: str
    predict: Predict | None = None
    reason: str = ""
    keras1_inputs_from_one: bool = False  # numpy reference: draw Embedding indices from 1


@dataclass
class SourceCheck:
    """The migrated model against the source library, on seeded inputs."""

    reference: str
    max_abs: float | None = None
    passed: bool = True
    outputs: list[tuple[str, float]] = field(default_factory=list)
    note: str = ""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def source_reference(artifact: ModelArtifact, *, weights: PathLike | None = None
                     ) -> SourceReference:
    """The reference for ``artifact`` (opened from its file; ``weights`` paired with it)."""
    from ..formats.dialects import foreign_layers

    if artifact.path is None or artifact.config is None:
        return SourceReference("Keras 3 only", reason="no source file with an architecture")
    foreign = foreign_layers(artifact.config)
    if foreign:
        where, cls, _ = foreign[0]
        return SourceReference("Keras 3 only", reason=f"layer {where!r} ({cls}) would make the "
                                                      "source library run code from the file")
    version = (artifact.keras_version or "").strip()
    if artifact.dialect == 1 or version.startswith("1"):
        return _keras1_reference(artifact, weights)
    if artifact.dialect == 2 or version.startswith("2"):
        return _tf_keras_reference(artifact, weights)
    return SourceReference("Keras 3 only", reason="the source was written by Keras 3")


def reference_for_file(path: PathLike, weights: PathLike | None = None) -> SourceReference:
    """The reference for the model file at ``path`` (with ``weights`` for an architecture)."""
    from ..formats import open_artifact

    with open_artifact(path) as artifact:
        return source_reference(artifact, weights=weights)


def _keras1_reference(artifact: ModelArtifact, weights: PathLike | None) -> SourceReference:
    from ..formats.migrate import assume_theano
    from .keras1_reference import Keras1ReferenceError, keras1_model

    weights_path = weights if weights is not None else artifact.path
    if weights_path is None or artifact.kind not in (Kind.H5, Kind.JSON) or (
            artifact.kind == Kind.JSON and weights is None):
        return SourceReference("Keras 3 only", reason="no Keras 1 weights file to compute from")
    try:
        backend = _stored_backend(weights_path)
        theano = assume_theano(True, backend, artifact.source_config)
        model = keras1_model(artifact.source_config, weights_path, theano=theano)
    except (Keras1ReferenceError, OSError, KeyError, ValueError, TypeError) as err:
        return SourceReference("Keras 3 only",
                               reason=f"the Keras 1 reference cannot read it: {_first_line(err)}")
    label = "numpy Keras 1 formulas" + (" (Theano convolution)" if theano else "") + \
        " on the original file"

    def predict(inputs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return model.predict(inputs)
        except Keras1ReferenceError as err:
            raise _NoReference(f"the Keras 1 reference does not compute {err}") from err

    return SourceReference(label, predict, keras1_inputs_from_one=True)


def _stored_backend(path: PathLike) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            value = handle.attrs.get("backend")
    except OSError:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    return str(value) if value else None


def _tf_keras_reference(artifact: ModelArtifact, weights: PathLike | None) -> SourceReference:
    if not _available("tf_keras"):
        return SourceReference("Keras 3 only", reason="tf_keras is not installed")
    if artifact.kind not in (Kind.H5, Kind.KERAS, Kind.JSON):
        return SourceReference("Keras 3 only",
                               reason=f"tf_keras is not run on a {artifact.kind} source")
    if artifact.kind == Kind.JSON and weights is None:
        return SourceReference("Keras 3 only", reason="an architecture without weights")
    weights_file = weights if weights is not None else artifact.path
    backend = artifact.backend if weights is None else (
        _stored_backend(weights) if str(weights).endswith((".h5", ".hdf5")) else None)
    if (backend or "") == "theano" or (weights_file and artifact.kind != Kind.KERAS
                                       and _stored_backend(weights_file) == "theano"):
        return SourceReference("Keras 3 only", reason="the weights were trained with Theano and "
                                                      "tf_keras ignores that (Keras 2 flipped "
                                                      "their kernels when loading them)")
    tf_keras = _optional.require("tf_keras", "checking against the source")
    path = os.fspath(artifact.path or "")
    try:
        if artifact.kind == Kind.JSON:
            model = tf_keras.models.model_from_json(Path(path).read_text())
            model.load_weights(os.fspath(weights or ""))
        elif artifact.kind == Kind.KERAS:
            model = tf_keras.models.load_model(path, compile=False, safe_mode=True)
        else:
            model = tf_keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - tf_keras raises anything
        return SourceReference("Keras 3 only",
                               reason=f"tf_keras cannot load the original: {_first_line(err)}")

    def predict(inputs: list[np.ndarray]) -> list[np.ndarray]:
        out = model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        if isinstance(out, dict):
            out = list(out.values())
        if not isinstance(out, (list, tuple)):
            out = [out]
        return [np.asarray(o) for o in out]

    return SourceReference(f"tf_keras {tf_keras.__version__} on the original file", predict)


class _NoReference(Exception):
    """The reference cannot compute this model after all."""


def sample_inputs(specs: list[tuple[list[int | None], str]], *, int_high: int, batch: int,
                  seed: int = SEED, int_low: int = 0) -> list[np.ndarray]:
    """Seeded inputs: floats in [0, 1), integers in [int_low, int_high)."""
    rng = np.random.default_rng([seed, batch])
    values = []
    for dims, dtype_name in specs:
        shape = [batch if i == 0 and d is None else (OPEN_DIM if d is None else d)
                 for i, d in enumerate(dims)]
        dtype = np.dtype(dtype_name)
        if dtype.kind in "iu":
            values.append(rng.integers(int_low, max(int_high, int_low + 1),
                                       size=shape).astype(dtype))
        else:
            values.append(rng.random(shape).astype(dtype))
    return values


def vocabulary(config: dict[str, Any] | None, default: int = 10) -> int:
    """The smallest Embedding ``input_dim`` of a canonical config (integer inputs stay in it)."""
    found: list[int] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("class_name") == "Embedding":
                dim = (value.get("config") or {}).get("input_dim")
                if isinstance(dim, int) and dim > 0:
                    found.append(dim)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(config)
    return min(found) if found else default


def compare(reference: SourceReference, got: list[np.ndarray], want: list[np.ndarray],
            names: list[str], *, atol: float = ATOL, rtol: float = RTOL) -> SourceCheck:
    """Outputs of the migrated model (``got``) against the reference's (``want``)."""
    check = SourceCheck(reference.label)
    worst = 0.0
    for name, g, w in zip(names, got, want):
        g64, w64 = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g64.shape != w64.shape:
            check.passed = False
            check.outputs.append((name, float("inf")))
            worst = float("inf")
            check.note = f"output {name!r} has shape {g64.shape}, the source {w64.shape}"
            continue
        both_nan = np.isnan(g64) & np.isnan(w64)  # NaN where the source has NaN is faithful
        diff = np.where(both_nan, 0.0, np.abs(g64 - w64))
        diff = np.where(np.isnan(diff), np.inf, diff)
        value = float(diff.max()) if diff.size else 0.0
        check.outputs.append((name, value))
        worst = max(worst, value)
        if not bool(np.all(diff <= atol + rtol * np.abs(w64))):
            check.passed = False
    check.max_abs = worst
    return check


def check_keras_file(source: ModelArtifact, written: PathLike, *,
                     weights: PathLike | None = None, keras2: bool = False) -> SourceCheck:
    """Run ``written`` and compare it with the source library on seeded inputs.

    ``written`` is loaded by Keras 3, or by tf_keras with ``keras2`` (a ``k2-h5`` output; its
    reference is then Keras 3 on the source when the source has no reference of its own).
    Returns a check whose ``reference`` says "Keras 3 only" (and ``note`` why) when there is
    no usable reference or the output cannot be loaded.
    """
    reference = source_reference(source, weights=weights)
    if reference.predict is None and keras2:
        reference = _keras3_reference(source)
    if reference.predict is None:
        return SourceCheck("Keras 3 only", note=f"not checked against the source: "
                                                f"{reference.reason}")
    keras = _optional.require("keras", "checking against the source")
    from .legacy_layers import register

    register()
    try:
        if keras2:
            tf_keras = _optional.require("tf_keras", "checking a Keras 2 output")
            model = tf_keras.models.load_model(os.fspath(written), compile=False)
        else:
            model = _load_keras3(keras, Path(os.fspath(written)))
    except Exception as err:  # noqa: BLE001
        if keras2:  # the whole point of a k2-h5 file is that tf_keras loads it
            return SourceCheck(reference.label, passed=False, note=f"tf_keras cannot load the "
                                                                   f"output ({_first_line(err)})")
        return SourceCheck("Keras 3 only", note=f"not checked against the source: Keras 3 "
                                                f"cannot load the output ({_first_line(err)})")
    specs = [([*t.shape], str(getattr(t.dtype, "name", t.dtype))) for t in model.inputs]
    inputs = sample_inputs(specs, int_high=vocabulary(source.config), batch=BATCH,
                           int_low=1 if reference.keras1_inputs_from_one else 0)
    try:
        out = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
        got = [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    except Exception as err:  # noqa: BLE001
        return SourceCheck("Keras 3 only", note=f"not checked against the source: the output "
                                                f"cannot run ({_first_line(err)})")
    try:
        want = reference.predict(inputs)
    except _NoReference as err:
        return SourceCheck("Keras 3 only", note=f"not checked against the source: {err}")
    except Exception as err:  # noqa: BLE001 - the source library raises anything
        return SourceCheck("Keras 3 only", note=f"not checked against the source: "
                                                f"{reference.label} fails ({_first_line(err)})")
    names = [str(getattr(t, "name", i)) for i, t in enumerate(model.outputs)]
    return compare(reference, got, want, names)


def _load_keras3(keras: Any, target: Path) -> Any:
    if target.is_file() and not target.name.endswith((".keras", ".h5", ".hdf5")):
        scratch = Path(tempfile.mkdtemp(prefix="modeltool-"))
        try:
            os.symlink(target.resolve(), scratch / "model.keras")
            return keras.models.load_model(scratch / "model.keras", compile=False,
                                           safe_mode=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return keras.models.load_model(target, compile=False, safe_mode=True)


def _keras3_reference(source: ModelArtifact) -> SourceReference:
    """Keras 3 on the source (for a Keras 3 source written for Keras 2)."""
    from . import model_from_artifact

    try:
        model = model_from_artifact(source)
    except Exception as err:  # noqa: BLE001
        return SourceReference("Keras 3 only", reason=f"Keras 3 cannot build the source "
                                                      f"({_first_line(err)})")

    def predict(inputs: list[np.ndarray]) -> list[np.ndarray]:
        out = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
        return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

    return SourceReference("Keras 3 on the source", predict)
