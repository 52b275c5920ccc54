"""Inputs that verification feeds both the source model and onnxruntime.

Seeded random inputs fit most models, but not those whose validity depends on the values (an
integer ``floormod`` by zero, a reshape whose target is read from the input) or the batch size
(an einsum valid only at batch 2). The user can give their own inputs (``--sample-inputs
FILE.npz``, arrays by input name) or a value range per input (``--input-range NAME=lo,hi``);
integer inputs default to a range the model accepts (the smallest Embedding vocabulary).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError, InputNotFoundError, ModelToolError

Dims = tuple[int | None, ...]
_WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "b", "1")
#: The size verification gives a dimension the model leaves open (sequence length, image size).
OPEN_DIM = 32


def parse_input_range(text: str) -> tuple[str, tuple[float, float]]:
    """``NAME=lo,hi`` -> (name, (lo, hi)); integers are drawn from [lo, hi).

    Example:
        >>> parse_input_range("tokens=1,100")
        ('tokens', (1.0, 100.0))
    """
    name, sep, bounds = text.rpartition("=")
    parts = bounds.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        low = high = 0.0
        sep = ""
    if not sep or not name or not low < high:
        raise ModelToolError(f"--input-range expects NAME=lo,hi with lo < hi and got {text!r}")
    return name, (low, high)


def load_sample_inputs(path: str | os.PathLike[str],
                       input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file by input name (a single unnamed array fits a single
    input). Object arrays are refused: loading them would unpickle code."""
    source = Path(os.fspath(path))
    if not source.exists():
        raise InputNotFoundError("no such file", path=source)
    try:
        with np.load(source, allow_pickle=False) as archive:
            arrays = {name: np.asarray(archive[name]) for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise CorruptFileError(f"not a readable .npz of arrays ({str(err)[:120]})",
                               path=source) from err
    if len(arrays) == 1 and len(input_names) == 1 and input_names[0] not in arrays:
        arrays = {input_names[0]: next(iter(arrays.values()))}
    missing = [name for name in input_names if name not in arrays]
    if missing:
        raise ModelToolError(f"has no array for input {missing[0]!r}", path=source,
                             hint=f"name the arrays after the inputs: {', '.join(input_names)}")
    batches = {arrays[name].shape[0] if arrays[name].ndim else None for name in input_names}
    if len(batches) != 1 or None in batches:
        raise ModelToolError("the arrays differ in their first (batch) dimension",
                             path=source, hint="give every input the same number of samples")
    return {name: arrays[name] for name in input_names}


def check_ranges(ranges: Mapping[str, tuple[float, float]], input_names: Sequence[str]) -> None:
    """Every ``--input-range`` must name an input."""
    unknown = sorted(set(ranges) - set(input_names))
    if unknown:
        raise ModelToolError(f"--input-range names no input of the model: {', '.join(unknown)}",
                             hint=f"the inputs are: {', '.join(input_names)}")


def random_feeds(shapes: Sequence[Dims], dtypes: Sequence[str], names: Sequence[str],
                 batch: int, *, seed: int, int_high: int,
                 ranges: Mapping[str, tuple[float, float]] | None = None) -> list[np.ndarray]:
    """Seeded inputs: floats in [0, 1), integers in [0, int_high), or the given range."""
    rng = np.random.default_rng([seed, batch])
    feeds = []
    for dims, dtype_name, name in zip(shapes, dtypes, names):
        shape = [batch if index == 0 and size is None else (OPEN_DIM if size is None else size)
                 for index, size in enumerate(dims)]
        if dtype_name == "string":  # text inputs: words from a small seeded vocabulary
            feeds.append(rng.choice(np.array(_WORDS, dtype=object), size=shape))
            continue
        dtype = np.dtype(dtype_name)
        low, high = (ranges or {}).get(name, (0.0, float(int_high) if dtype.kind in "iu"
                                              else 1.0))
        if dtype.kind in "iu":
            feeds.append(rng.integers(int(np.ceil(low)), max(int(np.ceil(high)),
                                                            int(np.ceil(low)) + 1),
                                      size=shape).astype(dtype))
        elif dtype.kind == "b":
            feeds.append(rng.random(shape) < 0.5)
        else:
            feeds.append((low + (high - low) * rng.random(shape)).astype(dtype))
    return feeds


def sample_feeds(samples: Mapping[str, np.ndarray], names: Sequence[str],
                 dtypes: Sequence[str], shapes: Sequence[Dims], label: str) -> list[np.ndarray]:
    """The user's arrays in input order, cast to the input dtypes; shapes must fit."""
    feeds = []
    for name, dtype, dims in zip(names, dtypes, shapes):
        array = np.asarray(samples[name])
        if array.ndim != len(dims) or any(
                want is not None and have != want for have, want in zip(array.shape, dims)):
            raise ModelToolError(f"sample input {name!r} has shape {array.shape} and the model "
                                 f"takes {tuple(dims)}", path=label)
        feeds.append(array.astype(object if dtype == "string" else np.dtype(dtype),
                                  copy=False))
    return feeds
