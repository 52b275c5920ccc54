"""StringLookup / IntegerLookup to ONNX (issue 17): models built with Keras 3, saved as
``.keras``, converted from the file through the CLI, and run in onnxruntime against
``keras.saving.load_model`` on inputs that mix vocabulary entries, out-of-vocabulary keys and
the mask token. What cannot be exported exactly is refused in one line naming the layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from modeltool.cli import main

pytest.importorskip("tf2onnx")
ort = pytest.importorskip("onnxruntime")

WORDS = ["cat", "dog", "bird", "fish"]
#: Strings fed to the string models: every vocabulary entry, unknown words and the empty string.
TEXT = np.array([["cat", "dog", "zebra", ""], ["fish", "bird", "cat", "owl"],
                 ["", "lion", "dog", "dog"]], dtype=object)
NUMBERS = [7, 42, 1000, 3]
#: Integers fed to the integer models: every vocabulary entry, unknown ones and 0.
INTS = np.array([[7, 42, 5, 0], [1000, 3, 3, 99], [0, 7, 8, 1000]], dtype=np.int64)


def _string_lookup(keras: Any, **options: Any) -> Any:
    words = keras.Input((4,), dtype="string", name="words")
    return keras.Model(words, keras.layers.StringLookup(vocabulary=WORDS, name="lookup",
                                                        **options)(words))


def _integer_lookup(keras: Any, **options: Any) -> Any:
    ids = keras.Input((4,), dtype="int64", name="ids")
    return keras.Model(ids, keras.layers.IntegerLookup(vocabulary=NUMBERS, name="lookup",
                                                       **options)(ids))


def _inverted(keras: Any) -> Any:
    ids = keras.Input((4,), dtype="int64", name="ids")
    return keras.Model(ids, keras.layers.StringLookup(vocabulary=WORDS, invert=True,
                                                      name="lookup")(ids))


def _classifier(keras: Any) -> Any:
    """The usual use: words -> ids -> Embedding -> pooled -> Dense."""
    words = keras.Input((4,), dtype="string", name="words")
    ids = keras.layers.StringLookup(vocabulary=WORDS, name="lookup")(words)
    x = keras.layers.Embedding(len(WORDS) + 1, 8, name="embed")(ids)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(words, keras.layers.Dense(3, activation="softmax", name="out")(x))


EXACT: dict[str, tuple[Callable[[Any], Any], np.ndarray]] = {
    "string": (lambda k: _string_lookup(k), TEXT),
    "string_no_oov": (lambda k: _string_lookup(k, num_oov_indices=0), TEXT),
    "integer": (lambda k: _integer_lookup(k), INTS),
    "integer_mask": (lambda k: _integer_lookup(k, mask_token=0), INTS),
    "inverted": (_inverted, np.array([[0, 1, 2, 3], [4, 4, 1, 0], [2, 3, 3, 1]], np.int64)),
    "classifier": (_classifier, TEXT),
}


@pytest.fixture(scope="session")
def lookup_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lookups")


def _saved(keras: Any, folder: Path, name: str, build: Callable[[Any], Any]) -> Path:
    path = folder / f"{name}.keras"
    if not path.exists():
        build(keras).save(path)
    return path


@pytest.mark.parametrize("case", sorted(EXACT))
def test_lookup_converts_exactly(case: str, keras: Any, lookup_dir: Path,
                                 tmp_path: Path) -> None:
    build, feed = EXACT[case]
    args: list[str] = []
    if case == "string_no_oov":  # without OOV indices Keras refuses unknown words: the user's
        feed = np.array([["cat", "dog", "fish", "bird"], ["dog", "dog", "cat", "fish"]],
                        dtype=object)  # own inputs (--sample-inputs) verify it
        np.savez(tmp_path / "words.npz", words=feed.astype(str))
        args = ["--sample-inputs", str(tmp_path / "words.npz")]
    source = _saved(keras, lookup_dir, case, build)
    out = tmp_path / f"{case}.onnx"
    result = CliRunner().invoke(main, ["to-onnx", str(source), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    model = keras.saving.load_model(source, compile=False)
    want = np.asarray(model(feed, training=False))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: feed})[0]
    if want.dtype.kind in "OSU":
        want = np.array([[w.decode() if isinstance(w, bytes) else w for w in row]
                         for row in want], dtype=object)
        assert got.tolist() == want.tolist()
    elif want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


def _text_vectorization(keras: Any) -> Any:
    text = keras.Input((1,), dtype="string", name="text")
    layer = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=5,
                                           name="vectorize")
    layer.adapt(["the cat sat", "the dog ran far away"])
    return keras.Model(text, layer(text))


#: Lookups ONNX cannot express exactly here: string equality with the mask token (tf2onnx casts
#: the strings to numbers below opset 19), hashing into several OOV buckets (FarmHash), and
#: TextVectorization's regex standardization and splitting.
REFUSED: dict[str, Callable[[Any], Any]] = {
    "string_mask": lambda k: _string_lookup(k, mask_token=""),
    "string_oov_buckets": lambda k: _string_lookup(k, num_oov_indices=2),
    "text_vectorization": _text_vectorization,
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_lookup_refused_in_one_line(case: str, keras: Any, lookup_dir: Path,
                                    tmp_path: Path) -> None:
    source = _saved(keras, lookup_dir, case, REFUSED[case])
    out = tmp_path / f"{case}.onnx"
    result = CliRunner().invoke(main, ["to-onnx", str(source), "-o", str(out)])
    assert result.exit_code in (1, 2), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: ") and str(source) in lines[0], result.output
    assert "Traceback" not in result.output
    layer = "vectorize" if case == "text_vectorization" else "lookup"
    assert layer in lines[0], result.output
    assert not out.exists()
