"""The core never imports TensorFlow, Keras, tf2onnx or onnxruntime: checked in a fresh
interpreter for ``import modeltool``, its CLI, and opening every non-SavedModel fixture kind."""

from __future__ import annotations

from tests.conftest import fixture_files, run_fresh


def _loaded_after(code: str) -> list[str]:
    return run_fresh(code)[1]


def test_import_and_cli_stay_light() -> None:
    assert _loaded_after("import modeltool, modeltool.cli") == []


def test_open_every_kind_stays_light() -> None:
    paths = []
    for kind in ("h5", "k2-weights", "k3-weights", "keras", "json", "yaml"):
        paths += [str(e["path"]) for e in fixture_files(kind=kind)][:3]
    code = ("import modeltool\n"
            f"for p in {paths!r}:\n"
            "    with modeltool.open(p) as a:\n"
            "        [w.shape for w in a.weights]\n")
    assert _loaded_after(code) == []


def test_summary_of_every_kind_stays_light() -> None:
    """``modeltool.summary`` (shape inference included) on every non-SavedModel kind."""
    paths = []
    for kind in ("h5", "k2-weights", "k3-weights", "keras", "json", "yaml"):
        paths += [str(e["path"]) for e in fixture_files(kind=kind)][:2]
    code = ("import modeltool\n"
            f"for p in {paths!r}:\n"
            "    print(len(modeltool.summary(p).rows))\n")
    lines, heavy = run_fresh(code)
    assert heavy == []
    assert len(lines) == len(paths)


def test_cli_help_stays_light() -> None:
    code = ("from click.testing import CliRunner\nfrom modeltool.cli import COMMANDS, main\n"
            "for c in [[], *([name] for name in COMMANDS)]:\n"
            "    CliRunner().invoke(main, [*c, '--help'])\n")
    assert _loaded_after(code) == []
