"""``freeze``: layer selection (NAME / GLOB / re:REGEX, nested paths, --until, --all-but-last,
--except, --unfreeze), param totals against the counts Keras recorded in the manifest, weight
bytes left alone, atomic output; live models through Keras (``tf``)."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from modeltool.errors import ModelToolError, OutputExistsError, UnsupportedError
from modeltool.ops.freeze import FreezeReport, freeze, match_pattern
from tests.conftest import fixture_files, fixture_path

NESTED = fixture_path("nested_vision", "k3.keras")
VISION = [f"vision_model/conv2d{s}" for s in ("", "_1", "_2", "_3", "_4", "_5", "_6")]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _frozen(report: FreezeReport) -> set[str]:
    return {r.path for r in report.rows if not r.trainable_after and r.params}


def _trainable_flags(path: Path) -> dict[str, bool]:
    """Each layer's own ``trainable`` in a .keras archive's config, nested paths included."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    flags: dict[str, bool] = {}

    def walk(model: dict[str, Any], prefix: str) -> None:
        for layer in model["config"]["layers"]:
            name = f"{prefix}{layer['config']['name']}"
            flags[name] = layer["config"].get("trainable", True)
            if "layers" in layer["config"]:
                walk(layer, f"{name}/")

    walk(config, "")
    return flags


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("dense", "dense", True), ("dense", "dense_1", False), ("dense*", "dense_1", True),
    ("*conv2d_1", "vision_model/conv2d_1", True), ("conv*", "vision_model/conv2d", False),
    ("re:dense(_\\d+)?", "dense_12", True), ("re:dense", "dense_1", False),
    ("vision_model/conv2d_[1-3]", "vision_model/conv2d_2", True)])
def test_match_pattern(pattern: str, path: str, hit: bool) -> None:
    assert match_pattern(pattern, path) is hit


@pytest.mark.parametrize("entry", [e for e in fixture_files() if e["kind"] in ("keras", "h5")],
                         ids=lambda e: Path(e["file"]).name)
def test_param_totals_match_keras(entry: dict[str, Any], tmp_path: Path) -> None:
    """Before freezing, totals computed from weight shapes equal what Keras counted; freezing
    every top-level layer moves all params to non-trainable."""
    report = freeze(entry["path"], all_but_last=0, output=tmp_path / Path(entry["file"]).name)
    assert (report.before.trainable, report.before.non_trainable) == (
        entry["trainable_params"], entry["non_trainable_params"])
    assert (report.after.trainable, report.after.non_trainable) == (0, entry["params"])


def test_layers_nested_model_freezes_everything_inside(tmp_path: Path) -> None:
    out = tmp_path / "out.keras"
    report = freeze(NESTED, layers=["vision_model"], output=out)
    assert _frozen(report) == {"vision_model", *VISION}
    flags = _trainable_flags(out)
    assert not flags["vision_model"] and not any(flags[p] for p in VISION)
    assert flags["lstm"] and flags["dense"]
    assert report.before.trainable - report.after.trainable == 6948


def test_unfreeze_inside_a_frozen_model_keeps_the_rest_frozen(tmp_path: Path) -> None:
    first = tmp_path / "frozen.keras"
    freeze(NESTED, layers=["vision_model"], output=first)
    out = tmp_path / "out.keras"
    report = freeze(first, unfreeze=["vision_model/conv2d_6"], output=out)
    flags = _trainable_flags(out)
    assert flags["vision_model"] and flags["vision_model/conv2d_6"]
    assert not any(flags[p] for p in VISION[:-1])
    assert report.unfrozen == ["vision_model", "vision_model/conv2d_6"]
    assert report.notes == [("vision_model set trainable so that vision_model/conv2d_6 can "
                             "train; its other layers stay frozen")]
    assert report.after.trainable == 26710 - 6948 + 2320


def test_except_keeps_a_layer_inside_the_selection_trainable(tmp_path: Path) -> None:
    report = freeze(NESTED, layers=["vision_model"], except_=["vision_model/conv2d_6"],
                    output=tmp_path / "out.keras")
    assert _frozen(report) == set(VISION[:-1])
    assert report.after.trainable == 26710 - 6948 + 2320


def test_until_stops_inside_a_nested_model(tmp_path: Path) -> None:
    report = freeze(NESTED, until="vision_model/conv2d_3", output=tmp_path / "out.keras")
    assert _frozen(report) == {"embedding", "lstm", *VISION[:4]}


def test_all_but_last_is_model_layers_minus_n(tmp_path: Path) -> None:
    report = freeze(fixture_path("batchnorm_cnn", "k3.keras"), all_but_last=2,
                    output=tmp_path / "out.keras")
    assert _frozen(report) == {"conv2d", "batch_normalization", "conv2d_1", "dense"}
    # batch_normalization_1 was already frozen in the file: no change, no row.
    assert "batch_normalization_1" not in {r.path for r in report.rows}


def test_batchnorm_layers_are_flagged(tmp_path: Path) -> None:
    report = freeze(fixture_path("batchnorm_cnn", "k3.keras"), layers=["re:batch_norm.*"],
                    output=tmp_path / "out.keras")
    assert report.batchnorm == ["batch_normalization", "batch_normalization_2"]
    assert all(r.batchnorm for r in report.rows)
    assert "frozen BatchNormalization runs in inference mode" in report.notes[0]


