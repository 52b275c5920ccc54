"""``report``: the HTML page's contents (summary, graph data, weight statistics against the
weights Keras loads, check findings, migration log) and its command line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import modeltool
from modeltool.cli import main
from modeltool.ops.report import tensor_stats_streaming
from tests.conftest import fixture_path
from tests.render.svg_check import page_data


@pytest.mark.tf
def test_weight_statistics_match_the_weights_keras_loads(keras: Any, tmp_path: Path) -> None:
    path = fixture_path("vgg_like_cnn", "k3.keras")
    report = modeltool.report(path, tmp_path / "r.html")
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    by_key = {(t.path, t.name): t for t in report.tensors}
    checked = 0
    for layer in model.layers:
        for weight in layer.weights:
            values = np.asarray(weight.numpy(), dtype=np.float64).reshape(-1)
            stats = by_key[(layer.name, weight.name)]
            assert stats.min == pytest.approx(values.min())
            assert stats.max == pytest.approx(values.max())
            assert stats.mean == pytest.approx(values.mean(), abs=1e-9)
            assert stats.std == pytest.approx(values.std(), rel=1e-6, abs=1e-12)
            hi = values.max() if values.max() > values.min() else values.min() + 1
            assert stats.histogram == list(np.histogram(values, 24, (values.min(), hi))[0])
            checked += 1
    assert checked == len(report.tensors) == len(model.weights)


def test_statistics_are_computed_block_by_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read one row at a time, the report's statistics are those of the whole tensor."""
    import modeltool.formats.blocks as block_reader

    with modeltool.open(fixture_path("mnist_mlp", "k3.keras")) as artifact:
        entry = next(e for e in artifact.weights if e.size > 1000 and len(e.shape) == 2)
        whole = tensor_stats_streaming(entry)
        monkeypatch.setattr(block_reader, "BLOCK_BYTES", 997)  # a row per block
        sliced = tensor_stats_streaming(entry)
    assert sliced.histogram == whole.histogram
    assert sliced.mean == pytest.approx(whole.mean) and sliced.std == pytest.approx(whole.std)
    assert (sliced.min, sliced.max) == (whole.min, whole.max)


def test_page_holds_summary_graph_check_and_migration(tmp_path: Path) -> None:
    page = tmp_path / "news.html"
    report = modeltool.report(fixture_path("news_model", "k2.h5"), page)
    html = page.read_text()
    data = page_data(html)
    assert set(data["levels"]) == {""}
    assert len(data["levels"][""]["boxes"]) == len(report.graph.nodes) == 12
    assert data["weights"]["embedding"][0]["name"] == "embeddings"
    assert len(data["weights"]["embedding"][0]["hist"]) == 24
    for section in ('id="summary"', 'id="check"', 'id="migration"', 'id="weights"'):
        assert section in html
    assert "No problems" in html and "main_output" in html
    # Nothing is fetched: no URL other than in the CSP, no external script or style.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "default-src 'none'" in html


def test_keras1_file_lists_its_migration(tmp_path: Path, realworld: Path) -> None:
    src = realworld / "tsudalab__ChemTS__model.json"
    page = tmp_path / "k1.html"
    report = modeltool.report(src, page)
    assert report.migration_notes
    assert report.migration_notes[0] in page.read_text().replace("&#x27;", "'")


def test_weights_only_file(tmp_path: Path) -> None:
    page = tmp_path / "w.html"
    report = modeltool.report(fixture_path("news_model", "k3.weights.h5"), page)
    assert report.graph is None and len(report.tensors) > 0
    html = page.read_text()
    assert "no architecture" in html and 'class="hist"' in html


def test_nan_is_a_check_finding(tmp_path: Path) -> None:
    import shutil

    import h5py

    src = tmp_path / "nan.h5"
    shutil.copy(fixture_path("mnist_mlp_small", "k2.h5"), src)
    with h5py.File(src, "r+") as f:
        group = f["model_weights"]
        names = []
        group.visit(lambda n: names.append(n) if isinstance(group[n], h5py.Dataset) else None)
        data = group[names[0]]
        values = data[()]
        values.reshape(-1)[0] = np.nan
        data[...] = values
    report = modeltool.report(src, tmp_path / "nan.html")
    assert [p.kind for p in report.check.problems] == ["nan"]
    assert sum(t.nan for t in report.tensors) == 1
    assert "1 problem(s)" in (tmp_path / "nan.html").read_text()


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    src = str(fixture_path("siamese_lstm", "k3.keras"))
    result = CliRunner().invoke(main, ["report", src, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    again = CliRunner().invoke(main, ["report", src, "-o", str(out)])
    assert again.exit_code == 2 and str(out) in again.stderr
    missing = CliRunner().invoke(main, ["report", str(tmp_path / "nope.h5"), "-o",
                                        str(tmp_path / "x.html")])
    assert missing.exit_code == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "nope.h5" in missing.stderr and not (tmp_path / "x.html").exists()
