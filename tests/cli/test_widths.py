"""Tables at 60, 80, 120 and 200 columns on real-world files with long names: golden text
(regenerate with MODELTOOL_UPDATE_GOLDEN=1) plus the rules a reader relies on, checked on the
text itself: no line wider than the terminal, every layer name whole, the columns that matter
kept, and a note naming what was left out."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import RenderableType

from modeltool import api
from modeltool.render.files import weights_table
from modeltool.render.summary import summary_table
from modeltool.render.table import ELLIPSIS, render_text
from tests.conftest import REALWORLD, ROOT

GOLDEN = ROOT / "tests" / "golden" / "widths"
UPDATE = os.environ.get("MODELTOOL_UPDATE_GOLDEN") == "1"
WIDTHS = (60, 80, 120, 200)

XCEPTION = "oarriaga__face_classification__fer2013_mini_XCEPTION.102-0.66.hdf5"
CATS = "Adeel-Intizar__Cats-VS-Dogs__model.json"
ACGAN = "malfaro2__dl4j-test-resources__params_discriminator_epoch_001.hdf5"


def _summary(name: str) -> tuple[Any, RenderableType]:
    report = api.summary(REALWORLD / name)
    report.path = f"realworld/{name}"
    return report, summary_table(report)


def _weights(name: str) -> tuple[Any, RenderableType]:
    report = api.weights(REALWORLD / name, stats=True)
    report.path = f"realworld/{name}"
    return report, weights_table(report)


CASES: dict[str, tuple[str, Callable[[str], tuple[Any, RenderableType]]]] = {
    "summary.xception": (XCEPTION, _summary),
    "summary.cats_vs_dogs": (CATS, _summary),
    "weights_stats.xception": (XCEPTION, _weights),
    "summary.acgan_weights_only": (ACGAN, _summary),
}

pytestmark = [pytest.mark.realworld,
              pytest.mark.skipif(not REALWORLD.is_dir(), reason="../shared/realworld absent")]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, width: int) -> None:
    name, build = CASES[case]
    _, renderable = build(name)
    text = render_text(renderable, width)
    golden = GOLDEN / f"{case}.{width}.txt"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"missing {golden}; run with MODELTOOL_UPDATE_GOLDEN=1"
    assert text.splitlines() == golden.read_text().splitlines()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", ["summary.xception", "summary.cats_vs_dogs"])
def test_summary_reads_well(case: str, width: int) -> None:
    name, build = CASES[case]
    report, renderable = build(name)
    lines = render_text(renderable, width).splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    header = next(i for i, line in enumerate(lines) if line.startswith("Layer"))
    for column in ("Layer", "Class", "Output shape", "Param #"):
        assert column in lines[header]
    # Every layer name appears whole, never broken over two lines or cut.
    words = {word for line in lines for word in line.split()}
    for row in report.rows:
        assert row.layer in words, row.layer
    shown = [c for c in ("Input shape", "Train", "Connected to", "MACs") if c in lines[header]]
    if len(shown) < 4:
        start = next(i for i, line in enumerate(lines) if line.startswith("(not shown:"))
        note = " ".join(lines[start:start + 2])
        assert all(c in note for c in ("Input shape", "Train", "Connected to", "MACs")
                   if c not in shown)
    else:  # only the optional Attributes column may give way then
        notes = [line for line in lines if line.startswith("(not shown:")]
        assert all(note.startswith("(not shown: Attributes;") for note in notes), notes


@pytest.mark.parametrize("width", WIDTHS)
def test_weights_names_stay_distinct(width: int) -> None:
    """``weights --stats`` on 80 tensors: no layer name cut; weight names, where shortened,
    keep their distinguishing end; numbers are never cut ("2,3…")."""
    report, renderable = _weights(XCEPTION)
    lines = render_text(renderable, width).splitlines()
    assert all(len(line) <= width for line in lines)
    words = {word for line in lines for word in line.split()}
    for layer in {row.path for row in report.rows}:
        assert layer in words, layer
    assert not any(ELLIPSIS in word and word[0].isdigit() for word in words)
