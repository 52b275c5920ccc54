"""``weights --stats`` and the report's statistics, computed in bounded blocks, against numpy
over the whole tensor: one block and many, NaN/Inf/zeros, integers, bfloat16, and a big
tensor of a ``.keras`` archive never read whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import modeltool
from modeltool.formats import blocks as block_reader
from modeltool.formats.keras_archive import StreamingLoader
from modeltool.ops.tensor_stats import histogram, moments
from modeltool.ops.weights import array_stats


def _numpy_stats(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)].astype(np.float64)
    return {"min": finite.min(), "max": finite.max(), "mean": finite.mean(), "std": finite.std()}


@pytest.mark.parametrize("pieces", [1, 7, 1000])
def test_blocks_merge_to_the_whole_tensor(pieces: int) -> None:
    rng = np.random.default_rng(5)
    values = (rng.standard_normal(10_007) * 3 + 1e3).astype(np.float32)
    values[[5, 77, 9000]] = [np.nan, np.inf, -np.inf]
    values[[6, 8]] = 0.0
    found = moments(np.array_split(values, pieces))
    expected = _numpy_stats(values)
    assert (found.min, found.max) == (expected["min"], expected["max"])
    assert found.mean == pytest.approx(expected["mean"], rel=1e-12)
    assert found.std == pytest.approx(expected["std"], rel=1e-9)
    assert (found.nan, found.inf, found.zeros, found.count) == (1, 2, 2, values.size - 3)
    finite = values[np.isfinite(values)].astype(np.float64)
    assert histogram(np.array_split(values, pieces), found.min, found.max, 24) == \
        list(np.histogram(finite, 24, (found.min, found.max))[0])


def test_one_block_is_numpy_exactly() -> None:
    values = np.random.default_rng(6).standard_normal((64, 33)).astype(np.float32)
    stats = array_stats(values)
    expected = _numpy_stats(values)
    assert stats["mean"] == expected["mean"] and stats["std"] == expected["std"]


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.bool_, ml_dtypes.bfloat16,
                                   ml_dtypes.int4, ml_dtypes.float8_e4m3fn])
def test_other_dtypes(dtype: Any) -> None:
    values = np.arange(-6, 6).astype(dtype)
    stats = array_stats(values)
    as_float = values.astype(np.float64)
    assert (stats["min"], stats["max"]) == (as_float.min(), as_float.max())
    assert stats["mean"] == pytest.approx(as_float.mean())
    assert stats["std"] == pytest.approx(as_float.std())


def test_empty_and_all_non_finite() -> None:
    assert array_stats(np.zeros(0, np.float32))["std"] == 0.0
    stats = array_stats(np.array([np.nan, np.inf], np.float32))
    assert np.isnan(stats["mean"]) and (stats["nan"], stats["inf"]) == (1, 1)


def test_strings_are_refused() -> None:
    with pytest.raises(ValueError, match="not numbers"):
        moments([np.array(["a", "b"])])


def test_big_archive_tensor_is_read_in_blocks(tmp_path: Path, keras: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``weights --stats`` of a ``.keras`` reads a big tensor in blocks of at most
    BLOCK_BYTES, and gives numpy's statistics of what Keras loads."""
    monkeypatch.setattr(block_reader, "BLOCK_BYTES", 4096)
    whole_reads: list[int] = []
    call = StreamingLoader.__call__

    def record(self: StreamingLoader) -> np.ndarray:
        whole_reads.append(self.entry.nbytes)
        return call(self)

    monkeypatch.setattr(StreamingLoader, "__call__", record)
    keras.utils.set_random_seed(3)
    inputs = keras.Input((300,))
    model = keras.Model(inputs, keras.layers.Dense(200, name="d")(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    rows = {row.name: row for row in modeltool.weights(path, stats=True).rows}
    assert all(size <= 4096 for size in whole_reads)
    kernel = model.get_layer("d").kernel.numpy()
    expected = _numpy_stats(kernel)
    got = rows["kernel"].stats
    assert got is not None
    assert (got["min"], got["max"]) == (expected["min"], expected["max"])
    assert got["mean"] == pytest.approx(expected["mean"], rel=1e-9, abs=1e-12)
    assert got["std"] == pytest.approx(expected["std"], rel=1e-9)
