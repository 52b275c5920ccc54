"""safetensors and npz: every fixture's weights round-trip bit for bit, checked with the
libraries' own readers and with Keras."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import modeltool
from modeltool.errors import ModelToolError
from tests.conftest import fixture_files

WEIGHTED = [f for f in fixture_files() if f["kind"] in ("keras", "h5", "k3-weights", "k2-weights")]


@pytest.mark.parametrize("fixture", WEIGHTED, ids=[f["file"].split("/")[-1] for f in WEIGHTED])
def test_flat_files_round_trip_every_fixture(fixture, tmp_path):
    """The tensors safetensors' and numpy's own readers see are the source's, bit for bit,
    under the documented keys; modeltool reads them back in the same order and names."""
    st = modeltool.convert(fixture["path"], tmp_path / "w.safetensors").output
    npz = modeltool.convert(fixture["path"], tmp_path / "w.npz").output
    with modeltool.open(fixture["path"]) as source:
        expected = {e.key: e.read() for e in source.weights}
        order = [(e.layer, e.path, e.name, e.shape, e.dtype) for e in source.weights]
    loaded = load_file(st)
    with np.load(npz, allow_pickle=False) as archive:
        from_npz = {k: archive[k] for k in archive.files if k != "__metadata__"}
    for got in (loaded, from_npz):
        assert set(got) == set(expected)
        for key, array in expected.items():
            assert got[key].dtype == array.dtype and got[key].shape == array.shape, key
            assert got[key].tobytes() == np.ascontiguousarray(array).tobytes(), key
    for path in (st, npz):
        with modeltool.open(path) as flat:
            assert [(e.layer, e.path, e.name, e.shape, e.dtype) for e in flat.weights] == order


def test_safetensors_keys_are_keras_paths(tmp_path, keras):
    """Documented keys: ``<layer path>/<weight name>``, nested models included; the values are
    what Keras itself holds."""
    source = fixture_files(model="nested_vision", kind="keras")[0]["path"]
    out = modeltool.convert(source, tmp_path / "w.safetensors").output
    model = keras.models.load_model(source, compile=False)
    expected = {}
    for layer in model.layers:
        inner = layer.layers if isinstance(layer, keras.Model) else [layer]
        for sub in inner:
            prefix = f"{layer.name}/{sub.name}" if sub is not layer else layer.name
            for weight in sub.weights:
                name = weight.path.removeprefix(f"{sub.path}/")
                expected[f"{prefix}/{name}"] = np.asarray(weight.numpy())
    loaded = load_file(out)
    assert set(loaded) == set(expected)
    assert "vision_model/conv2d/kernel" in loaded
    for key, value in expected.items():
        assert loaded[key].tobytes() == value.tobytes(), key
    with modeltool.open(out) as flat:
        writer, classes = flat.writer_info, flat.layer_classes
    assert writer["source_kind"] == "keras" and classes["vision_model"] == "Sequential"


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_load_weights_from_flat_file_is_bit_identical_in_keras(suffix, tmp_path, keras):
    """.keras -> safetensors/npz -> load-weights --by-name into the architecture: Keras loads
    the result with exactly the original weights."""
    for model in ("nested_vision", "bidirectional_model", "batchnorm_cnn", "news_model"):
        source = fixture_files(model=model, kind="keras")[0]["path"]
        flat = modeltool.convert(source, tmp_path / f"{model}{suffix}").output
        out = tmp_path / f"{model}{suffix}.keras"
        report = modeltool.load_weights_by_name(source, flat, output=out)
        assert not report.failed
        original = keras.models.load_model(source, compile=False).get_weights()
        loaded = keras.models.load_model(out, compile=False).get_weights()
        assert len(original) == len(loaded)
        for a, b in zip(original, loaded):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), model


def test_cli_reads_flat_files(tmp_path, cli):
    from modeltool.cli import main

    source = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    result = cli.invoke(main, ["convert", str(source), "-o", str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    result = cli.invoke(main, ["weights", str(tmp_path / "w.npz"), "--json"])
    assert result.exit_code == 0, result.output
    assert [w["path"] for w in json.loads(result.output)["weights"]][:2] == ["dense", "dense"]


def test_bfloat16_survives_npz(tmp_path, keras):
    import ml_dtypes

    source = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    half = modeltool.convert(source, tmp_path / "b.keras", dtype="bfloat16", verify=False).output
    npz = modeltool.convert(half, tmp_path / "b.npz").output
    st = modeltool.convert(half, tmp_path / "b.safetensors").output
    expected = {w.path: np.asarray(w.numpy()) for w in
                keras.models.load_model(half, compile=False).weights}
    assert all(v.dtype == ml_dtypes.bfloat16 for v in expected.values())
    for path in (npz, st):
        with modeltool.open(path) as flat:
            got = {e.key: e.read() for e in flat.weights}
        assert {k: v.dtype for k, v in got.items()} == {k: v.dtype for k, v in expected.items()}
        assert all(got[k].tobytes() == expected[k].tobytes() for k in expected)


def test_pickled_npz_is_refused(tmp_path):
    bad = tmp_path / "evil.npz"
    np.savez(bad, x=np.array([object()], dtype=object))
    with pytest.raises(ModelToolError, match="pickle"):
        modeltool.open(bad)


def test_truncated_flat_files_are_one_line_errors(tmp_path, cli):
    from modeltool.cli import main

    source = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    for suffix in (".safetensors", ".npz"):
        good = Path(modeltool.convert(source, tmp_path / f"w{suffix}").output)
        cut = tmp_path / f"cut{suffix}"
        cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        result = cli.invoke(main, ["weights", str(cut), "--stats"])
        assert result.exit_code == 2, (suffix, result.output)
        assert "Traceback" not in result.output
    assert zipfile.is_zipfile(tmp_path / "w.npz")


def test_bfloat16_files_in_a_fresh_interpreter(tmp_path):
    """Without Keras loaded (nothing has taught numpy the name "bfloat16" yet), bfloat16
    weights in .keras, safetensors and npz list, diff and check."""
    import subprocess
    import sys

    source = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    half = tmp_path / "b.keras"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "modeltool", *args], capture_output=True,
                              text=True, timeout=120, check=False)

    assert cli("convert", str(source), "-o", str(half), "--dtype", "bfloat16",
               "--no-verify").returncode == 0
    for suffix in (".safetensors", ".npz"):
        flat = tmp_path / f"b{suffix}"
        assert cli("convert", str(half), "-o", str(flat)).returncode == 0
        listed = cli("weights", str(flat), "--stats")
        assert listed.returncode == 0, listed.stderr
        assert "bfloat16" in listed.stdout
        compared = cli("diff", str(half), str(flat))
        assert compared.returncode == 0, compared.stdout + compared.stderr
    assert cli("check", str(half)).returncode == 0


def test_foreign_safetensors_feeds_load_weights(tmp_path, keras):
    """A safetensors file written by another tool (plain keys, no modeltool metadata) loads by
    name into the matching layers."""
    from safetensors.numpy import save_file

    target = fixture_files(model="mnist_mlp_small", kind="keras")[0]["path"]
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((32, 10)).astype(np.float32)
    bias = rng.standard_normal(10).astype(np.float32)
    foreign = tmp_path / "head.safetensors"
    save_file({"dense_2/kernel": kernel, "dense_2/bias": bias}, foreign)
    with modeltool.open(foreign) as art:
        assert [(e.layer, e.path, e.name) for e in art.weights] == [
            ("dense_2", "dense_2", "kernel"), ("dense_2", "dense_2", "bias")]
    out = tmp_path / "out.keras"
    report = modeltool.load_weights_by_name(target, foreign, output=out)
    assert not report.failed
    model = keras.models.load_model(out, compile=False)
    got_kernel, got_bias = model.get_layer("dense_2").get_weights()
    assert got_kernel.tobytes() == kernel.tobytes() and got_bias.tobytes() == bias.tobytes()
