"""``modeltool to-onnx`` on files Keras saves and loads that used to be refused (issue 17):
weightless models, generic RNN(cell) wrappers, shared nested models, models whose validity
depends on input values or batch size, ``tf.squeeze`` without axes. Each model is saved with
Keras 3 as ``.keras`` and ``.h5``, converted through the CLI, and the ONNX file is run in
onnxruntime and compared with ``keras.models.load_model`` on the original file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.tf
EXTENSIONS = ("keras", "h5")


def _tf_lambda(fn: Callable[..., Any], shape: tuple[int, ...], name: str) -> Any:
    import keras

    return keras.layers.Lambda(fn, output_shape=shape, name=name)


def _builders() -> dict[str, Callable[[], Any]]:
    import keras

    def permute() -> Any:
        return keras.Sequential([keras.Input((3, 2)), keras.layers.Permute((2, 1))])

    def merges() -> Any:
        a, b = keras.Input((4, 6), name="a"), keras.Input((4, 6), name="b")
        x = keras.layers.Add()([a, b])
        x = keras.layers.Concatenate()([x, keras.layers.Multiply()([a, b])])
        x = keras.layers.ZeroPadding1D(1)(x)
        x = keras.layers.Cropping1D((1, 0))(x)
        x = keras.layers.UpSampling1D(2)(x)
        x = keras.layers.MaxPooling1D(2)(x)
        x = keras.layers.Activation("tanh")(x)
        y = keras.layers.Dot(axes=2)([x, x])
        return keras.Model([a, b], [keras.layers.GlobalAveragePooling1D()(x), y])

    def rnn_cell() -> Any:
        x = keras.Input((3, 5))
        return keras.Model(x, keras.layers.Dense(1)(keras.layers.RNN(keras.layers.LSTMCell(2))(x)))

    def stacked_cells() -> Any:
        x = keras.Input((4, 5))
        cells = keras.layers.StackedRNNCells([keras.layers.LSTMCell(3), keras.layers.GRUCell(2),
                                              keras.layers.SimpleRNNCell(4)])
        y = keras.layers.Bidirectional(keras.layers.RNN(keras.layers.GRUCell(2),
                                                        return_sequences=True))(x)
        return keras.Model(x, [keras.layers.RNN(cells)(x), y])

    def shared_nested() -> Any:
        inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)], name="inner")
        mid = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(4, name="mid_d")],
                               name="mid")
        return keras.Sequential([keras.Input((4,)), inner, mid])

    def autoencoder() -> Any:
        x = keras.Input((6,))
        encoder = keras.Model(x, keras.layers.Dense(3, name="code")(x), name="encoder")
        return keras.Model(x, keras.layers.Dense(6, name="decoded")(encoder(x)))

    def tf_slice() -> Any:  # begin 1 on the batch axis: Keras refuses batch 1
        x = keras.Input((5,))
        y = _tf_lambda(lambda t: __import__("tensorflow").slice(t, [1, 1], [1, 2]), (2,),
                       "slice")(x)
        return keras.Model(x, y)

    def floormod() -> Any:  # integer floormod by the input: zero divisors fail in TensorFlow
        x = keras.Input((5,), name="x")
        y = _tf_lambda(lambda t: __import__("tensorflow").math.floormod(
            __import__("tensorflow").constant(7, "int32"),
            __import__("tensorflow").cast(t, "int32")), (5,), "floormod")(x)
        return keras.Model(x, y)

    def einsum_batch2() -> Any:  # (b, 2) x (b, 2)^T contracted on b: valid at batch 2 only
        x = keras.Input((2,))
        y = _tf_lambda(lambda t: __import__("tensorflow").einsum("ij,jk->ik", t, t), (2,),
                       "einsum")(x)
        return keras.Model(x, y)

    def squeeze() -> Any:
        x = keras.Input((1, 5))
        y = keras.layers.Dense(3, name="head")(x)
        return keras.Model(x, _tf_lambda(lambda t: __import__("tensorflow").squeeze(t), (3,),
                                         "squeeze")(y))

    def fixed_batch() -> Any:
        x = keras.Input(batch_shape=(2, 4))
        return keras.Model(x, keras.layers.Dense(3)(x))

    return {f.__name__: f for f in (permute, merges, rnn_cell, stacked_cells, shared_nested,
                                    autoencoder, tf_slice, floormod, einsum_batch2, squeeze,
                                    fixed_batch)}


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every model saved with Keras as ``<name>.keras`` and ``<name>.h5``."""
    import keras

    keras.utils.set_random_seed(7)
    folder = tmp_path_factory.mktemp("issue17")
    paths = {}
    for name, build in _builders().items():
        model = build()
        for ext in EXTENSIONS:
            path = folder / f"{name}.{ext}"
            model.save(path)
            paths[f"{name}.{ext}"] = path
    return paths


def _run(*args: str) -> Any:
    from modeltool.cli import main

    return CliRunner().invoke(main, ["to-onnx", *args])