def test_keras_weights_member_is_copied_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "out.keras"
    before = _sha(NESTED)
    freeze(NESTED, layers=["lstm"], output=out)
    assert _sha(NESTED) == before
    with zipfile.ZipFile(NESTED) as a, zipfile.ZipFile(out) as b:
        assert a.namelist() == b.namelist()
        assert a.read("model.weights.h5") == b.read("model.weights.h5")
        assert a.read("metadata.json") == b.read("metadata.json")
        assert b.testzip() is None


@pytest.mark.parametrize("align_from", [0, None])
def test_big_members_keep_their_page_offset(align_from: int | None, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, keras: Any) -> None:
    """A big member is copied to the same offset modulo 4 KB as in the source (padding in its
    local header's extra field, so the kernel copies whole pages). The padded archive passes
    zipfile's and Info-ZIP's tests and Keras loads it with the original's weights.
    ``align_from=0`` pads the small fixture's member as it would a big one's."""
    from modeltool.formats import _zip

    if align_from is not None:
        monkeypatch.setattr(_zip, "ALIGN_FROM", align_from)
    out = tmp_path / "out.keras"
    freeze(NESTED, layers=["lstm"], output=out)
    offsets = []
    for path in (NESTED, out):
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            offsets.append(_zip.stored_data_offset(raw, archive.getinfo("model.weights.h5"),
                                                   path))
            assert archive.testzip() is None
    if align_from is not None:
        assert offsets[0] % 4096 == offsets[1] % 4096
    if shutil.which("unzip"):
        import subprocess

        check = subprocess.run(["unzip", "-tq", str(out)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    original = keras.models.load_model(NESTED, compile=False)
    frozen = keras.models.load_model(out, compile=False)
    assert [w.path for w in frozen.weights] == [w.path for w in original.weights]
    for a, b in zip(original.weights, frozen.weights):
        assert np.array_equal(np.asarray(a.numpy()), np.asarray(b.numpy())), a.path
    assert not frozen.get_layer("lstm").trainable


def _datasets(path: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: found.__setitem__(name, obj[()].tobytes())
                          if isinstance(obj, h5py.Dataset) else None)
    return found


@pytest.mark.parametrize("variant", ["k3.h5", "k2.h5"])
def test_h5_datasets_are_unchanged(variant: str, tmp_path: Path) -> None:
    source = fixture_path("nested_vision", variant)
    out = tmp_path / "out.h5"
    before = _sha(source)
    freeze(source, layers=["vision_model"], unfreeze=["vision_model/conv2d_6"], output=out)
    assert _sha(source) == before
    assert _datasets(out) == _datasets(source)


def test_h5_nested_weight_names_follow_the_new_trainable_order(tmp_path: Path) -> None:
    """Keras lists a nested model's trainable weights first in a legacy file: after freezing
    part of it, the unfrozen layer's weights come first (datasets untouched)."""
    out = tmp_path / "out.h5"
    freeze(fixture_path("nested_vision", "k3.h5"), layers=["vision_model"],
           unfreeze=["vision_model/conv2d_6"], output=out)
    with h5py.File(out, "r") as handle:
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in handle["model_weights/vision_model"].attrs["weight_names"]]
    assert [n.split("/")[-2] for n in names[:2]] == ["conv2d_6", "conv2d_6"]


def test_in_place_replaces_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    shutil.copyfile(NESTED, path)
    path.chmod(0o640)
    report = freeze(path, layers=["dense"], in_place=True)
    assert report.output == str(path) and report.in_place
    assert not _trainable_flags(path)["dense"]
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


@pytest.mark.parametrize(("options", "problem"), [
    ({"layers": ["nope"]}, "--layers 'nope' matched no layer"),
    ({"unfreeze": ["re:(("]}, "invalid regular expression"),
    ({"until": "re:.*conv2d.*"}, "--until 're:.*conv2d.*' matches 7 layers"),
    ({}, "nothing to freeze or unfreeze"),
])
def test_bad_selection_is_a_usage_error_and_writes_nothing(options: dict[str, Any],
                                                           problem: str, tmp_path: Path) -> None:
    with pytest.raises(ModelToolError) as info:
        freeze(NESTED, output=tmp_path / "out.keras", **options)
    assert problem in str(info.value) and info.value.exit_code == 2
    assert str(info.value).startswith(str(NESTED))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.keras"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        freeze(NESTED, layers=["dense"], output=out)
    assert out.read_bytes() == b"keep"


@pytest.mark.parametrize("variant", ["k3.weights.h5", "k2-weights.h5", "k3.json"])
def test_kinds_without_architecture_and_weights_are_refused(variant: str, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError):
        freeze(fixture_path("nested_vision", variant), layers=["dense"],
               output=tmp_path / "out")


@pytest.mark.tf
def test_live_model_flags_are_set_through_keras(keras: Any) -> None:
    model = keras.models.load_model(NESTED, compile=False)
    report = freeze(model, layers=["vision_model"], unfreeze=["vision_model/conv2d_6"])
    vision = model.get_layer("vision_model")
    assert vision.trainable
    assert [layer.name for layer in vision.layers if layer.trainable] == ["conv2d_6"]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert report.after.trainable == trainable == 26710 - 6948 + 2320
    assert report.before.trainable == 26710 and report.output is None
