"""``convert`` and ``to-onnx`` check against the library that wrote the source, so a migration
that changes the numbers is caught: with the hard_sigmoid rule switched off (the bug of issue
16), both refuse, exit 1 and leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import modeltool
from modeltool.cli import main
from modeltool.errors import VerificationError

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def hard_sigmoid_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tf_keras

    inp = tf_keras.layers.Input((4, 3))
    x = tf_keras.layers.GRU(4, recurrent_activation="hard_sigmoid", reset_after=False)(inp)
    model = tf_keras.Model(inp, tf_keras.layers.Dense(2, activation="hard_sigmoid")(x))
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 3, size=w.shape).astype("float32")
                       for w in model.get_weights()])
    path = tmp_path_factory.mktemp("src") / "gru.h5"
    model.save(path)
    return path


def _without_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from modeltool.formats.dialects import canonical

    monkeypatch.setattr(canonical, "keep_meaning", lambda *args: None)


def test_convert_catches_a_changed_activation(hard_sigmoid_h5: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    good = modeltool.convert(hard_sigmoid_h5, tmp_path / "good.keras")
    assert good.reference.startswith("tf_keras") and good.max_abs_diff is not None
    assert good.max_abs_diff <= 1e-5
    _without_the_rule(monkeypatch)
    out = tmp_path / "bad.keras"
    result = CliRunner().invoke(main, ["convert", str(hard_sigmoid_h5), "-o", str(out)])
    assert result.exit_code == 1
    assert "differs from tf_keras" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not out.exists()
    written = modeltool.convert(hard_sigmoid_h5, out, verify=False)  # the flag turns it off
    assert written.reference == "" and out.exists()


def test_to_onnx_catches_a_changed_activation(hard_sigmoid_h5: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _without_the_rule(monkeypatch)
    out = tmp_path / "bad.onnx"
    with pytest.raises(VerificationError):
        modeltool.to_onnx(hard_sigmoid_h5, out)
    assert not out.exists()
    report = modeltool.to_onnx(hard_sigmoid_h5, out, verify_source=False)
    assert report.source_reference == "Keras 3 only" and report.passed