def _errors(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def _keras_vs_onnx(source: Path, onnx_path: Path, feeds: list[np.ndarray],
                   unsafe: bool = False) -> float:
    """Largest difference between Keras on the original file and onnxruntime on the export."""
    import keras
    import onnxruntime as ort

    model = keras.models.load_model(source, compile=False, safe_mode=not unsafe)
    want = model(feeds if len(feeds) > 1 else feeds[0])
    want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: f for i, f in zip(session.get_inputs(), feeds)})
    assert [g.shape for g in got] == [w.shape for w in want]
    return max(float(np.abs(g - w).max()) for g, w in zip(got, want))


def _feeds(session_inputs: list[tuple[tuple[int, ...], str]], seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(shape).astype(dtype) for shape, dtype in session_inputs]


CASES = [("permute", [((2, 3, 2), "float32")]),
         ("merges", [((2, 4, 6), "float32"), ((2, 4, 6), "float32")]),
         ("rnn_cell", [((2, 3, 5), "float32")]),
         ("stacked_cells", [((2, 4, 5), "float32")]),
         ("shared_nested", [((2, 4), "float32")]),
         ("autoencoder", [((2, 6), "float32")])]


@pytest.mark.parametrize("ext", EXTENSIONS)
@pytest.mark.parametrize(("name", "inputs"), CASES, ids=[c[0] for c in CASES])
def test_converts_like_keras(saved: dict[str, Path], tmp_path: Path, name: str,
                             inputs: list[Any], ext: str) -> None:
    source = saved[f"{name}.{ext}"]
    out = tmp_path / f"{name}.onnx"
    result = _run(str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert _keras_vs_onnx(source, out, _feeds(inputs)) < 1e-5
    from modeltool.cli import main

    for command in ("summary", "weights", "check"):  # the same readers
        assert CliRunner().invoke(main, [command, str(source)]).exit_code == 0, command


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_weightless_models_convert_and_summarize(saved: dict[str, Path], tmp_path: Path,
                                                 ext: str) -> None:
    import keras

    from modeltool.cli import main

    source = saved[f"merges.{ext}"]
    other = "h5" if ext == "keras" else "keras"
    out = tmp_path / f"merges.{other}"
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    feeds = _feeds(CASES[1][1])
    want = keras.models.load_model(source, compile=False)(feeds)
    got = keras.models.load_model(out, compile=False)(feeds)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(want, got))
    for command in ("summary", "weights", "check"):
        assert CliRunner().invoke(main, [command, str(source)]).exit_code == 0


def test_rnn_cell_weights_travel_through_every_kind(saved: dict[str, Path],
                                                    tmp_path: Path) -> None:
    import keras

    from modeltool.cli import main

    source = saved["stacked_cells.keras"]
    model = keras.models.load_model(source, compile=False)
    feeds = _feeds([((2, 4, 5), "float32")])[0]
    want = [np.asarray(w) for w in model(feeds)]
    for kind, name in (("k3-weights", "w.weights.h5"), ("k2-weights", "w2.h5"),
                       ("h5", "full.h5"), ("keras", "again.keras")):
        out = tmp_path / name
        result = CliRunner().invoke(main, ["convert", str(source), "-o", str(out), "--to", kind])
        assert result.exit_code == 0, (kind, result.output)
        if kind in ("h5", "keras"):
            loaded = keras.models.load_model(out, compile=False)
        else:
            loaded = keras.models.clone_model(model)
            loaded.load_weights(out)
        got = [np.asarray(g) for g in loaded(feeds)]
        assert all(np.array_equal(g, w) for g, w in zip(got, want)), kind


def test_weightless_architecture_that_needs_weights_is_refused(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="needs_me")])
    arch = tmp_path / "arch.json"
    arch.write_text(model.to_json())
    result = _run(str(arch), "-o", str(tmp_path / "x.onnx"))
    assert result.exit_code == 2
    lines = _errors(result)
    assert len(lines) == 1 and "no weights" in lines[0] and "'needs_me'" in lines[0]


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_lambda_needs_the_explicit_flag(saved: dict[str, Path], tmp_path: Path,
                                        ext: str) -> None:
    result = _run(str(saved[f"tf_slice.{ext}"]), "-o", str(tmp_path / "x.onnx"))
    assert result.exit_code == 2 and len(_errors(result)) == 1, result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_batch_the_model_refuses_is_skipped(saved: dict[str, Path], tmp_path: Path,
                                            ext: str) -> None:
    source = saved[f"tf_slice.{ext}"]
    out = tmp_path / "slice.onnx"
    result = _run(str(source), "-o", str(out), "--unsafe-lambda", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {c["batch"] for c in data["verification"]["checks"]} == {3, 2}
    assert any("refused" in note and "batch 1" in note for note in data["notes"])
    assert _keras_vs_onnx(source, out, _feeds([((3, 5), "float32")]), unsafe=True) == 0.0


def test_batch_two_only(saved: dict[str, Path], tmp_path: Path) -> None:
    result = _run(str(saved["einsum_batch2.keras"]), "-o", str(tmp_path / "e.onnx"),
                  "--unsafe-lambda", "--json")
    assert result.exit_code == 0, result.output
    assert {c["batch"] for c in json.loads(result.stdout)["verification"]["checks"]} == {2}


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_values_the_model_refuses(saved: dict[str, Path], tmp_path: Path, ext: str) -> None:
    source = saved[f"floormod.{ext}"]
    out = tmp_path / "f.onnx"
    result = _run(str(source), "-o", str(out), "--unsafe-lambda")
    assert result.exit_code == 1, result.output
    lines = _errors(result)
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "cannot run the model on the verification inputs" in lines[0]
    assert "FloorMod" in lines[0] and "--input-range" in lines[0]
    assert not out.exists()

    result = _run(str(source), "-o", str(out), "--unsafe-lambda", "--keep-failed")
    assert result.exit_code == 1 and "kept at" in _errors(result)[0]
    assert out.is_file()
    out.unlink()

    result = _run(str(source), "-o", str(out), "--unsafe-lambda", "--input-range", "x=1,6")
    assert result.exit_code == 0, result.output
    feeds = [np.arange(1, 11, dtype="float32").reshape(2, 5)]
    assert _keras_vs_onnx(source, out, feeds, unsafe=True) == 0.0

    samples = tmp_path / "samples.npz"
    np.savez(samples, x=np.full((4, 5), 3.0, dtype="float32"))
    result = _run(str(source), "-o", str(out), "--unsafe-lambda", "--sample-inputs",
                  str(samples), "--force", "--json")
    assert result.exit_code == 0, result.output
    assert {c["batch"] for c in json.loads(result.stdout)["verification"]["checks"]} == {4}


def test_squeeze_output_passes_the_checker(saved: dict[str, Path], tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "s.onnx"
    result = _run(str(saved["squeeze.keras"]), "-o", str(out), "--unsafe-lambda")
    assert result.exit_code == 0, result.output
    onnx.checker.check_model(str(out), full_check=True)
    feeds = _feeds([((3, 1, 5), "float32")])
    assert _keras_vs_onnx(saved["squeeze.keras"], out, feeds, unsafe=True) < 1e-5


def test_fixed_batch_is_respected(saved: dict[str, Path], tmp_path: Path) -> None:
    source = saved["fixed_batch.keras"]
    result = _run(str(source), "-o", str(tmp_path / "b.onnx"), "--batch", "3")
    assert result.exit_code == 2 and "fixed batch size of 2" in _errors(result)[0]
    result = _run(str(source), "-o", str(tmp_path / "b.onnx"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {c["batch"] for c in data["verification"]["checks"]} == {2}
    assert data["inputs"][0]["shape"][0] == 2


def test_bad_sample_inputs_are_one_line(saved: dict[str, Path], tmp_path: Path) -> None:
    samples = tmp_path / "wrong.npz"
    np.savez(samples, other=np.zeros((2, 4), dtype="float32"),
             more=np.zeros((2, 4), dtype="float32"))
    result = _run(str(saved["permute.keras"]), "-o", str(tmp_path / "p.onnx"),
                  "--sample-inputs", str(samples))
    assert result.exit_code == 2 and len(_errors(result)) == 1
    assert "has no array for input" in _errors(result)[0]
    result = _run(str(saved["permute.keras"]), "-o", str(tmp_path / "p.onnx"),
                  "--input-range", "nope=0,1")
    assert result.exit_code == 2 and "names no input" in _errors(result)[0]


def test_vocabulary_assets_travel(tmp_path: Path) -> None:
    """A TextVectorization vocabulary lives in the archive's assets/: convert keeps it (the
    output predicts what the original does), summary/weights/check read the model, and
    to-onnx names the string op tf2onnx cannot convert in one line (exit 2)."""
    import keras

    from modeltool.cli import main

    vectorize = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(["the cat sat", "the dog ran far away"])
    text = keras.Input((1,), dtype="string")
    source = tmp_path / "text.keras"
    keras.Model(text, vectorize(text)).save(source)
    out = tmp_path / "again.keras"
    result = CliRunner().invoke(main, ["convert", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    sample = np.array([["the cat ran"], ["a dog sat far"]])
    want = np.asarray(keras.models.load_model(source)(sample))
    assert np.array_equal(np.asarray(keras.models.load_model(out)(sample)), want)
    assert len(np.unique(want)) > 2  # the vocabulary is there, not only out-of-vocabulary ids
    for command in ("summary", "weights", "check"):
        assert CliRunner().invoke(main, [command, str(source)]).exit_code == 0
    result = _run(str(source), "-o", str(tmp_path / "t.onnx"))
    assert result.exit_code == 2 and len(_errors(result)) == 1, result.output
    assert "text_vectorization" in _errors(result)[0]


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_multi_head_attention_weights(tmp_path: Path, ext: str) -> None:
    """MultiHeadAttention keeps its weights in inner EinsumDense layers (query_dense/vars...)."""
    import keras

    keras.utils.set_random_seed(3)
    x = keras.Input((6, 4))
    source = tmp_path / f"mha.{ext}"
    keras.Model(x, keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(x, x)).save(source)
    out = tmp_path / "mha.onnx"
    result = _run(str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert _keras_vs_onnx(source, out, _feeds([((2, 6, 4), "float32")])) < 1e-5
